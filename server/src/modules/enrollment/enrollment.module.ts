import { Module } from '@nestjs/common';
import { EnrollmentTokensController } from './enrollment-tokens.controller';
import { EnrollmentGrpcController } from './enrollment.grpc.controller';
import { EnrollmentTokensService } from './enrollment-tokens.service';
import { EnrollmentService } from './enrollment.service';

@Module({
  providers: [EnrollmentTokensService, EnrollmentService],
  controllers: [EnrollmentTokensController, EnrollmentGrpcController],
  exports: [EnrollmentTokensService, EnrollmentService],
})
export class EnrollmentModule {}
