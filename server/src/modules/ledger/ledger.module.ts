import { Module } from '@nestjs/common';
import { LedgerController } from './ledger.controller';
import { LedgerPostureService } from './ledger-posture.service';
import { LedgerReconciler } from './ledger-reconciler';
import { LedgerSweeper } from './ledger-sweeper';
import { LedgerService } from './ledger.service';

/** The laptop ledger: every company machine, who holds it, whether its disks are encrypted, and the violations about them. */
@Module({
  providers: [LedgerReconciler, LedgerService, LedgerPostureService, LedgerSweeper],
  controllers: [LedgerController],
  exports: [LedgerPostureService, LedgerSweeper],
})
export class LedgerModule {}
