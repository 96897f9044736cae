import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff, fullJitterDelayMs } from '../../../../agent/src/transport/backoff';

test('full jitter stays within [0, min(cap, base * 2^attempt)) and reaches the cap', () => {
  const ceilings = [250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000];
  for (let attempt = 0; attempt < ceilings.length; attempt++) {
    assert.equal(fullJitterDelayMs(attempt, 250, 30_000, () => 0), 0);
    const top = fullJitterDelayMs(attempt, 250, 30_000, () => 0.999999);
    assert.ok(top < ceilings[attempt] && top >= ceilings[attempt] - 1, `attempt ${attempt}: ${top}`);
  }
  assert.equal(fullJitterDelayMs(10_000, 250, 30_000, () => 0.5), 15_000, 'huge attempt counts do not overflow past the cap');
});

test('Backoff widens with each failure, draws random values within bounds, and resets', () => {
  const sut = new Backoff(250, 30_000);
  for (let i = 0; i < 200; i++) {
    const delay = sut.next();
    assert.ok(delay >= 0 && delay < Math.min(30_000, 250 * 2 ** i), `delay ${delay} at attempt ${i}`);
  }
  const fixed = new Backoff(100, 1_000, () => 0.5);
  assert.deepEqual([fixed.next(), fixed.next(), fixed.next(), fixed.next(), fixed.next()], [50, 100, 200, 400, 500]);
  fixed.reset();
  assert.equal(fixed.next(), 50);
});
