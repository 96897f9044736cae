import { Module } from '@nestjs/common';
import { AgentsModule } from '../agents/agents.module';
import { LedgerModule } from '../ledger/ledger.module';
import { NetworkModule } from '../network/network.module';
import { PolicyModule } from '../policy/policy.module';
import { TransfersModule } from '../transfers/transfers.module';
import { EventsController } from './events.controller';
import { EventsService } from './events.service';
import { IngestService } from './ingest.service';
import { TelemetryGrpcController } from './telemetry.grpc.controller';

@Module({
  imports: [AgentsModule, LedgerModule, NetworkModule, PolicyModule, TransfersModule],
  providers: [IngestService, EventsService],
  controllers: [EventsController, TelemetryGrpcController],
})
export class IngestModule {}
