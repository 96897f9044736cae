import { Module } from '@nestjs/common';
import { AgentsModule } from '../agents/agents.module';
import { CertificateGrpcController } from './certificate.grpc.controller';
import { CertificateRenewalService } from './certificate-renewal.service';

/** Client certificate renewal over mutual TLS (the trust material itself is PkiService, in the core). */
@Module({
  imports: [AgentsModule],
  providers: [CertificateRenewalService],
  controllers: [CertificateGrpcController],
})
export class PkiModule {}
