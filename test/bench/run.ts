import { join } from 'node:path';
import { REPO_ROOT } from '../support/processes';
import type { Benchmark } from './benchmark';
import { describeMachine } from './machine';
import { mergeReport, readReport, writeReport, type BenchmarkSection } from './report';
import { usbHotplugBenchmark } from './usb-hotplug/usb-hotplug.bench';
import { inspectBenchmark } from './inspect/inspect.bench';
import { transferBurstBenchmark } from './transfers/transfer-burst.bench';
import { ingestBenchmark } from './ingest/ingest.bench';
import { storageBenchmark } from './storage/storage.bench';
import { agentsBenchmark } from './agents/agents.bench';
import { agentFootprintBenchmark } from './agent-footprint/agent-footprint.bench';
import { matcherBenchmark } from './matcher/matcher.bench';
import { installCheckBenchmark } from './install-check/install-check.bench';

/** Every benchmark `npm run bench` knows, in the order a full run takes them. */
export const BENCHMARKS: readonly Benchmark[] = [usbHotplugBenchmark, inspectBenchmark, transferBurstBenchmark, agentFootprintBenchmark, ingestBenchmark, storageBenchmark, agentsBenchmark, matcherBenchmark, installCheckBenchmark];

/**
 * Picks the benchmarks named on the command line (all when none is named); an unknown name is an
 * error that lists the known ones.
 */
export function selectBenchmarks(names: readonly string[], known: readonly Benchmark[] = BENCHMARKS): Benchmark[] {
  if (names.length === 0) return [...known];
  const unknown = names.filter((n) => !known.some((b) => b.name === n));
  if (unknown.length > 0) throw new Error(`unknown benchmark ${unknown.map((n) => `"${n}"`).join(', ')}; known: ${known.map((b) => b.name).join(', ')}`);
  return known.filter((b) => names.includes(b.name));
}

/** Runs each benchmark in turn; a failure or a missing prerequisite becomes that benchmark's section. */
export async function runBenchmarks(benchmarks: readonly Benchmark[], outputDir: string, log: (m: string) => void): Promise<BenchmarkSection[]> {
  const sections: BenchmarkSection[] = [];
  for (const benchmark of benchmarks) {
    const started = Date.now();
    const machine = describeMachine();
    log(`== ${benchmark.name}: ${benchmark.title}`);
    let section: BenchmarkSection;
    try {
      const outcome = await benchmark.run({ outputDir, log: (m) => log(`[${benchmark.name}] ${m}`) });
      section = { name: benchmark.name, title: benchmark.title, machine, durationMs: Date.now() - started, ...outcome };
    } catch (error) {
      section = { name: benchmark.name, title: benchmark.title, machine, durationMs: Date.now() - started, status: 'failed', reason: (error as Error).stack ?? String(error) };
    }
    if (section.status === 'skipped') log(`== ${benchmark.name} NOT MEASURED: ${section.reason}`);
    else if (section.status === 'failed') log(`== ${benchmark.name} FAILED: ${section.reason}`);
    else log(`== ${benchmark.name} measured in ${Math.round(section.durationMs / 1000)} s`);
    sections.push(section);
  }
  return sections;
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('--list')) {
    console.log('usage: npm run bench [-- NAME...]   (no name: all)\nbenchmarks:');
    for (const b of BENCHMARKS) console.log(`  ${b.name}  ${b.title}`);
    return 0;
  }
  let selected: Benchmark[];
  try {
    selected = selectBenchmarks(argv.filter((a) => !a.startsWith('-')));
  } catch (error) {
    console.error((error as Error).message);
    return 2;
  }
  const outputDir = process.env.MAMORI_BENCH_OUTPUT ?? join(REPO_ROOT, 'bench-output');
  // Read the earlier report first: a broken one stops the run before minutes of measuring.
  const existing = readReport(outputDir);
  const sections = await runBenchmarks(selected, outputDir, (m) => console.log(m));
  writeReport(outputDir, mergeReport(existing, sections));
  console.log(`report: ${join(outputDir, 'report.md')} and report.json`);
  const failed = sections.filter((s) => s.status === 'failed').length;
  // Bench is not part of CI; but if someone runs it there, a missing prerequisite is a failure.
  const skippedInCi = process.env.CI === 'true' ? sections.filter((s) => s.status === 'skipped').length : 0;
  return failed + skippedInCi > 0 ? 1 : 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: Error) => {
      console.error(error.message);
      process.exit(1);
    },
  );
}
