import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AttemptFolder, type ObservedAttempt } from '../../../../../agent/src/enforce/egress/attempt-folder';
import type { EgressAttempt } from '../../../../../agent/src/enforce/egress/egress-enforcer';
import { TransportProtocol } from '../../../../../agent/src/generated/mamori/v1/common';
import { ManualClock } from './support';

function observed(clock: ManualClock, over: Partial<ObservedAttempt> = {}): ObservedAttempt {
  return {
    ip: '192.0.2.9',
    port: 443,
    protocol: TransportProtocol.TRANSPORT_PROTOCOL_TCP,
    host: '',
    decision: 'blocked',
    processName: 'curl',
    processId: 42,
    userName: 'alice',
    firstSeenAt: new Date(clock.now()),
    sourceAddress: '10.0.0.5',
    ...over,
  };
}

test('the first attempt is reported at once; repeats within the window are counted and reported when it ends', () => {
  const clock = new ManualClock();
  const out: EgressAttempt[] = [];
  const folder = new AttemptFolder((a) => out.push(a), 10_000, clock);
  folder.add(observed(clock));
  assert.deepEqual(out.map((a) => a.attempts), [1]);
  clock.advance(1000);
  const secondAt = clock.now();
  folder.add(observed(clock));
  clock.advance(1000);
  folder.add(observed(clock));
  folder.add(observed(clock, { port: 444 }));
  assert.deepEqual(out.map((a) => [a.port, a.attempts]), [[443, 1], [444, 1]]);
  clock.advance(8000);
  assert.deepEqual(out.map((a) => [a.port, a.attempts]), [[443, 1], [444, 1], [443, 2]]);
  assert.equal(out[2].firstSeenAt.getTime(), secondAt);
  // Quiet for a window: the next attempt is reported at once again.
  clock.advance(20_000);
  folder.add(observed(clock));
  assert.equal(out.length, 4);
  assert.equal(out[3].attempts, 1);
});

test('a steady loop gives one report per window, and the counts add up', () => {
  const clock = new ManualClock();
  const out: EgressAttempt[] = [];
  const folder = new AttemptFolder((a) => out.push(a), 10_000, clock);
  for (let i = 0; i < 300; i++) {
    folder.add(observed(clock));
    clock.advance(100);
  }
  folder.flush();
  assert.equal(out.reduce((sum, a) => sum + a.attempts, 0), 300);
  assert.ok(out.length <= 5, `${out.length} reports for 30 s of attempts`);
});

test('different processes, users or decisions are not folded together; flush reports what is counted', () => {
  const clock = new ManualClock();
  const out: EgressAttempt[] = [];
  const folder = new AttemptFolder((a) => out.push(a), 10_000, clock);
  folder.add(observed(clock));
  folder.add(observed(clock, { processId: 43 }));
  folder.add(observed(clock, { userName: 'bob' }));
  folder.add(observed(clock, { decision: 'audited' }));
  folder.add(observed(clock));
  assert.equal(out.length, 4);
  folder.flush();
  assert.deepEqual(out.map((a) => a.attempts), [1, 1, 1, 1, 1]);
  assert.equal(clock.pending(), 0);
});
