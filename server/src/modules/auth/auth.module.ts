import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AdminAuthModule } from '../admin-auth/admin-auth.module';
import { ApiTokensController } from './api-tokens.controller';
import { ApiTokensService } from './api-tokens.service';
import { AuthController } from './auth.controller';
import { AuthGuard } from './auth.guard';
import { SessionsService } from './sessions.service';
import { UsersController } from './users.controller';
import { UsersService } from './users.service';

/** Users, sign-in sessions, API tokens, and the global guard that checks every REST route's roles. */
@Module({
  imports: [AdminAuthModule],
  providers: [UsersService, SessionsService, ApiTokensService, AuthGuard, { provide: APP_GUARD, useExisting: AuthGuard }],
  controllers: [AuthController, UsersController, ApiTokensController],
  // AuthGuard is exported for responses that stay open and re-check their caller (the violation stream).
  exports: [UsersService, SessionsService, ApiTokensService, AuthGuard],
})
export class AuthModule {}
