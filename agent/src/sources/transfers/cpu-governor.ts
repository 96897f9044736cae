import { sleep } from '../../transport/backoff';

export interface CpuGovernorOptions {
  /** The most CPU the agent process may use, in percent of one core (100 = one full core). */
  limitPercent: number;
  /** The window the use is averaged over. */
  windowMs?: number;
  /** How long to wait before looking again while over the limit. */
  pollMs?: number;
  /** process.cpuUsage by default (user + system microseconds of the whole process, all threads). */
  cpuUsage?: () => NodeJS.CpuUsage;
  now?: () => number;
}

interface Sample {
  at: number;
  micros: number;
}

/**
 * Keeps the transfer inspections under a CPU limit. Before each file's inspection the queue asks
 * `admit`; while the whole agent process used more than the limit over the last window (measured
 * with process.cpuUsage, so hashing, inspection, file watching and event writing all count) it
 * waits. The limit is therefore met between files, averaged over the window: one large file is
 * inspected at full speed and the next waits until the average is back under the limit.
 */
export class CpuGovernor {
  private readonly samples: Sample[] = [];
  private readonly windowMs: number;
  private readonly pollMs: number;
  private readonly cpuUsage: () => NodeJS.CpuUsage;
  private readonly now: () => number;
  /** Milliseconds spent waiting for the limit, for status and the bench. */
  throttledMs = 0;

  constructor(private readonly options: CpuGovernorOptions) {
    this.windowMs = options.windowMs ?? 1_000;
    this.pollMs = options.pollMs ?? 50;
    this.cpuUsage = options.cpuUsage ?? (() => process.cpuUsage());
    this.now = options.now ?? (() => performance.now());
  }

  get limitPercent(): number {
    return this.options.limitPercent;
  }

  /** The process's CPU use over about the last window, in percent of one core; 0 until there are two samples. */
  usagePercent(): number {
    const usage = this.cpuUsage();
    const sample = { at: this.now(), micros: usage.user + usage.system };
    // Samples closer than 10 ms add nothing to the average and would only grow the list.
    const last = this.samples[this.samples.length - 1];
    if (last !== undefined && this.samples.length > 1 && sample.at - last.at < 10) this.samples[this.samples.length - 1] = sample;
    else this.samples.push(sample);
    // Keep one sample at least a window old as the baseline, and nothing older than that.
    while (this.samples.length > 2 && sample.at - this.samples[1]!.at >= this.windowMs) this.samples.shift();
    const base = this.samples[0]!;
    const elapsedMs = sample.at - base.at;
    if (elapsedMs < Math.min(100, this.windowMs)) return 0;
    return ((sample.micros - base.micros) / 1000 / elapsedMs) * 100;
  }

  /** Resolves when the process is under the limit (true), or when `signal` aborts (false). */
  async admit(signal?: AbortSignal): Promise<boolean> {
    const started = this.now();
    while (this.usagePercent() > this.options.limitPercent) {
      if (!(await sleep(this.pollMs, signal))) return false;
    }
    this.throttledMs += this.now() - started;
    return !signal?.aborted;
  }
}
