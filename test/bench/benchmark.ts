import type { Summary } from './stats';
import { ratio, summarize } from './stats';

/**
 * The contract between the bench runner (run.ts) and each benchmark. A benchmark measures its
 * subject and, in the same run, a baseline (another program doing the same job, or the raw
 * operation underneath): the machines are shared and noisy, so a figure is read as a ratio
 * against the baseline, never as an absolute pass/fail timing.
 */
export interface Benchmark {
  /** Kebab-case name given on the command line: `npm run bench -- <name>`. */
  readonly name: string;
  readonly title: string;
  /** Resolves with the figures, or with the reason the benchmark cannot run on this machine. */
  run(context: BenchContext): Promise<BenchOutcome>;
}

export interface BenchContext {
  /** bench-output/ of the repository: raw records may be written beside the report. */
  readonly outputDir: string;
  /** Progress for the console (a run takes minutes). */
  log(message: string): void;
}

/** One program measured by a benchmark; exactly one side of a benchmark is the baseline. */
export interface Side {
  id: string;
  label: string;
  baseline?: boolean;
}

/** One measured quantity, summarized per side (null on a side that does not have it). */
export interface Figure {
  id: string;
  label: string;
  unit: string;
  values: Record<string, Summary | null>;
  /** Subject median / baseline median; null when one side lacks the figure. */
  ratio: number | null;
}

/** How often something happened, per side: `hits` of `of` samples. */
export interface Count {
  id: string;
  label: string;
  values: Record<string, { hits: number; of: number } | null>;
}

export type BenchOutcome =
  | { status: 'measured'; sides: Side[]; figures: Figure[]; counts: Count[]; parameters: Record<string, string | number>; notes: string[]; raw?: string }
  | { status: 'skipped'; reason: string };

/** The subject is the first side that is not the baseline. */
export function subjectAndBaseline(sides: readonly Side[]): { subject: Side; baseline: Side } {
  const baseline = sides.find((s) => s.baseline);
  const subject = sides.find((s) => !s.baseline);
  if (baseline === undefined || subject === undefined) throw new Error(`a benchmark needs one baseline side and one subject side, got ${JSON.stringify(sides)}`);
  return { subject, baseline };
}

/** Builds a figure from raw samples per side; the ratio is subject/baseline of the medians. */
export function figure(sides: readonly Side[], id: string, label: string, unit: string, samples: Record<string, ReadonlyArray<number | null | undefined> | undefined>): Figure {
  const { subject, baseline } = subjectAndBaseline(sides);
  const values: Record<string, Summary | null> = {};
  for (const side of sides) values[side.id] = samples[side.id] === undefined ? null : summarize(samples[side.id]!);
  return { id, label, unit, values, ratio: ratio(values[subject.id] ?? null, values[baseline.id] ?? null) };
}

/** Builds a count from booleans per side (undefined: the side does not have it). */
export function count(sides: readonly Side[], id: string, label: string, samples: Record<string, readonly boolean[] | undefined>): Count {
  const values: Count['values'] = {};
  for (const side of sides) {
    const s = samples[side.id];
    values[side.id] = s === undefined ? null : { hits: s.filter(Boolean).length, of: s.length };
  }
  return { id, label, values };
}
