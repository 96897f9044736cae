import { compileWhitelist, type DestinationQuery } from '../../../agent/src/core/destinations/whitelist-matcher';
import { LinearWhitelist, makeWhitelistWorkload } from '../../support/whitelist-workload';
import { count, figure, type BenchContext, type BenchOutcome, type Benchmark, type Side } from '../benchmark';

/**
 * Destination whitelist matching (issue 6): the compiled matcher (suffix trie for names, prefix
 * tries for blocks) against a linear scan of the same normalized entries, on the same seeded
 * 10,000-entry whitelist and the same mixed queries (names and addresses, about half built to hit
 * an entry), in the same run. Every verdict the linear scan gives is checked against the matcher's.
 *
 * Env: MAMORI_BENCH_MATCHER_ROUNDS (default 7), MAMORI_BENCH_MATCHER_ENTRIES (default 10000),
 * MAMORI_BENCH_MATCHER_SEED (default 2026).
 */

const SIDES: Side[] = [
  { id: 'compiled', label: 'compileWhitelist + decide (tries)' },
  { id: 'linear', label: 'linear scan over the same normalized entries', baseline: true },
];
const QUERY_COUNT = 20_000;
/** The linear scan takes ~0.1-1 ms a decision at 10,000 entries: a sample keeps a round short. */
const LINEAR_SAMPLE = 1_000;
/** Passes over the queries per round for the compiled side, so a round lasts long enough to time. */
const COMPILED_PASSES = 10;

function positiveInteger(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a whole number above 0, got "${raw}"`);
  return value;
}

/**
 * Nanoseconds per call of `decide` over `queries`, `passes` times over: wall-clock, and CPU time
 * of this process (user + system), which on a shared, oversubscribed machine leaves out the time
 * the process waited for a core.
 */
function nsPerDecision(queries: readonly DestinationQuery[], passes: number, decide: (q: DestinationQuery) => { allowed: boolean }): { wall: number; cpu: number } {
  let allowed = 0;
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  for (let pass = 0; pass < passes; pass++) for (let i = 0; i < queries.length; i++) if (decide(queries[i]!).allowed) allowed++;
  const elapsed = Number(process.hrtime.bigint() - started);
  const cpu = process.cpuUsage(cpuBefore);
  // Using the count keeps the loop from being optimized away.
  if (allowed < 0) throw new Error('unreachable');
  const decisions = passes * queries.length;
  return { wall: elapsed / decisions, cpu: ((cpu.user + cpu.system) * 1000) / decisions };
}

export const matcherBenchmark: Benchmark = {
  name: 'matcher',
  title: 'Destination whitelist matcher: decisions per second at 10,000 entries against a linear scan',
  async run(context: BenchContext): Promise<BenchOutcome> {
    const rounds = positiveInteger('MAMORI_BENCH_MATCHER_ROUNDS', 7);
    const entryCount = positiveInteger('MAMORI_BENCH_MATCHER_ENTRIES', 10_000);
    const seed = positiveInteger('MAMORI_BENCH_MATCHER_SEED', 2026);
    const workload = makeWhitelistWorkload(seed, entryCount, QUERY_COUNT);
    const reference = new LinearWhitelist(workload.entries, workload.now);
    const warm = compileWhitelist(workload.entries, workload.now);
    const verdicts = workload.queries.map((q) => reference.decide(q));
    const agree = workload.queries.map((q, i) => {
      const got = warm.decide(q);
      return got.allowed === verdicts[i]!.allowed && got.entryId === verdicts[i]!.entryId;
    });
    const hits = workload.queries.filter((_, i) => verdicts[i]!.allowed);
    const misses = workload.queries.filter((_, i) => !verdicts[i]!.allowed);
    context.log(`${entryCount} entries (${warm.entryCount} compiled, ${warm.skipped.length} invalid, ${warm.expiredEntryIds.length} expired), ${workload.queries.length} queries: ${hits.length} allowed, ${misses.length} refused; ${agree.filter(Boolean).length} verdicts equal to the linear scan`);
    // Warm both sides' code paths before timing.
    nsPerDecision(workload.queries, 3, (q) => warm.decide(q));
    nsPerDecision(workload.queries.slice(0, 100), 1, (q) => reference.decide(q));
    const compileMs: Record<string, number[]> = { compiled: [], linear: [] };
    const all: Record<string, number[]> = { compiled: [], linear: [] };
    const allCpu: Record<string, number[]> = { compiled: [], linear: [] };
    const hit: Record<string, number[]> = { compiled: [], linear: [] };
    const miss: Record<string, number[]> = { compiled: [], linear: [] };
    const perSecond: Record<string, number[]> = { compiled: [], linear: [] };
    const perCpuSecond: Record<string, number[]> = { compiled: [], linear: [] };
    const linearHits = hits.slice(0, LINEAR_SAMPLE / 2);
    const linearMisses = misses.slice(0, LINEAR_SAMPLE / 2);
    const linearAll = workload.queries.slice(0, LINEAR_SAMPLE);
    for (let round = 0; round < rounds; round++) {
      let started = process.hrtime.bigint();
      const compiled = compileWhitelist(workload.entries, workload.now);
      compileMs.compiled!.push(Number(process.hrtime.bigint() - started) / 1e6);
      started = process.hrtime.bigint();
      const linear = new LinearWhitelist(workload.entries, workload.now);
      compileMs.linear!.push(Number(process.hrtime.bigint() - started) / 1e6);
      const decideCompiled = (q: DestinationQuery) => compiled.decide(q);
      const decideLinear = (q: DestinationQuery) => linear.decide(q);
      const sides = { compiled: nsPerDecision(workload.queries, COMPILED_PASSES, decideCompiled), linear: nsPerDecision(linearAll, 1, decideLinear) };
      for (const side of ['compiled', 'linear'] as const) {
        all[side]!.push(sides[side].wall);
        allCpu[side]!.push(sides[side].cpu);
        perSecond[side]!.push(1e9 / sides[side].wall);
        perCpuSecond[side]!.push(1e9 / sides[side].cpu);
      }
      hit.compiled!.push(nsPerDecision(hits, COMPILED_PASSES, decideCompiled).wall);
      hit.linear!.push(nsPerDecision(linearHits, 1, decideLinear).wall);
      miss.compiled!.push(nsPerDecision(misses, COMPILED_PASSES, decideCompiled).wall);
      miss.linear!.push(nsPerDecision(linearMisses, 1, decideLinear).wall);
      context.log(`round ${round + 1}/${rounds}: compiled ${sides.compiled.wall.toFixed(0)} ns/decision (${sides.compiled.cpu.toFixed(0)} ns CPU; compile ${compileMs.compiled!.at(-1)!.toFixed(0)} ms), linear ${(sides.linear.wall / 1000).toFixed(0)} µs/decision (${(sides.linear.cpu / 1000).toFixed(0)} µs CPU)`);
    }
    return {
      status: 'measured',
      sides: SIDES,
      figures: [
        figure(SIDES, 'decisions-per-second', `decisions per second, mixed queries, ${entryCount} entries`, 'decisions/s', perSecond),
        figure(SIDES, 'decisions-per-cpu-second', 'decisions per CPU second (user + system), mixed queries', 'decisions/s', perCpuSecond),
        figure(SIDES, 'decision-ns', 'time per decision, mixed queries', 'ns', all),
        figure(SIDES, 'decision-cpu-ns', 'CPU time per decision, mixed queries', 'ns', allCpu),
        figure(SIDES, 'decision-hit-ns', 'time per decision, allowed queries', 'ns', hit),
        figure(SIDES, 'decision-miss-ns', 'time per decision, refused queries', 'ns', miss),
        figure(SIDES, 'compile-ms', `compile (tries) vs prepare (validate and parse only) of ${entryCount} entries`, 'ms', compileMs),
      ],
      counts: [count(SIDES, 'verdicts-agree', 'verdicts (allowed and entry id) equal to the linear scan', { compiled: agree })],
      parameters: { entries: entryCount, compiledEntries: warm.entryCount, invalidEntries: warm.skipped.length, expiredEntries: warm.expiredEntryIds.length, queries: workload.queries.length, allowedQueries: hits.length, linearSample: LINEAR_SAMPLE, rounds, seed },
      notes: [
        'Entries: ~60 % host patterns (exact, *., .), ~30 % IPv4 blocks (/12 to single addresses), ~10 % IPv6 blocks; some with ports, protocol, zone, expiry; ~1 % invalid. Queries: half built to hit an entry (upper case, trailing dot, IPv4-mapped now and then), half random names and addresses.',
        'The linear side decides a sample of the queries (its cost per decision does not depend on which); its "compile" is only validating and parsing the entries, which the compiled side does too before building the tries.',
        'The machine is shared: read the ratios, not the absolutes. CPU-time figures leave out the time the process waited for a core; wall-clock figures include it.',
      ],
    };
  },
};
