import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import type { CollectorConfig } from '../../config/collector-config';
import { COLLECTOR_CONFIG } from '../../config/collector-config.token';
import { DatabaseService } from '../../database/database.service';
import { JsonLogger } from '../../logging/json-logger';
import { ConditionChanges, LedgerReconciler } from './ledger-reconciler';

/**
 * Conditions that arise from time passing rather than from a report: an agent that went
 * silent, a loan that became overdue at midnight. Every MAMORI_LEDGER_SWEEP_SECONDS (and once
 * at start) the sweeper evaluates them; `sweep(now)` takes the clock as an argument so tests
 * can move time without waiting for it.
 */
@Injectable()
export class LedgerSweeper implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  private stopped = false;

  constructor(
    private readonly database: DatabaseService,
    private readonly reconciler: LedgerReconciler,
    private readonly logger: JsonLogger,
    @Inject(COLLECTOR_CONFIG) private readonly config: CollectorConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.schedule(0);
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
  }

  /** One evaluation of the time-driven conditions at `now`. */
  async sweep(now = new Date()): Promise<ConditionChanges> {
    const changes = await this.database.transaction((sql) => this.reconciler.evaluateAll(sql, now));
    if (changes.raised > 0 || changes.cleared > 0) this.logger.emitFields('info', 'ledger sweep', { ...changes });
    return changes;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      const run = this.sweep().catch((error) => this.logger.emitFields('warn', 'ledger sweep failed; trying again at the next interval', { error: String(error) }));
      this.running = run;
      void run.finally(() => {
        this.running = null;
        this.schedule(this.config.ledgerSweepSeconds * 1000);
      });
    }, delayMs);
    // The listeners keep the process alive; this timer alone must not.
    this.timer.unref();
  }
}
