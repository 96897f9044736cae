import { BeforeApplicationShutdown, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { AsyncMutex } from '../../common/async-mutex';
import { DatabaseService } from '../../database/database.service';
import { JsonLogger } from '../../logging/json-logger';
import { PolicyService } from '../policy/policy.service';

/** setTimeout takes at most 2^31-1 ms (~24.8 days); a later end is reached in several hops. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** After a failed publication (database away), try again this much later. */
const RETRY_MS = 30_000;

/**
 * Ends approved exceptions on time: one timer for the next end of an approved exception, which
 * publishes a policy version without it and arms itself for the following one. It is re-armed
 * at start and after every approval or revocation, so nothing polls.
 *
 * Only ends need a version: an exception travels in the policy from its approval, with its
 * not_before, and agents (and the collector's rules) honour the start themselves.
 */
@Injectable()
export class UsbExceptionExpiryScheduler implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Re-arming reads the database; two at once could leave the earlier one's timer behind. */
  private readonly arming = new AsyncMutex();

  constructor(
    private readonly database: DatabaseService,
    private readonly policy: PolicyService,
    private readonly logger: JsonLogger,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    // Exceptions that ended while the collector was down leave the policy at once.
    await this.publishIfChanged(new Date());
    await this.rearm();
  }

  beforeApplicationShutdown(): void {
    this.stopped = true;
    this.clear();
  }

  /** Schedules the timer for the next end of an approved exception, if there is one. */
  rearm(now = new Date()): Promise<void> {
    return this.arming.run(async () => {
      if (this.stopped) return;
      const rows = await this.database.query<{ next: string | number | null }>(
        "SELECT MIN(not_after) AS next FROM usb_exceptions WHERE status = 'approved' AND not_after > ?",
        [now],
      );
      const next = rows[0]?.next;
      this.clear();
      if (next === null || next === undefined) return;
      this.schedule(Math.min(Math.max(Number(next) - Date.now(), 0), MAX_TIMER_MS));
    });
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => void this.fire(), delayMs);
    // The listeners keep the process alive; this timer alone must not.
    this.timer.unref();
  }

  private clear(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private async fire(): Promise<void> {
    this.timer = null;
    if (this.stopped) return;
    try {
      await this.publishIfChanged(new Date());
      await this.rearm();
    } catch (error) {
      this.logger.emitFields('warn', 'could not publish the policy for an ended USB exception; retrying', { error: String(error), retryInMs: RETRY_MS });
      if (!this.stopped) this.schedule(RETRY_MS);
    }
  }

  private async publishIfChanged(now: Date): Promise<void> {
    const before = this.policy.current().version;
    const published = await this.database.transaction((sql) => this.policy.publishWithin(sql, now, { onlyIfChanged: true }));
    this.policy.announce(published);
    if (published.version > before) this.logger.emitFields('info', 'policy published: a USB exception ended', { policyVersion: published.version });
  }
}
