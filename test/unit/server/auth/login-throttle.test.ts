import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AddressThrottle,
  afterFailure,
  BASE_LOCK_MS,
  lockRemainingMs,
  MAX_LOCK_MS,
  retryAfter,
  ThrottleState,
  USERNAME_MAX_FAILURES,
  USERNAME_WINDOW_MS,
} from '../../../../server/src/modules/auth/login-throttle';

function fail(times: number, start: ThrottleState | null, at: (i: number) => number): ThrottleState | null {
  let state = start;
  for (let i = 0; i < times; i++) state = afterFailure(state, at(i));
  return state;
}

test('five failures within the window lock the name for a minute; four do not', () => {
  const four = fail(USERNAME_MAX_FAILURES - 1, null, (i) => 1_000 + i * 1_000);
  assert.equal(lockRemainingMs(four, 5_000), 0);
  const five = afterFailure(four, 5_000);
  assert.equal(five.lockedUntil, 5_000 + BASE_LOCK_MS);
  assert.equal(lockRemainingMs(five, 5_000), BASE_LOCK_MS);
  assert.equal(lockRemainingMs(five, 5_000 + BASE_LOCK_MS), 0);
});

test('failures spread wider than the window start a new count', () => {
  const spread = fail(USERNAME_MAX_FAILURES, null, (i) => i * (USERNAME_WINDOW_MS / 2));
  assert.equal(spread?.lockedUntil, null);
});

test('each further lock lasts twice as long, up to an hour', () => {
  let state: ThrottleState | null = null;
  let now = 0;
  const locks: number[] = [];
  for (let round = 0; round < 9; round++) {
    state = fail(USERNAME_MAX_FAILURES, state, () => now);
    locks.push(lockRemainingMs(state, now));
    now = (state?.lockedUntil ?? now) + 1;
  }
  assert.deepEqual(locks.slice(0, 4), [BASE_LOCK_MS, 2 * BASE_LOCK_MS, 4 * BASE_LOCK_MS, 8 * BASE_LOCK_MS]);
  assert.equal(locks[8], MAX_LOCK_MS);
});

test('Retry-After is whole seconds, at least 1, and the message says when', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  assert.deepEqual(retryAfter(59_200, now), { seconds: 60, message: 'too many failed sign-ins; try again in 60 seconds (after 2026-01-01T00:01:00.000Z)' });
  assert.equal(retryAfter(10, now).seconds, 1);
  assert.match(retryAfter(600_000, now).message, /try again in 10 minutes/);
});

test('an address with too many failures waits until the oldest leaves the window; others are unaffected', () => {
  const sut = new AddressThrottle(3, 1_000);
  sut.recordFailure('10.0.0.1', 0);
  sut.recordFailure('10.0.0.1', 100);
  assert.equal(sut.remainingMs('10.0.0.1', 200), 0);
  sut.recordFailure('10.0.0.1', 200);
  assert.equal(sut.remainingMs('10.0.0.1', 300), 700);
  assert.equal(sut.remainingMs('10.0.0.2', 300), 0);
  assert.equal(sut.remainingMs('10.0.0.1', 999), 1);
  assert.equal(sut.remainingMs('10.0.0.1', 1_000), 0);
});
