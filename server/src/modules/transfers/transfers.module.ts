import { Module } from '@nestjs/common';
import { PolicyModule } from '../policy/policy.module';
import { ViolationsModule } from '../violations/violations.module';
import { TransferIngestService } from './transfer-ingest.service';
import { TransfersController } from './transfers.controller';
import { TransfersService } from './transfers.service';

/** The outbound file transfer log: stored by ingest (TransferIngestService), searched and exported over REST. */
@Module({
  imports: [PolicyModule, ViolationsModule],
  providers: [TransferIngestService, TransfersService],
  controllers: [TransfersController],
  exports: [TransferIngestService],
})
export class TransfersModule {}
