import { BeforeApplicationShutdown, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import type { Subscription } from 'rxjs';
import { BoundaryTimer } from '../../common/boundary-timer';
import { DatabaseService } from '../../database/database.service';
import { JsonLogger } from '../../logging/json-logger';
import type { WhitelistEntryRow } from '../policy/network-settings';
import { PolicyService } from '../policy/policy.service';
import { COLLECTOR_ACTOR, recordStep } from './whitelist-history';
import { entryRecord } from './whitelist.record';

/**
 * Ends whitelist entries on time, like UsbExceptionExpiryScheduler: one timer for the next
 * expires_at of an active entry; when it fires, the entries whose end has passed are marked
 * `expired` (each with a history step) and a policy version without them is published if the
 * newest one still carries them. Re-armed at start, after every change to an entry made here, and
 * on every new policy version (which is how changes made by other collector processes arrive).
 *
 * Agents drop an entry at its expires_at by themselves (the policy carries it), so the version
 * published here is for agents that reconnect and for the record, not what ends the access.
 */
@Injectable()
export class WhitelistExpiryScheduler implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private versions: Subscription | null = null;
  private readonly timer = new BoundaryTimer({
    nextBoundary: (now) => this.nextEnd(now),
    atBoundary: (now) => this.expireDue(now),
    failed: (error, retryInMs) =>
      this.logger.emitFields('warn', 'could not publish the policy for an expired whitelist entry; retrying', { error: String(error), retryInMs }),
  });

  constructor(
    private readonly database: DatabaseService,
    private readonly policy: PolicyService,
    private readonly logger: JsonLogger,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    // Entries that ended while the collector was down leave the policy at once.
    await this.expireDue(new Date());
    await this.rearm();
    // An entry added through another collector process sharing the database reaches this one as a
    // new policy version (PostgreSQL NOTIFY): the timer is re-armed for it too, so its end is
    // published even if the process that added it is gone by then.
    const current = this.policy.current().version;
    this.versions = this.policy.watch(current, this.policy.lineageId).subscribe(() => {
      this.rearm().catch((error: unknown) => this.logger.emitFields('warn', 'could not re-arm the whitelist expiry timer after a policy change', { error: String(error) }));
    });
  }

  beforeApplicationShutdown(): void {
    this.versions?.unsubscribe();
    this.timer.stop();
  }

  /** Schedules the timer for the next end of an active entry, if there is one. */
  rearm(now = new Date()): Promise<void> {
    return this.timer.rearm(now);
  }

  /** The next expires_at of an active entry; `now` when one is already due (the timer fired a moment early, or an entry was added with a past end). */
  private async nextEnd(now: Date): Promise<number | null> {
    const due = await this.database.query<{ count: string | number }>(
      "SELECT COUNT(*) AS count FROM whitelist_entries WHERE status = 'active' AND expires_at IS NOT NULL AND expires_at <= ?",
      [now],
    );
    if (Number(due[0]?.count ?? 0) > 0) return now.getTime();
    const rows = await this.database.query<{ next: string | number | null }>(
      "SELECT MIN(expires_at) AS next FROM whitelist_entries WHERE status = 'active' AND expires_at IS NOT NULL AND expires_at > ?",
      [now],
    );
    const next = rows[0]?.next;
    return next === null || next === undefined ? null : Number(next);
  }

  /**
   * Marks the due entries expired and publishes, in one transaction. Every collector process
   * sharing a database fires at the same boundary: the row lock (PostgreSQL) and the status
   * condition let one of them mark each entry, and onlyIfChanged lets one version be published.
   */
  async expireDue(now: Date): Promise<void> {
    const before = this.policy.current().version;
    const published = await this.database.transaction(async (sql) => {
      const due = await sql.query<WhitelistEntryRow>(
        `SELECT * FROM whitelist_entries WHERE status = 'active' AND expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at, id${sql.kind === 'postgres' ? ' FOR UPDATE' : ''}`,
        [now],
      );
      const expired: WhitelistEntryRow[] = [];
      for (const row of due) {
        const changed = await sql.run("UPDATE whitelist_entries SET status = 'expired', expired_at = ?, updated_at = ? WHERE id = ? AND status = 'active'", [
          row.expires_at,
          now,
          row.id,
        ]);
        if (changed > 0) expired.push(row);
      }
      const version = await this.policy.publishWithin(sql, now, { onlyIfChanged: true });
      for (const row of expired) {
        const after = await sql.query<WhitelistEntryRow>('SELECT * FROM whitelist_entries WHERE id = ?', [row.id]);
        await recordStep(
          sql,
          {
            kind: 'entry.expired',
            subjectId: row.id,
            actor: COLLECTOR_ACTOR,
            reason: `its expiry ${new Date(Number(row.expires_at)).toISOString()} passed`,
            before: entryRecord(row, new Date(Number(row.expires_at) - 1)),
            after: entryRecord(after[0], now),
            policyVersion: version.version,
          },
          now,
        );
      }
      return version;
    });
    this.policy.announce(published);
    if (published.version > before) this.logger.emitFields('info', 'policy published: a whitelist entry expired', { policyVersion: published.version });
  }
}
