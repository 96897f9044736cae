import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AdminAuthGuard } from './admin-auth.guard';
import { AdminAuthService } from './admin-auth.service';

@Module({
  providers: [AdminAuthService, { provide: APP_GUARD, useClass: AdminAuthGuard }],
  exports: [AdminAuthService],
})
export class AdminAuthModule {}
