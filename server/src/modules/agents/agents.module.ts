import { Module } from '@nestjs/common';
import { AgentAuthenticator } from './agent-authenticator';
import { AgentsController } from './agents.controller';
import { AgentsService } from './agents.service';
import { UninstallCodesService } from './uninstall-codes.service';
import { UninstallGrpcController } from './uninstall.grpc.controller';

@Module({
  providers: [AgentAuthenticator, AgentsService, UninstallCodesService],
  controllers: [AgentsController, UninstallGrpcController],
  exports: [AgentAuthenticator, AgentsService],
})
export class AgentsModule {}
