/**
 * Sign-in throttling, two layers:
 *
 * - per username (stored in login_throttle, so every collector process on the database sees
 *   the same count): USERNAME_MAX_FAILURES failures within USERNAME_WINDOW_MS lock the name,
 *   first for BASE_LOCK_MS, doubling with each further lock up to MAX_LOCK_MS. While locked,
 *   sign-in is refused without looking at the password. A success clears the count; locks are
 *   forgotten after a quiet LOCKOUT_MEMORY_MS. Names that do not exist are counted alike, so a
 *   lock does not reveal which names exist.
 * - per client address (in this process's memory): ADDRESS_MAX_FAILURES failures within
 *   ADDRESS_WINDOW_MS, whatever the usernames, and the address waits until the oldest falls
 *   out of the window. This slows one machine spraying many names.
 */
export const USERNAME_MAX_FAILURES = 5;
export const USERNAME_WINDOW_MS = 15 * 60_000;
export const BASE_LOCK_MS = 60_000;
export const MAX_LOCK_MS = 60 * 60_000;
export const LOCKOUT_MEMORY_MS = 24 * 60 * 60_000;
export const ADDRESS_MAX_FAILURES = 30;
export const ADDRESS_WINDOW_MS = 15 * 60_000;
const ADDRESS_TABLE_LIMIT = 10_000;

export interface ThrottleState {
  failures: number;
  windowStartedAt: number;
  lockedUntil: number | null;
  lockouts: number;
  lastFailureAt: number;
}

/** Milliseconds until `state` lets the name try again; 0 when it may try now. */
export function lockRemainingMs(state: ThrottleState | null, now: number): number {
  if (state === null || state.lockedUntil === null) return 0;
  return Math.max(0, state.lockedUntil - now);
}

/** The state after one more failed sign-in at `now`. */
export function afterFailure(state: ThrottleState | null, now: number): ThrottleState {
  const lockouts = state === null || now - state.lastFailureAt > LOCKOUT_MEMORY_MS ? 0 : state.lockouts;
  // A lock that has run out starts a fresh count; the next lock lasts twice as long.
  const inWindow = state !== null && state.lockedUntil === null && now - state.windowStartedAt < USERNAME_WINDOW_MS;
  const failures = inWindow ? state.failures + 1 : 1;
  const windowStartedAt = inWindow ? state.windowStartedAt : now;
  if (failures >= USERNAME_MAX_FAILURES) {
    const lockMs = Math.min(BASE_LOCK_MS * 2 ** lockouts, MAX_LOCK_MS);
    return { failures, windowStartedAt, lockedUntil: now + lockMs, lockouts: lockouts + 1, lastFailureAt: now };
  }
  return { failures, windowStartedAt, lockedUntil: null, lockouts, lastFailureAt: now };
}

/** Seconds for Retry-After (at least 1) and a sentence saying when. */
export function retryAfter(remainingMs: number, now: number): { seconds: number; message: string } {
  const seconds = Math.max(1, Math.ceil(remainingMs / 1000));
  const at = new Date(now + seconds * 1000).toISOString();
  return { seconds, message: `too many failed sign-ins; try again in ${describeSeconds(seconds)} (after ${at})` };
}

function describeSeconds(seconds: number): string {
  if (seconds < 90) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  const minutes = Math.ceil(seconds / 60);
  return `${minutes} minutes`;
}

/** Failed sign-ins per client address, in memory; bounded in size (the oldest address is forgotten first). */
export class AddressThrottle {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly maxFailures = ADDRESS_MAX_FAILURES,
    private readonly windowMs = ADDRESS_WINDOW_MS,
  ) {}

  /** Milliseconds until `address` may try again; 0 when it may now. */
  remainingMs(address: string, now: number): number {
    const times = this.recent(address, now);
    if (times.length < this.maxFailures) return 0;
    return times[times.length - this.maxFailures] + this.windowMs - now;
  }

  recordFailure(address: string, now: number): void {
    const times = this.recent(address, now);
    times.push(now);
    this.failures.delete(address);
    this.failures.set(address, times);
    if (this.failures.size > ADDRESS_TABLE_LIMIT) this.failures.delete(this.failures.keys().next().value as string);
  }

  private recent(address: string, now: number): number[] {
    const times = (this.failures.get(address) ?? []).filter((time) => now - time < this.windowMs);
    if (times.length === 0) this.failures.delete(address);
    return times;
  }
}
