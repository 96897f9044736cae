import { Module } from '@nestjs/common';
import { AgentsModule } from '../agents/agents.module';
import { PolicyModule } from '../policy/policy.module';
import { AgentZoneController } from './agent-zone.controller';
import { AgentZoneService } from './agent-zone.service';
import { DestinationIngestService } from './destination-ingest.service';
import { NetworkZonesController } from './network-zones.controller';
import { NetworkZonesService } from './network-zones.service';
import { WhitelistExpiryScheduler } from './whitelist-expiry.scheduler';
import { WhitelistRequestsController } from './whitelist-requests.controller';
import { WhitelistRequestsService } from './whitelist-requests.service';
import { WhitelistController } from './whitelist.controller';
import { WhitelistService } from './whitelist.service';

/** Network zones, the destination whitelist with its request workflow and expiry, and the network violations. */
@Module({
  imports: [PolicyModule, AgentsModule],
  providers: [NetworkZonesService, WhitelistService, WhitelistRequestsService, WhitelistExpiryScheduler, AgentZoneService, DestinationIngestService],
  // The requests controller first: its fixed /whitelist/requests routes must be matched before /whitelist/:id.
  controllers: [WhitelistRequestsController, WhitelistController, NetworkZonesController, AgentZoneController],
  exports: [AgentZoneService, DestinationIngestService],
})
export class NetworkModule {}
