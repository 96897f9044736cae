import { Module } from '@nestjs/common';
import { AgentsModule } from '../agents/agents.module';
import { CertificateGrpcController } from './certificate.grpc.controller';
import { CertificateRenewalService } from './certificate-renewal.service';
import { CaRotationService } from './ca-rotation.service';
import { CertificateAuthoritiesController } from './certificate-authorities.controller';

/** Client certificate renewal over mutual TLS and CA rotation (the trust material itself is PkiService, in the core). */
@Module({
  imports: [AgentsModule],
  providers: [CertificateRenewalService, CaRotationService],
  exports: [CaRotationService],
  controllers: [CertificateGrpcController, CertificateAuthoritiesController],
})
export class PkiModule {}
