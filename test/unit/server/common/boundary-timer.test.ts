import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BoundaryTimer } from '../../../../server/src/common/boundary-timer';

/**
 * The expiry timers (USB exceptions, whitelist entries) over a fake store: one item that ends at
 * `end`. nextBoundary answers like the schedulers' queries (the next end strictly after `now`);
 * the work at a boundary handles what has ended by its `now`.
 */
function store(end: number) {
  let handled = false;
  return {
    get handled() {
      return handled;
    },
    nextBoundary: async (now: Date) => (handled || end <= now.getTime() ? null : end),
    atBoundary: async (now: Date) => {
      if (end <= now.getTime()) handled = true;
    },
  };
}

async function until(what: string, probe: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test('an item is handled at its end', async () => {
  const items = store(Date.now() + 50);
  const timer = new BoundaryTimer({ ...items, failed: (error) => assert.fail(String(error)) });
  await timer.rearm();
  await until('the end handled', () => items.handled, 2_000);
  timer.stop();
});

test('a timer that fires just before the end, whose work then runs past it, still handles the end', async () => {
  // The work sees a clock 5 ms short of the end (the timer fired early), and takes 20 ms, so the
  // re-arm happens after the end: the end must be scheduled again, not lost.
  const end = Date.now() + 50;
  let handled = false;
  let calls = 0;
  const timer = new BoundaryTimer({
    nextBoundary: async (now) => (handled || end <= now.getTime() ? null : end),
    atBoundary: async (now) => {
      calls++;
      if (calls === 1) {
        const early = new Date(end - 5);
        now.setTime(early.getTime());
        await new Promise((resolve) => setTimeout(resolve, 20));
        return;
      }
      if (end <= now.getTime()) handled = true;
    },
    failed: (error) => assert.fail(String(error)),
  });
  await timer.rearm();
  await until('the end handled after an early firing', () => handled, 2_000);
  assert.ok(calls >= 2, 'the timer fired again after the early firing');
  timer.stop();
});
