import { Module } from '@nestjs/common';
import { AdminAuthService } from './admin-auth.service';

/** The administrator bearer token; AuthModule's guard accepts it as a Principal holding every role. */
@Module({
  providers: [AdminAuthService],
  exports: [AdminAuthService],
})
export class AdminAuthModule {}
