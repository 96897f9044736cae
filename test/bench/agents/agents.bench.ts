import { readFileSync } from 'node:fs';
import { count as countOf, figure, type BenchContext, type BenchOutcome, type Benchmark, type Count, type Side } from '../benchmark';
import { quantile, round } from '../stats';
import { enrollFleet, positiveIntegerEnv, rssBytes, startBenchCollector } from '../loadgen/bench-support';
import type { ConnectReport } from '../loadgen/fleet';
import { ForkedFleet } from '../loadgen/forked-fleet';
import { readTreeFootprint } from '../agent-footprint/process-footprint';

/**
 * Connected agents: how many simulated agents one collector process holds (each with its own
 * mTLS connection, a WatchPolicy stream open and heartbeats on a schedule), the collector's RSS
 * per agent, and the time from a policy change (PUT /api/v1/policy/usb) until the last agent
 * holds the new version (p50/p99 over agents). At 1,000 agents (the subject) and 10,000, against
 * 100 agents (the baseline) in the same run. SQLite (the connection count does not touch the
 * database beyond heartbeats).
 *
 * The simulated agents run in load generator child processes (one per 2,500 agents, at most 4),
 * and connect in paced steps that slow down when handshakes fail (loadgen/connect-pacer.ts).
 *
 * Env: MAMORI_BENCH_AGENTS_COUNTS (default "100,1000,10000"; the first is the baseline, the second
 * the subject), MAMORI_BENCH_AGENTS_HOLD_SECONDS (default 30), MAMORI_BENCH_AGENTS_HEARTBEAT_SECONDS
 * (default 30: every agent heartbeats about once while held, twice as often as the collector's
 * default 60 s asks real agents to), MAMORI_BENCH_AGENTS_POLICY_CHANGES (default 3), MAMORI_BENCH_AGENTS_PROCESSES
 * (load generator processes; default one per 2,500 agents, at most 4),
 * MAMORI_BENCH_AGENTS_CONNECT_RATE / MAMORI_BENCH_AGENTS_CONNECT_MAX_RATE (agents started per
 * second over the whole fleet, first step / ceiling; default 100 / 400),
 * MAMORI_BENCH_AGENTS_CONNECT_SECONDS (no connect step begins later; default 600).
 */

/** Load generator processes for `agents`: the env's choice, else one per 2,500 agents, at most 4. */
export function loadGeneratorProcesses(agents: number, configured: string | undefined = process.env.MAMORI_BENCH_AGENTS_PROCESSES): number {
  if (configured !== undefined && configured.trim() !== '') {
    const n = Number(configured);
    if (!Number.isInteger(n) || n < 1) throw new Error(`MAMORI_BENCH_AGENTS_PROCESSES must be a whole number above 0, got "${configured}"`);
    return n;
  }
  return Math.min(4, Math.max(1, Math.ceil(agents / 2500)));
}

/** One line about a paced connect: steps per verdict, and the rates the pacers ended at. */
export function describeConnect(reports: readonly ConnectReport[]): string {
  const sum = (pick: (r: ConnectReport) => number) => reports.reduce((n, r) => n + pick(r), 0);
  const notStarted = sum((r) => r.notStarted);
  return `${reports.length} load generator process(es), ${sum((r) => r.steps)} steps (${sum((r) => r.verdicts.fast)} fast, ${sum((r) => r.verdicts.slow)} slow, ${sum((r) => r.verdicts.congested)} congested), last rate ${Math.round(sum((r) => r.finalRate))} agents/s over the fleet, starts done in ${round(Math.max(...reports.map((r) => r.seconds)))} s${notStarted > 0 ? `, ${notStarted} agents not started (connect time budget spent)` : ''}`;
}

/** The soft limit on open files of this process (the collector it starts inherits it). */
export function openFileLimit(limits = readFileSync('/proc/self/limits', 'utf8')): number | null {
  const match = /^Max open files\s+(\d+|unlimited)/m.exec(limits);
  if (!match) return null;
  return match[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(match[1]);
}

interface SizeResult {
  agents: number;
  rssPerAgent: number | null;
  rssBefore: number | null;
  rssAfter: number | null;
  streamsOpen: boolean[];
  heartbeats: boolean[];
  latencies: number[];
  missedPolicy: number;
  connectSeconds: number;
  enrollSeconds: number;
  connectDescription: string;
  streamErrorsWhileConnecting: number;
  loadGeneratorRss: number | null;
  /** Collector CPU while it held the fleet (streams and heartbeats only), in % of one core. */
  collectorCpuPercent: number | null;
}

async function measureSize(agents: number, context: BenchContext): Promise<SizeResult | { skipped: string }> {
  const holdSeconds = positiveIntegerEnv('MAMORI_BENCH_AGENTS_HOLD_SECONDS', 30);
  const heartbeatSeconds = positiveIntegerEnv('MAMORI_BENCH_AGENTS_HEARTBEAT_SECONDS', 30);
  const changes = positiveIntegerEnv('MAMORI_BENCH_AGENTS_POLICY_CHANGES', 3);
  const connectBudgetSeconds = positiveIntegerEnv('MAMORI_BENCH_AGENTS_CONNECT_SECONDS', 600);
  const started = await startBenchCollector('sqlite');
  if ('skipped' in started) return started;
  const { collector, cleanup } = started;
  try {
    const pid = collector.process.child.pid;
    const enrollStart = Date.now();
    const set = await enrollFleet(collector, agents, (m) => context.log(`${agents}: ${m}`));
    const enrollSeconds = (Date.now() - enrollStart) / 1000;
    // RSS with the agents enrolled but not connected: the growth from here is what connections cost.
    const rssBefore = rssBytes(pid);
    const processes = loadGeneratorProcesses(agents);
    const fleet = await ForkedFleet.start({
      address: collector.grpcAddress,
      caPem: set.caPem,
      identities: set.identities,
      heartbeatSeconds,
      watchPolicy: true,
      processes,
      pacing: { initialRate: positiveIntegerEnv('MAMORI_BENCH_AGENTS_CONNECT_RATE', 100), maxRate: positiveIntegerEnv('MAMORI_BENCH_AGENTS_CONNECT_MAX_RATE', 400) },
    });
    try {
      const connectStart = Date.now();
      const progress = setInterval(() => {
        const holding = fleet.policyHoldings().filter((h) => h.version > 0n).length;
        context.log(`${agents}: ${holding} agents hold a stream and the first policy after ${round((Date.now() - connectStart) / 1000)} s`);
      }, 5000);
      let reports: ConnectReport[];
      try {
        reports = await fleet.connect((worker, step) => {
          if (step.verdict === 'congested') context.log(`${agents}: load generator ${worker + 1} step ${step.index + 1} congested at ${round(step.rate)} agents/s: ${step.outcome.established}/${step.outcome.started} through, ${step.outcome.failures} stream failures`);
        }, connectBudgetSeconds * 1000);
        await fleet.waitForPolicies((holdings) => holdings.every((h) => h.version > 0n), 60_000 + agents * 20).catch(() => undefined);
      } finally {
        clearInterval(progress);
      }
      const connectSeconds = (Date.now() - connectStart) / 1000;
      const afterConnect = await fleet.snapshot();
      const connectDescription = describeConnect(reports);
      context.log(`${agents}: ${afterConnect.streamsOpen} streams open after ${round(connectSeconds)} s (${connectDescription}); holding for ${holdSeconds} s`);
      const cpuBefore = pid === undefined ? null : readTreeFootprint(pid).cpuSeconds;
      const holdStart = Date.now();
      await new Promise((r) => setTimeout(r, holdSeconds * 1000));
      const collectorCpuPercent = pid === undefined || cpuBefore === null ? null : (100 * (readTreeFootprint(pid).cpuSeconds - cpuBefore)) / ((Date.now() - holdStart) / 1000);
      const afterHold = await fleet.snapshot();
      const answered = afterHold.counters.heartbeatsAnswered - afterConnect.counters.heartbeatsAnswered;
      const failed = afterHold.counters.heartbeatsFailed - afterConnect.counters.heartbeatsFailed;
      const open = afterHold.streamsOpen;
      const rssAfter = rssBytes(pid);
      const loadGeneratorRss = fleet.processIds.map((p) => rssBytes(p)).reduce<number | null>((sum, r) => (sum === null || r === null ? null : sum + r), 0);
      const latencies: number[] = [];
      let missedPolicy = 0;
      for (let change = 0; change < changes; change++) {
        const before = fleet.policyHoldings().reduce((max, h) => (h.version > max ? h.version : max), 0n);
        const t0 = Date.now();
        await collector.rest.expect(200, 'PUT', '/api/v1/policy/usb', { unregisteredDeviceMode: change % 2 === 0 ? 'block' : 'audit' });
        await fleet.waitForPolicies((holdings) => holdings.every((h) => h.version > before), 60_000 + agents * 10).catch(() => undefined);
        const arrived: number[] = [];
        for (const h of fleet.policyHoldings()) {
          if (h.version > before) arrived.push(h.receivedAt - t0);
          else missedPolicy += 1;
        }
        latencies.push(...arrived);
        context.log(`${agents}: policy change ${change + 1}: ${arrived.length}/${agents} agents took it, the last after ${arrived.length ? Math.max(...arrived) : '–'} ms`);
        await new Promise((r) => setTimeout(r, 1000));
      }
      return {
        agents,
        rssBefore,
        rssAfter,
        rssPerAgent: rssBefore !== null && rssAfter !== null ? (rssAfter - rssBefore) / agents : null,
        streamsOpen: Array.from({ length: agents }, (_, i) => i < open),
        heartbeats: [...new Array<boolean>(answered).fill(true), ...new Array<boolean>(failed).fill(false)],
        latencies,
        missedPolicy,
        connectSeconds,
        enrollSeconds,
        connectDescription,
        streamErrorsWhileConnecting: afterConnect.counters.streamErrors,
        loadGeneratorRss,
        collectorCpuPercent,
      };
    } finally {
      await fleet.stop();
    }
  } finally {
    await cleanup();
  }
}

export const agentsBenchmark: Benchmark = {
  name: 'agents',
  title: 'Connected agents: streams and heartbeats one collector holds, RSS per agent, policy change to the last agent (p50/p99)',
  async run(context: BenchContext): Promise<BenchOutcome> {
    const counts = (process.env.MAMORI_BENCH_AGENTS_COUNTS ?? '100,1000,10000').split(',').map((s) => Number(s.trim()));
    if (counts.length < 2 || counts.some((n) => !Number.isInteger(n) || n <= 0)) throw new Error(`MAMORI_BENCH_AGENTS_COUNTS must list two or more whole numbers, got "${process.env.MAMORI_BENCH_AGENTS_COUNTS}"`);
    const sides: Side[] = counts.map((n, i) => ({ id: `n${n}`, label: `${n} agents`, baseline: i === 0 ? true : undefined }));
    // The subject is the first side that is not the baseline: 1,000 by default.
    const limit = openFileLimit();
    const notes: string[] = [`Open-file limit of the bench process (inherited by the collector): ${limit}.`];
    const results = new Map<string, SizeResult>();
    for (const n of counts) {
      // One socket per agent in the load generator and one in the collector (separate processes), plus files and slack.
      if (limit !== null && limit < n + 1000) {
        notes.push(`${n} agents not measured: the open-file limit ${limit} is below the ${n + 1000} a process needs (run under \`ulimit -n ${n * 2 + 1000}\`).`);
        continue;
      }
      context.log(`${n} agents`);
      try {
        const result = await measureSize(n, context);
        if ('skipped' in result) {
          notes.push(`${n} agents not measured: ${result.skipped}`);
          continue;
        }
        results.set(`n${n}`, result);
        const sorted = [...result.latencies].sort((a, b) => a - b);
        notes.push(
          `${n} agents: enrolled in ${round(result.enrollSeconds)} s; connected with ${result.connectDescription}, ${result.streamErrorsWhileConnecting} stream failures meanwhile; load generator RSS ${result.loadGeneratorRss === null ? '–' : `${round(result.loadGeneratorRss / 2 ** 20)} MiB`}; every agent held a stream and the first policy after ${round(result.connectSeconds)} s; collector RSS ${round((result.rssBefore ?? 0) / 2 ** 20)} MiB before connecting, ${round((result.rssAfter ?? 0) / 2 ** 20)} MiB holding them, collector CPU while holding ${result.collectorCpuPercent === null ? '–' : round(result.collectorCpuPercent)} % of one core; policy change to agent p50 ${sorted.length ? round(quantile(sorted, 0.5)) : '–'} ms, p99 ${sorted.length ? round(quantile(sorted, 0.99)) : '–'} ms, last ${sorted.length ? round(sorted[sorted.length - 1]!) : '–'} ms${result.missedPolicy ? `; ${result.missedPolicy} agent-changes never arrived within the wait` : ''}.`,
        );
      } catch (error) {
        notes.push(`${n} agents failed: ${(error as Error).message.split('\n')[0]}`);
      }
    }
    const per = <T>(f: (r: SizeResult) => T) => Object.fromEntries(sides.map((s) => [s.id, results.has(s.id) ? f(results.get(s.id)!) : undefined]));
    const p99 = (r: SizeResult) => (r.latencies.length ? [quantile([...r.latencies].sort((a, b) => a - b), 0.99)] : []);
    const counted: Count[] = [
      countOf(sides, 'streams-open', 'WatchPolicy streams open at the end of the hold', per((r) => r.streamsOpen)),
      countOf(sides, 'heartbeats-answered', 'heartbeats answered during the hold', per((r) => r.heartbeats)),
    ];
    return {
      status: 'measured',
      sides,
      figures: [
        figure(sides, 'rss-per-agent', 'collector RSS growth per connected agent', 'bytes', per((r) => (r.rssPerAgent === null ? [] : [r.rssPerAgent]))),
        figure(sides, 'policy-latency', 'policy change (PUT) to agent holding it, over agents and changes', 'ms', per((r) => r.latencies)),
        figure(sides, 'policy-latency-p99', 'policy change to agent, p99', 'ms', per(p99)),
        figure(sides, 'collector-cpu-hold', 'collector CPU while holding the fleet (streams and heartbeats)', '% of one core', per((r) => (r.collectorCpuPercent === null ? [] : [r.collectorCpuPercent]))),
        figure(sides, 'connect-seconds', 'time until every agent held a stream and the first policy', 's', per((r) => [r.connectSeconds])),
      ],
      counts: counted,
      parameters: {
        counts: counts.join(','),
        holdSeconds: positiveIntegerEnv('MAMORI_BENCH_AGENTS_HOLD_SECONDS', 30),
        heartbeatSeconds: positiveIntegerEnv('MAMORI_BENCH_AGENTS_HEARTBEAT_SECONDS', 30),
        policyChanges: positiveIntegerEnv('MAMORI_BENCH_AGENTS_POLICY_CHANGES', 3),
        connectRate: positiveIntegerEnv('MAMORI_BENCH_AGENTS_CONNECT_RATE', 100),
        connectMaxRate: positiveIntegerEnv('MAMORI_BENCH_AGENTS_CONNECT_MAX_RATE', 400),
        connectBudgetSeconds: positiveIntegerEnv('MAMORI_BENCH_AGENTS_CONNECT_SECONDS', 600),
        loadGeneratorProcesses: counts.map((n) => loadGeneratorProcesses(n)).join(','),
        database: 'sqlite',
      },
      notes: [
        ...notes,
        'The simulated agents run in load generator child processes on the same cores as the collector, each agent with its own TLS connection; the load generators\' own CPU limits how fast they connect and take policies.',
      ],
    };
  },
};
