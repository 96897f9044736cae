import { Module } from '@nestjs/common';
import { AgentAuthenticator } from './agent-authenticator';
import { AgentsController } from './agents.controller';
import { AgentsService } from './agents.service';

@Module({
  providers: [AgentAuthenticator, AgentsService],
  controllers: [AgentsController],
  exports: [AgentAuthenticator, AgentsService],
})
export class AgentsModule {}
