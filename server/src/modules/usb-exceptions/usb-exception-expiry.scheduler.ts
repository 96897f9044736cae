import { BeforeApplicationShutdown, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { BoundaryTimer } from '../../common/boundary-timer';
import { DatabaseService } from '../../database/database.service';
import { JsonLogger } from '../../logging/json-logger';
import { PolicyService } from '../policy/policy.service';

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
  private readonly timer = new BoundaryTimer({
    nextBoundary: (now) => this.nextEnd(now),
    atBoundary: (now) => this.publishIfChanged(now),
    failed: (error, retryInMs) =>
      this.logger.emitFields('warn', 'could not publish the policy for an ended USB exception; retrying', { error: String(error), retryInMs }),
  });

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
    this.timer.stop();
  }

  /** Schedules the timer for the next end of an approved exception, if there is one. */
  rearm(now = new Date()): Promise<void> {
    return this.timer.rearm(now);
  }

  private async nextEnd(now: Date): Promise<number | null> {
    const rows = await this.database.query<{ next: string | number | null }>(
      "SELECT MIN(not_after) AS next FROM usb_exceptions WHERE status = 'approved' AND not_after > ?",
      [now],
    );
    const next = rows[0]?.next;
    return next === null || next === undefined ? null : Number(next);
  }

  private async publishIfChanged(now: Date): Promise<void> {
    const before = this.policy.current().version;
    const published = await this.database.transaction((sql) => this.policy.publishWithin(sql, now, { onlyIfChanged: true }));
    this.policy.announce(published);
    if (published.version > before) this.logger.emitFields('info', 'policy published: a USB exception ended', { policyVersion: published.version });
  }
}
