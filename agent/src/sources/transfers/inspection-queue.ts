import type { CpuGovernor } from './cpu-governor';

/** One file's work: hash, inspect, record. It must not reject (it reports its own failures). */
export type InspectionJob = (signal: AbortSignal) => Promise<void>;

interface Queued {
  owner: AbortSignal;
  job: InspectionJob;
}

/**
 * The files waiting for inspection, shared by every watched root: first in, first out, at most
 * `maxQueued` waiting and `concurrency` running, each started only when the CPU governor admits
 * it. Bounded by construction: `push` refuses when full (the watchers then leave files pending,
 * see SettleTracker), so a burst never grows memory without limit. A job whose owner (the root's
 * watcher) stopped is dropped without running; a running one sees the owner's signal abort.
 */
export class InspectionQueue {
  private items: Array<Queued | undefined> = [];
  private head = 0;
  private running = 0;
  private pumping = false;
  private closed = false;
  private idleWaiters: Array<() => void> = [];
  /** Jobs finished since start, for status and the bench. */
  completed = 0;

  constructor(
    private readonly options: { concurrency: number; maxQueued: number; governor: CpuGovernor; onError?: (error: Error) => void },
  ) {}

  get queued(): number {
    return this.items.length - this.head;
  }

  get active(): number {
    return this.running;
  }

  /** Room for this many more jobs. */
  get free(): number {
    return Math.max(0, this.options.maxQueued - this.queued);
  }

  get concurrency(): number {
    return this.options.concurrency;
  }

  /** Queues a job; false when the queue is full or closed (nothing was queued). */
  push(owner: AbortSignal, job: InspectionJob): boolean {
    if (this.closed || this.queued >= this.options.maxQueued) return false;
    this.items.push({ owner, job });
    void this.pump();
    return true;
  }

  /** Resolves when nothing is queued or running (for tests and orderly stops). */
  idle(): Promise<void> {
    if (this.queued === 0 && this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Forgets the waiting jobs of owners that stopped (their room is needed by the others). */
  purge(): void {
    this.items = this.items.slice(this.head).filter((item) => item !== undefined && !item.owner.aborted);
    this.head = 0;
    this.settleIdle();
  }

  close(): void {
    this.closed = true;
    this.items = [];
    this.head = 0;
    this.settleIdle();
  }

  private take(): Queued | undefined {
    while (this.head < this.items.length) {
      const item = this.items[this.head];
      this.items[this.head] = undefined;
      this.head += 1;
      if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items = this.items.slice(this.head);
        this.head = 0;
      }
      if (item !== undefined && !item.owner.aborted) return item;
    }
    return undefined;
  }

  /** One pump at a time: it admits jobs while there is capacity and the governor agrees. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this.closed && this.running < this.options.concurrency && this.queued > 0) {
        if (!(await this.options.governor.admit())) break;
        const item = this.take();
        if (item === undefined) break;
        this.running += 1;
        void this.execute(item);
      }
    } finally {
      this.pumping = false;
      this.settleIdle();
    }
  }

  private async execute(item: Queued): Promise<void> {
    try {
      await item.job(item.owner);
    } catch (error) {
      this.options.onError?.(error as Error);
    } finally {
      this.running -= 1;
      this.completed += 1;
      if (this.queued > 0) void this.pump();
      this.settleIdle();
    }
  }

  private settleIdle(): void {
    if (this.queued > 0 || this.running > 0 || this.pumping) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
