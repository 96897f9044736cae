import type { EgressAttempt } from './egress-enforcer';
import { systemRefreshClock, type RefreshClock } from './dns-refresher';

/** One observed attempt before folding (attempts is always 1). */
export type ObservedAttempt = Omit<EgressAttempt, 'attempts'>;

interface Window {
  extra: number;
  firstExtraAt: Date | null;
  sample: ObservedAttempt | null;
  timer: { cancel(): void };
}

/**
 * Folds repeated attempts to the same destination by the same process (a client retrying in a
 * loop) so that one misconfigured program does not flood the outbox. The first attempt of a key is
 * reported at once (attempts 1), so a refusal shows up without delay; attempts that follow within
 * the window are counted and reported together when it ends (attempts n, firstSeenAt the first of
 * them), and a new window opens while they keep coming. The counts of all reports add up to the
 * real number of attempts.
 */
export class AttemptFolder {
  private readonly windows = new Map<string, Window>();
  private readonly clock: RefreshClock;

  constructor(
    private readonly emit: (attempt: EgressAttempt) => void,
    private readonly windowMs = 10_000,
    clock?: RefreshClock,
  ) {
    this.clock = clock ?? systemRefreshClock;
  }

  add(observed: ObservedAttempt): void {
    const key = [observed.decision, observed.ip, observed.port, observed.protocol, observed.processId, observed.processName, observed.userName].join('|');
    const open = this.windows.get(key);
    if (open !== undefined) {
      open.extra++;
      open.firstExtraAt ??= observed.firstSeenAt;
      open.sample ??= observed;
      return;
    }
    this.emit({ ...observed, attempts: 1 });
    this.open(key);
  }

  /** Reports what is counted and not yet reported (on close), and stops the timers. */
  flush(): void {
    for (const [key, window] of this.windows) {
      window.timer.cancel();
      this.report(window);
      this.windows.delete(key);
    }
  }

  private open(key: string): void {
    const window: Window = {
      extra: 0,
      firstExtraAt: null,
      sample: null,
      timer: this.clock.setTimer(() => {
        this.windows.delete(key);
        if (window.extra > 0) {
          this.report(window);
          this.open(key);
        }
      }, this.windowMs),
    };
    this.windows.set(key, window);
  }

  private report(window: Window): void {
    if (window.extra === 0 || window.sample === null) return;
    this.emit({ ...window.sample, attempts: window.extra, firstSeenAt: window.firstExtraAt ?? window.sample.firstSeenAt });
  }
}
