/** How much one file's inspection may read and how long it may take. */
export interface InspectionBudget {
  /** Bytes of content the inspection reads at most (uncompressed bytes for zip and Office files). */
  maxBytes: number;
  /** Milliseconds the inspection may take at most. */
  maxMillis: number;
}

export const DEFAULT_INSPECTION_BUDGET: InspectionBudget = Object.freeze({ maxBytes: 16 * 1024 * 1024, maxMillis: 5000 });

/** Thrown inside an extractor when a budget runs out; the inspector turns it into a note, never an error. */
export class BudgetExhausted extends Error {
  constructor(readonly note: string) {
    super(note);
    this.name = 'BudgetExhausted';
  }
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${trim(bytes / 1024)} KiB`;
  if (bytes < 1024 * 1024 * 1024) return `${trim(bytes / 1024 / 1024)} MiB`;
  return `${trim(bytes / 1024 / 1024 / 1024)} GiB`;
}
const trim = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(1).replace(/\.0$/, ''));

/**
 * The budget of one inspection as it is spent: bytes taken for inspection and the deadline. Every
 * extractor asks `take(n)` before it inspects n bytes and `checkTime(where)` between pieces of work.
 */
export class BudgetMeter {
  private used = 0;
  private deadline: number;
  /** The total the inspection would have read without a budget, for the note (file size, sum of entries). */
  totalBytes: number;

  constructor(readonly budget: InspectionBudget, totalBytes: number, private readonly now: () => number = Date.now) {
    if (!(budget.maxBytes >= 0) || !(budget.maxMillis >= 0)) throw new Error(`an inspection budget needs bytes and milliseconds of 0 or more, got ${JSON.stringify(budget)}`);
    this.deadline = now() + budget.maxMillis;
    this.totalBytes = totalBytes;
  }

  get bytesUsed(): number {
    return this.used;
  }

  get bytesLeft(): number {
    return Math.max(0, this.budget.maxBytes - this.used);
  }

  /** Grants up to `wanted` bytes; throws BudgetExhausted when none are left. */
  take(wanted: number): number {
    const granted = Math.min(wanted, this.bytesLeft);
    if (granted <= 0 && wanted > 0) throw this.bytesExhausted();
    this.used += granted;
    return granted;
  }

  bytesExhausted(): BudgetExhausted {
    return new BudgetExhausted(`stopped after ${formatBytes(this.used)} of ${formatBytes(Math.max(this.totalBytes, this.used))} (byte budget)`);
  }

  get millisLeft(): number {
    return Math.max(0, this.deadline - this.now());
  }

  /** Starts the clock again: for inspection that begins after the file was hashed (large archives). */
  restartClock(): void {
    this.deadline = this.now() + this.budget.maxMillis;
  }

  checkTime(where: string): void {
    if (this.now() >= this.deadline) throw new BudgetExhausted(`time budget of ${this.budget.maxMillis} ms reached ${where}`);
  }
}
