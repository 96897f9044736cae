import { AsyncMutex } from './async-mutex';

/** setTimeout takes at most 2^31-1 ms (~24.8 days); a later boundary is reached in several hops. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** After failed work at a boundary (database away), try again this much later. */
const DEFAULT_RETRY_MS = 30_000;

export interface BoundaryTimerOptions {
  /**
   * The next boundary, in epoch milliseconds, as the database says now: a time at or before `now`
   * when something is already due, null when nothing is waiting.
   */
  nextBoundary(now: Date): Promise<number | null>;
  /** The work at a boundary (mark what ended, publish a policy version); a throw is retried. */
  atBoundary(now: Date): Promise<void>;
  /** Told about a failed boundary before the retry is scheduled. */
  failed(error: unknown, retryInMs: number): void;
  retryMs?: number;
}

/**
 * One timer for the next time something ends (a whitelist entry, a USB exception): nothing polls.
 * After the work at a boundary it arms itself for the following one; `rearm` is called after every
 * change that may move the next boundary. Re-arming reads the database, so it runs one at a time
 * (two at once could leave the earlier one's timer behind). The timer does not keep the process alive.
 */
export class BoundaryTimer {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly arming = new AsyncMutex();

  constructor(private readonly options: BoundaryTimerOptions) {}

  rearm(now = new Date()): Promise<void> {
    return this.arming.run(async () => {
      if (this.stopped) return;
      const next = await this.options.nextBoundary(now);
      this.clear();
      if (next === null) return;
      this.schedule(Math.min(Math.max(next - Date.now(), 0), MAX_TIMER_MS));
    });
  }

  stop(): void {
    this.stopped = true;
    this.clear();
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => void this.fire(), delayMs);
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
      // Re-armed from the same instant the work saw: a timer that fires a moment before the
      // boundary (timers and the wall clock drift apart by a millisecond or so) finds nothing due
      // yet, and a re-arm asked "after now" once the work is done would already be past the
      // boundary and find nothing left either, leaving it never handled. From `at`, that boundary
      // is still ahead and is scheduled again at once.
      const at = new Date();
      await this.options.atBoundary(at);
      await this.rearm(at);
    } catch (error) {
      const retryMs = this.options.retryMs ?? DEFAULT_RETRY_MS;
      this.options.failed(error, retryMs);
      if (!this.stopped) this.schedule(retryMs);
    }
  }
}
