import { BeforeApplicationShutdown, Injectable, ServiceUnavailableException } from '@nestjs/common';
import { CursorPosition, encodeCursor } from '../../common/pagination-cursor';
import { DatabaseService } from '../../database/database.service';
import { JsonLogger } from '../../logging/json-logger';
import { LocatedViolation, ViolationsService } from './violations.service';

/** One violation as created or changed, with its stream cursor (its updated_at and id). */
export interface ViolationChange {
  cursor: string;
  position: CursorPosition;
  located: LocatedViolation;
}

export type ViolationChangeListener = (changes: ViolationChange[]) => void;

export interface FeedTiming {
  /** How often the poller looks for changes while anyone listens. */
  pollMs: number;
  /** How far back each look reaches (see the class comment for why). */
  lookBackMs: number;
  /** How often an open stream sends a `: keepalive` comment, so proxies and browsers keep an idle one open. */
  keepaliveMs: number;
}

export const DEFAULT_FEED_TIMING: FeedTiming = { pollMs: 250, lookBackMs: 10_000, keepaliveMs: 15_000 };
/** A resumed stream replays at most this many changes; beyond that the client is told to reload. */
export const RESUME_LIMIT = 1_000;

/**
 * The live feed of violation changes, shared by every open stream of this process.
 *
 * Why a poller over `updated_at` and not LISTEN/NOTIFY or an in-process event: five writers
 * create or change violations (ingest, the ledger's condition checks, destination and transfer
 * ingest, triage), on SQLite and PostgreSQL, and other collector processes on the same PostgreSQL
 * write too. All of them already stamp `updated_at` on every insert and update, so reading that
 * column (indexed by migration 1733800000000) sees every writer, in any process, without touching
 * any of them and without a trigger or NOTIFY on the ingest hot path. The poller runs only while
 * at least one stream is open (one query every `pollMs` per process, an index range scan returning
 * id and updated_at of the rows changed within `lookBackMs`), and stops with the last stream.
 *
 * Why a look-back window and a seen-map instead of "updated_at > last seen": `updated_at` is the
 * writer's clock when it began, not commit order. A transaction that waited for a lock commits
 * after a later-stamped one, and another collector's clock may lag; the window re-reads the last
 * `lookBackMs` each poll and `seen` (id -> updated_at last delivered) keeps each change delivered
 * once. Limits: a change committed more than `lookBackMs` after its stamp (or stamped by a clock
 * lagging more than that) is not delivered live, though the list shows it; two changes to the same
 * violation with the same millisecond stamp are delivered as one.
 */
@Injectable()
export class ViolationFeed implements BeforeApplicationShutdown {
  private readonly listeners = new Set<ViolationChangeListener>();
  private readonly closers = new Set<() => void>();
  private readonly seen = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private generation = 0;
  private primed: Promise<void> | null = null;
  private polling: Promise<void> | null = null;
  private shuttingDown = false;
  timing: FeedTiming = DEFAULT_FEED_TIMING;

  constructor(
    private readonly database: DatabaseService,
    private readonly violations: ViolationsService,
    private readonly logger: JsonLogger,
  ) {}

  /** How many listeners are registered (for tests: streams must not leak them). */
  get listenerCount(): number {
    return this.listeners.size;
  }

  /** Whether the poller is running (it must stop with the last listener). */
  get running(): boolean {
    return this.primed !== null;
  }

  /**
   * Registers `listener` for changes committed from now on; resolves once the poller knows what
   * "now" is (the rows changed within the look-back window are marked seen, not delivered).
   * Returns the function that unregisters it; the poller stops with the last one.
   */
  async subscribe(listener: ViolationChangeListener): Promise<() => void> {
    if (this.shuttingDown) throw new ServiceUnavailableException('the collector is shutting down; reconnect to another collector or later');
    this.listeners.add(listener);
    const unsubscribe = () => {
      if (!this.listeners.delete(listener)) return;
      if (this.listeners.size === 0) this.stop();
    };
    if (this.primed === null) this.start();
    try {
      await this.primed;
    } catch (error) {
      unsubscribe();
      throw error;
    }
    return unsubscribe;
  }

  /** Registers what ends an open stream at shutdown; returns the function that unregisters it. */
  track(close: () => void): () => void {
    this.closers.add(close);
    return () => this.closers.delete(close);
  }

  /** The changes after `position` in (updated_at, id) order, at most `limit`. */
  async changesAfter(position: CursorPosition, limit: number): Promise<ViolationChange[]> {
    const rows = await this.database.query<{ id: string; updated_at: string | number }>(
      'SELECT id, updated_at FROM violations WHERE updated_at > ? OR (updated_at = ? AND id > ?) ORDER BY updated_at, id LIMIT ?',
      [position.at, position.at, position.id, limit],
    );
    return this.changesOf(rows.map((row) => ({ id: row.id, at: Number(row.updated_at) })));
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.shuttingDown = true;
    for (const close of [...this.closers]) close();
    this.closers.clear();
    this.listeners.clear();
    this.stop();
    await this.polling?.catch(() => undefined);
  }

  private start(): void {
    const generation = ++this.generation;
    this.seen.clear();
    this.primed = this.poll(generation, false);
    // A failed priming is reported to the subscriber that waited for it; the next one retries.
    this.primed.then(
      () => this.schedule(generation),
      () => {
        if (this.generation === generation) this.stop();
      },
    );
  }

  private stop(): void {
    this.generation++;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.primed = null;
    this.seen.clear();
  }

  private schedule(generation: number): void {
    if (generation !== this.generation || this.listeners.size === 0) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      const run = this.poll(generation, true).catch((error) =>
        this.logger.emitFields('warn', 'violation feed: reading changes failed; trying again', { error: String(error) }),
      );
      this.polling = run;
      void run.finally(() => {
        if (this.polling === run) this.polling = null;
        this.schedule(generation);
      });
    }, this.timing.pollMs);
    this.timer.unref();
  }

  private async poll(generation: number, deliver: boolean): Promise<void> {
    const bound = Date.now() - this.timing.lookBackMs;
    const rows = await this.database.query<{ id: string; updated_at: string | number }>(
      'SELECT id, updated_at FROM violations WHERE updated_at >= ? ORDER BY updated_at, id',
      [bound],
    );
    if (generation !== this.generation) return;
    const fresh: Array<{ id: string; at: number }> = [];
    for (const row of rows) {
      const at = Number(row.updated_at);
      if (this.seen.get(row.id) === at) continue;
      this.seen.set(row.id, at);
      fresh.push({ id: row.id, at });
    }
    for (const [id, at] of this.seen) if (at < bound) this.seen.delete(id);
    if (!deliver || fresh.length === 0) return;
    const changes = await this.changesOf(fresh);
    if (generation !== this.generation) return;
    for (const change of changes) this.seen.set(change.position.id, change.position.at);
    if (changes.length === 0) return;
    for (const listener of [...this.listeners]) {
      try {
        listener(changes);
      } catch (error) {
        this.logger.emitFields('warn', 'violation feed: a stream failed to take changes', { error: String(error) });
      }
    }
  }

  /**
   * The changes at these positions, in the given order. The row is read after its id: it may
   * have changed again since, and is then sent with its newer stamp (the next poll sees that
   * stamp as delivered, so the newer change is not sent twice).
   */
  private async changesOf(positions: Array<{ id: string; at: number }>): Promise<ViolationChange[]> {
    const located = await this.violations.byIds(positions.map((position) => position.id));
    const changes: ViolationChange[] = [];
    for (const item of located) {
      const position = { at: item.violation.updatedAt.getTime(), id: item.violation.id };
      changes.push({ cursor: encodeCursor(position), position, located: item });
    }
    return changes.sort((a, b) => a.position.at - b.position.at || (a.position.id < b.position.id ? -1 : a.position.id > b.position.id ? 1 : 0));
  }
}
