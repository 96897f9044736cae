import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectPacer, DEFAULT_PACING, judgeStep, shareOfPacing, validatePacing, type PacingOptions } from '../../bench/loadgen/connect-pacer';
import { Fleet, watchRetryDelayMs } from '../../bench/loadgen/fleet';
import { ForkedFleet, splitAgents, sumCounters } from '../../bench/loadgen/forked-fleet';
import type { AgentIdentity } from '../../bench/loadgen/identities';
import { describeConnect, loadGeneratorProcesses } from '../../bench/agents/agents.bench';

const PACING: PacingOptions = { initialRate: 100, minRate: 10, maxRate: 400, increase: 50, decreaseFactor: 0.5, stepMs: 1000, slowSettleMs: 2000, settleTimeoutMs: 15_000 };

test('a step is congested on any failure or any agent not through, slow when it settled late, else fast', () => {
  assert.equal(judgeStep({ started: 100, established: 100, failures: 0, settleMs: 300 }, PACING), 'fast');
  assert.equal(judgeStep({ started: 100, established: 100, failures: 0, settleMs: 2500 }, PACING), 'slow');
  assert.equal(judgeStep({ started: 100, established: 100, failures: 1, settleMs: 100 }, PACING), 'congested');
  assert.equal(judgeStep({ started: 100, established: 99, failures: 0, settleMs: 15_000 }, PACING), 'congested');
});

test('the rate grows by the increase after fast steps up to the ceiling, holds after slow ones, halves after congested ones down to the floor', () => {
  const pacer = new ConnectPacer(PACING);
  assert.equal(pacer.rate, 100);
  assert.equal(pacer.stepSize(10_000), 100);
  const fast = { started: 100, established: 100, failures: 0, settleMs: 100 };
  for (let i = 0; i < 10; i++) pacer.record(fast);
  assert.equal(pacer.rate, 400, 'capped at maxRate');
  assert.equal(pacer.record({ ...fast, settleMs: 5000 }), 'slow');
  assert.equal(pacer.rate, 400);
  assert.equal(pacer.record({ ...fast, failures: 3 }), 'congested');
  assert.equal(pacer.rate, 200);
  for (let i = 0; i < 10; i++) pacer.record({ ...fast, established: 0 });
  assert.equal(pacer.rate, 10, 'never below minRate');
  pacer.record(fast);
  assert.equal(pacer.rate, 60);
  assert.equal(pacer.history.length, 23);
  assert.deepEqual(pacer.history[11]!.verdict, 'congested');
});

test('a step starts rate × step length agents, at least one, never more than remain', () => {
  assert.equal(new ConnectPacer({ ...PACING, stepMs: 500 }).stepSize(1000), 50);
  assert.equal(new ConnectPacer({ ...PACING, initialRate: 1, minRate: 1, stepMs: 100 }).stepSize(1000), 1);
  assert.equal(new ConnectPacer(PACING).stepSize(7), 7);
  assert.equal(new ConnectPacer(PACING).stepSize(0), 0);
  // An initial rate outside the bounds starts at the nearest bound.
  assert.equal(new ConnectPacer({ ...PACING, initialRate: 1000 }).rate, 400);
});

test('pacing options are checked, naming the bad one', () => {
  assert.equal(validatePacing(DEFAULT_PACING), DEFAULT_PACING);
  assert.throws(() => validatePacing({ ...PACING, initialRate: 0 }), /initialRate/);
  assert.throws(() => validatePacing({ ...PACING, decreaseFactor: 1 }), /decreaseFactor/);
  assert.throws(() => validatePacing({ ...PACING, minRate: 500 }), /minRate 500 is above maxRate 400/);
  assert.throws(() => validatePacing({ ...PACING, increase: -1 }), /increase/);
});

test('a fleet-wide pacing divided among processes gives each a share of every rate, times unchanged', () => {
  const share = shareOfPacing(PACING, 4);
  assert.deepEqual(share, { ...PACING, initialRate: 25, minRate: 2.5, maxRate: 100, increase: 12.5 });
  assert.deepEqual(shareOfPacing(PACING, 1), PACING);
  assert.throws(() => shareOfPacing(PACING, 0), /workers/);
});

test('agents are split into contiguous shares, none empty, covering every agent once', () => {
  assert.deepEqual(splitAgents(10_000, 4), [
    [0, 2500],
    [2500, 5000],
    [5000, 7500],
    [7500, 10_000],
  ]);
  assert.deepEqual(splitAgents(10, 3), [
    [0, 3],
    [3, 6],
    [6, 10],
  ]);
  assert.deepEqual(splitAgents(2, 4), [
    [0, 1],
    [1, 2],
  ]);
});

test('counters of the workers add up, upload errors by name', () => {
  const zero = { eventsSent: 0, eventsStored: 0, duplicates: 0, uploadCalls: 0, uploadErrors: {}, heartbeatsAnswered: 0, heartbeatsFailed: 0, streamErrors: 0, streamsEstablished: 0 };
  const total = sumCounters([
    { ...zero, heartbeatsAnswered: 3, streamErrors: 1, uploadErrors: { UNAVAILABLE: 2 } },
    { ...zero, heartbeatsAnswered: 4, streamsEstablished: 5, uploadErrors: { UNAVAILABLE: 1, INTERNAL: 1 } },
  ]);
  assert.equal(total.heartbeatsAnswered, 7);
  assert.equal(total.streamErrors, 1);
  assert.equal(total.streamsEstablished, 5);
  assert.deepEqual(total.uploadErrors, { UNAVAILABLE: 3, INTERNAL: 1 });
});

test('a broken stream is re-opened after 1 s doubling to 30 s, jittered to half to all of it', () => {
  assert.equal(watchRetryDelayMs(1, () => 0.999_999), 1000);
  assert.equal(watchRetryDelayMs(1, () => 0), 500);
  assert.equal(watchRetryDelayMs(3, () => 0.999_999), 4000);
  assert.equal(watchRetryDelayMs(20, () => 0.999_999), 30_000);
});

test('load generator processes: one per 2,500 agents up to 4, unless the environment says otherwise', () => {
  assert.equal(loadGeneratorProcesses(100, undefined), 1);
  assert.equal(loadGeneratorProcesses(1000, undefined), 1);
  assert.equal(loadGeneratorProcesses(10_000, undefined), 4);
  assert.equal(loadGeneratorProcesses(100_000, undefined), 4);
  assert.equal(loadGeneratorProcesses(1000, '2'), 2);
  assert.throws(() => loadGeneratorProcesses(1000, '0'), /MAMORI_BENCH_AGENTS_PROCESSES/);
  const line = describeConnect([
    { seconds: 30, steps: 20, verdicts: { fast: 15, slow: 3, congested: 2 }, finalRate: 100, streamsOpen: 5000, notStarted: 0 },
    { seconds: 31.5, steps: 22, verdicts: { fast: 16, slow: 4, congested: 2 }, finalRate: 50, streamsOpen: 5000, notStarted: 0 },
  ]);
  assert.match(line, /2 load generator process\(es\), 42 steps \(31 fast, 7 slow, 4 congested\), last rate 150 agents\/s over the fleet, starts done in 31\.5 s$/);
  assert.match(describeConnect([{ seconds: 600, steps: 9, verdicts: { fast: 0, slow: 0, congested: 9 }, finalRate: 10, streamsOpen: 40, notStarted: 960 }]), /, 960 agents not started \(connect time budget spent\)$/);
});

function fakeIdentities(count: number): AgentIdentity[] {
  // Never used for TLS below: agents that are not started make no channel.
  return Array.from({ length: count }, (_, index) => ({ index, agentId: `agent-${index}`, certPem: '', privateKeyPem: '', hostname: `loadgen-${index}` }));
}

test('a paced connect starts every agent in growing steps (no streams: only the starts are paced)', async () => {
  const fleet = new Fleet({ address: '127.0.0.1:1', caPem: '', identities: fakeIdentities(30), rate: 0, batch: 1, concurrency: 1, heartbeatSeconds: 0, watchPolicy: false });
  const steps: number[] = [];
  try {
    const report = await fleet.connect({ initialRate: 20, minRate: 10, maxRate: 200, increase: 40, stepMs: 100 }, (step) => steps.push(step.outcome.started));
    assert.deepEqual(steps, [2, 6, 10, 12]);
    assert.equal(report.steps, 4);
    assert.deepEqual(report.verdicts, { fast: 4, slow: 0, congested: 0 });
    assert.equal(report.notStarted, 0);
  } finally {
    fleet.stop();
  }
});

test('no connect step begins once the time budget is spent; the agents left are counted as not started', async () => {
  const fleet = new Fleet({ address: '127.0.0.1:1', caPem: '', identities: fakeIdentities(30), rate: 0, batch: 1, concurrency: 1, heartbeatSeconds: 0, watchPolicy: false });
  try {
    const report = await fleet.connect({ initialRate: 20, minRate: 10, maxRate: 20, increase: 0, stepMs: 100 }, undefined, 250);
    // Steps of 2 agents, each at least 100 ms: at most three begin within 250 ms (fewer on a loaded machine).
    assert.ok(report.steps >= 1 && report.steps <= 3, `${report.steps} steps`);
    assert.equal(report.notStarted, 30 - 2 * report.steps);
  } finally {
    fleet.stop();
  }
});

test('a forked fleet starts its worker processes, answers snapshots with their counters added up, and stops them all', async (t) => {
  const fleet = await ForkedFleet.start({ address: '127.0.0.1:1', caPem: '', identities: fakeIdentities(5), heartbeatSeconds: 0, watchPolicy: false, processes: 2 });
  const pids = fleet.processIds;
  t.after(() => {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone: what the test wants
      }
    }
  });
  assert.equal(pids.length, 2);
  assert.equal(fleet.size, 5);
  const snapshot = await fleet.snapshot();
  assert.equal(snapshot.streamsOpen, 0);
  assert.equal(snapshot.counters.heartbeatsAnswered, 0);
  const reports = await fleet.connect();
  assert.equal(reports.length, 2);
  assert.equal(reports.reduce((n, r) => n + r.steps, 0), 2, 'each worker starts its share (2 and 3 agents) in one step');
  assert.deepEqual(
    fleet.policyHoldings().map((h) => h.version),
    [0n, 0n, 0n, 0n, 0n],
  );
  await fleet.stop();
  for (const pid of pids) assert.throws(() => process.kill(pid, 0), /ESRCH/, `worker ${pid} still runs`);
});
