import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CpuGovernor } from '../../../../agent/src/sources/transfers/cpu-governor';
import { InspectionQueue } from '../../../../agent/src/sources/transfers/inspection-queue';

const tick = () => new Promise((r) => setImmediate(r));

test('the governor measures the process CPU over its window and holds work while above the limit', async () => {
  let now = 0;
  let cpuMicros = 0;
  const sut = new CpuGovernor({ limitPercent: 25, windowMs: 1_000, pollMs: 1, now: () => now, cpuUsage: () => ({ user: cpuMicros, system: 0 }) });
  assert.equal(sut.usagePercent(), 0, 'no figure from one sample');
  now = 500;
  cpuMicros = 250_000; // 250 ms of CPU in 500 ms: 50 %
  assert.equal(Math.round(sut.usagePercent()), 50);
  let admitted = false;
  const waiting = sut.admit().then((ok) => (admitted = ok));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(admitted, false, 'held while the average is over 25 %');
  now = 2_000; // 1.5 s idle: the window's average drops under the limit
  await waiting;
  assert.equal(admitted, true);
  assert.ok(sut.throttledMs > 0, 'the wait is counted');
});

test('an aborted wait resolves false', async () => {
  const sut = new CpuGovernor({ limitPercent: 1, windowMs: 1_000, pollMs: 1, now: (() => { let t = 0; return () => (t += 200); })(), cpuUsage: (() => { let c = 0; return () => ({ user: (c += 1_000_000), system: 0 }); })() });
  assert.equal(sut.usagePercent(), 0);
  assert.ok(sut.usagePercent() > 100, 'a second of CPU every 200 ms');
  const abort = new AbortController();
  const waiting = sut.admit(abort.signal);
  abort.abort();
  assert.equal(await waiting, false);
});

test('the queue runs at most `concurrency` jobs, refuses beyond maxQueued, and runs in order', async () => {
  const governor = new CpuGovernor({ limitPercent: 10_000 });
  const sut = new InspectionQueue({ concurrency: 2, maxQueued: 3, governor });
  const owner = new AbortController().signal;
  let running = 0;
  let peak = 0;
  const order: number[] = [];
  const gates: Array<() => void> = [];
  const job = (n: number) => async () => {
    running += 1;
    peak = Math.max(peak, running);
    await new Promise<void>((r) => gates.push(r));
    order.push(n);
    running -= 1;
  };
  for (let i = 0; i < 2; i++) assert.equal(sut.push(owner, job(i)), true, `job ${i} taken`);
  await tick();
  await tick();
  for (let i = 2; i < 5; i++) assert.equal(sut.push(owner, job(i)), true, `job ${i} taken`);
  await tick();
  assert.equal(sut.active, 2);
  assert.equal(sut.queued, 3);
  assert.equal(sut.free, 0);
  assert.equal(sut.push(owner, job(99)), false, 'full: refused, nothing queued');
  while (order.length < 5) {
    gates.shift()?.();
    await tick();
    await tick();
  }
  await sut.idle();
  assert.deepEqual(order, [0, 1, 2, 3, 4]);
  assert.equal(peak, 2);
  assert.equal(sut.completed, 5);
});

test('jobs of an owner that stopped are dropped without running, and running ones see the abort', async () => {
  const sut = new InspectionQueue({ concurrency: 1, maxQueued: 10, governor: new CpuGovernor({ limitPercent: 10_000 }) });
  const owner = new AbortController();
  const ran: string[] = [];
  let sawAbort = false;
  sut.push(owner.signal, async (signal) => {
    ran.push('first');
    await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
    sawAbort = signal.aborted;
  });
  sut.push(owner.signal, async () => void ran.push('second'));
  await tick();
  owner.abort();
  sut.purge();
  await sut.idle();
  assert.deepEqual(ran, ['first']);
  assert.equal(sawAbort, true);
});

test('a job that throws does not stop the queue; the error is reported', async () => {
  const errors: string[] = [];
  const sut = new InspectionQueue({ concurrency: 1, maxQueued: 10, governor: new CpuGovernor({ limitPercent: 10_000 }), onError: (e) => errors.push(e.message) });
  const owner = new AbortController().signal;
  let after = false;
  sut.push(owner, async () => { throw new Error('boom'); });
  sut.push(owner, async () => void (after = true));
  await sut.idle();
  assert.deepEqual(errors, ['boom']);
  assert.equal(after, true);
});
