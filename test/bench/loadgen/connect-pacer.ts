/**
 * How fast a load generator opens its simulated agents' connections. Opening thousands of mTLS
 * connections at once from one machine overloads both ends: handshakes queue behind each other
 * on the event loops, the slow ones fail, and failed ones retry on top of the new ones until
 * almost nothing gets through. So agents are started in steps, each step waits until its agents
 * hold their streams before the next, and the rate adapts like TCP's congestion window
 * (additive increase, multiplicative decrease): it grows while steps settle quickly and without
 * failures, and halves when a step sees failures or does not settle in time.
 */
export interface PacingOptions {
  /** Agents started per second in the first step. */
  initialRate: number;
  /** The rate never falls below this (so a fleet always finishes connecting). */
  minRate: number;
  /** Nor rises above this. */
  maxRate: number;
  /** Added to the rate after a step that settled quickly without failures. */
  increase: number;
  /** The rate is multiplied by this after a step with failures or one that did not settle (0 < f < 1). */
  decreaseFactor: number;
  /** How long one step spends starting agents (its agents are spread evenly over it). */
  stepMs: number;
  /** A step that needed longer than this to settle (after its last start) is slow: the rate holds. */
  slowSettleMs: number;
  /** The longest a step waits for its agents; the rest keep trying in the background and count as not settled. */
  settleTimeoutMs: number;
}

export const DEFAULT_PACING: PacingOptions = {
  initialRate: 100,
  minRate: 10,
  maxRate: 400,
  increase: 50,
  decreaseFactor: 0.5,
  stepMs: 1000,
  slowSettleMs: 2000,
  settleTimeoutMs: 15_000,
};

/** What happened to the agents one step started. */
export interface StepOutcome {
  /** Agents the step started. */
  started: number;
  /** Of those, how many held their stream when the step stopped waiting. */
  established: number;
  /** Connection or stream failures seen during the step (any agent's, retries included). */
  failures: number;
  /** Time from the step's last start until it stopped waiting. */
  settleMs: number;
}

export type StepVerdict = 'fast' | 'slow' | 'congested';

/** Checks the options; throws naming the bad one. */
export function validatePacing(options: PacingOptions): PacingOptions {
  const positive = ['initialRate', 'minRate', 'maxRate', 'stepMs', 'slowSettleMs', 'settleTimeoutMs'] as const;
  for (const name of positive) {
    if (!(Number.isFinite(options[name]) && options[name] > 0)) throw new Error(`pacing ${name} must be a number above 0, got ${options[name]}`);
  }
  if (!(Number.isFinite(options.increase) && options.increase >= 0)) throw new Error(`pacing increase must be 0 or more, got ${options.increase}`);
  if (!(options.decreaseFactor > 0 && options.decreaseFactor < 1)) throw new Error(`pacing decreaseFactor must be between 0 and 1, got ${options.decreaseFactor}`);
  if (options.minRate > options.maxRate) throw new Error(`pacing minRate ${options.minRate} is above maxRate ${options.maxRate}`);
  return options;
}

/** A step is congested when anything failed or not every agent got through; slow when it settled late. */
export function judgeStep(outcome: StepOutcome, options: Pick<PacingOptions, 'slowSettleMs'>): StepVerdict {
  if (outcome.failures > 0 || outcome.established < outcome.started) return 'congested';
  return outcome.settleMs > options.slowSettleMs ? 'slow' : 'fast';
}

/** Divides a fleet-wide pacing among `workers` processes that each pace their own share. */
export function shareOfPacing(options: PacingOptions, workers: number): PacingOptions {
  if (!(Number.isInteger(workers) && workers >= 1)) throw new Error(`workers must be a whole number of 1 or more, got ${workers}`);
  const share = (x: number) => x / workers;
  return { ...options, initialRate: share(options.initialRate), minRate: share(options.minRate), maxRate: share(options.maxRate), increase: share(options.increase) };
}

/** The adaptive rate; feed it each step's outcome, ask it how many agents the next step starts. */
export class ConnectPacer {
  private currentRate: number;
  readonly history: Array<{ rate: number; outcome: StepOutcome; verdict: StepVerdict }> = [];

  constructor(readonly options: PacingOptions = DEFAULT_PACING) {
    validatePacing(options);
    this.currentRate = Math.min(options.maxRate, Math.max(options.minRate, options.initialRate));
  }

  /** Agents started per second now. */
  get rate(): number {
    return this.currentRate;
  }

  /** Agents the next step starts (at least one), never more than `remaining`. */
  stepSize(remaining: number): number {
    return Math.max(0, Math.min(remaining, Math.max(1, Math.round((this.currentRate * this.options.stepMs) / 1000))));
  }

  /** Adjusts the rate after a step and says how the step was judged. */
  record(outcome: StepOutcome): StepVerdict {
    const verdict = judgeStep(outcome, this.options);
    this.history.push({ rate: this.currentRate, outcome, verdict });
    if (verdict === 'congested') this.currentRate = Math.max(this.options.minRate, this.currentRate * this.options.decreaseFactor);
    else if (verdict === 'fast') this.currentRate = Math.min(this.options.maxRate, this.currentRate + this.options.increase);
    return verdict;
  }
}
