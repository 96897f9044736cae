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
  providers: [UsersService, SessionsService, ApiTokensService, { provide: APP_GUARD, useClass: AuthGuard }],
  controllers: [AuthController, UsersController, ApiTokensController],
  exports: [UsersService, SessionsService, ApiTokensService],
})
export class AuthModule {}
