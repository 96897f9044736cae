import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { subjectAndBaseline, type BenchOutcome, type Count, type Figure, type Side } from './benchmark';
import type { Machine } from './machine';
import { round, type Summary } from './stats';

/** One benchmark's part of the report: what it measured (or why not), where and when. */
export type BenchmarkSection = { name: string; title: string; machine: Machine; durationMs: number } & (
  | Extract<BenchOutcome, { status: 'measured' }>
  | Extract<BenchOutcome, { status: 'skipped' }>
  | { status: 'failed'; reason: string }
);

/** bench-output/report.json: every benchmark's latest section, keyed by name. */
export interface BenchReport {
  updatedAt: string;
  benchmarks: Record<string, BenchmarkSection>;
}

export const REPORT_JSON = 'report.json';
export const REPORT_MD = 'report.md';

/**
 * The report with `sections` put in: a run of one benchmark replaces only that benchmark's
 * section and keeps the others as they were. Sections keep the order of first appearance.
 */
export function mergeReport(existing: BenchReport | null, sections: readonly BenchmarkSection[], now = new Date()): BenchReport {
  const benchmarks: Record<string, BenchmarkSection> = { ...(existing?.benchmarks ?? {}) };
  for (const section of sections) benchmarks[section.name] = section;
  return { updatedAt: now.toISOString(), benchmarks };
}

/** Parses report.json; a file that is not a report is an error that names the file and the problem. */
export function parseReport(text: string, source: string): BenchReport {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`${source} is not JSON (${(error as Error).message}); move it away to start a new report`);
  }
  const report = parsed as Partial<BenchReport>;
  if (typeof report !== 'object' || report === null || typeof report.benchmarks !== 'object' || report.benchmarks === null || Array.isArray(report.benchmarks)) {
    throw new Error(`${source} has no "benchmarks" object; move it away to start a new report`);
  }
  for (const [name, section] of Object.entries(report.benchmarks)) {
    if (typeof section !== 'object' || section === null || section.name !== name || !['measured', 'skipped', 'failed'].includes(String(section.status))) {
      throw new Error(`${source}: the section "${name}" is not a benchmark section (name or status missing); move the file away to start a new report`);
    }
  }
  return { updatedAt: String(report.updatedAt ?? ''), benchmarks: report.benchmarks };
}

export function readReport(dir: string): BenchReport | null {
  const path = join(dir, REPORT_JSON);
  if (!existsSync(path)) return null;
  return parseReport(readFileSync(path, 'utf8'), path);
}

/** Writes report.json and report.md, each through a temporary file renamed into place. */
export function writeReport(dir: string, report: BenchReport): void {
  mkdirSync(dir, { recursive: true });
  for (const [file, text] of [[REPORT_JSON, `${JSON.stringify(report, null, 2)}\n`], [REPORT_MD, renderMarkdown(report)]] as const) {
    writeFileSync(join(dir, `${file}.tmp`), text);
    renameSync(join(dir, `${file}.tmp`), join(dir, file));
  }
}

const cell = (s: Summary | null | undefined): string =>
  s === null || s === undefined ? '–' : `${round(s.min)} / ${round(s.median)} / ${round(s.p95)} / ${round(s.max)}${s.n > 1 ? ` (n=${s.n})` : ''}`;

const ratioCell = (r: number | null): string => (r === null ? '–' : `${round(r)}×`);

export function describeMachineLine(m: Machine): string {
  return `${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, kernel ${m.kernel}, Node ${m.node}, ${m.date}`;
}

function figureTable(sides: readonly Side[], figures: readonly Figure[]): string[] {
  const { subject, baseline } = subjectAndBaseline(sides);
  const ordered = [subject, baseline, ...sides.filter((s) => s !== subject && s !== baseline)];
  return [
    `| figure | unit | ${ordered.map((s) => `${s.label} min / median / p95 / max`).join(' | ')} | ratio ${subject.label}/${baseline.label} (medians) |`,
    `|---|---|${ordered.map(() => '---|').join('')}---|`,
    ...figures.map((f) => `| ${f.label} | ${f.unit} | ${ordered.map((s) => cell(f.values[s.id])).join(' | ')} | ${ratioCell(f.ratio)} |`),
  ];
}

function countTable(sides: readonly Side[], counts: readonly Count[]): string[] {
  const { subject, baseline } = subjectAndBaseline(sides);
  const ordered = [subject, baseline, ...sides.filter((s) => s !== subject && s !== baseline)];
  return [
    `| how often | ${ordered.map((s) => s.label).join(' | ')} |`,
    `|---|${ordered.map(() => '---|').join('')}`,
    ...counts.map((c) => `| ${c.label} | ${ordered.map((s) => (c.values[s.id] ? `${c.values[s.id]!.hits}/${c.values[s.id]!.of}` : '–')).join(' | ')} |`),
  ];
}

export function renderSection(section: BenchmarkSection): string[] {
  const lines = [`## ${section.name}: ${section.title}`, '', `Machine: ${describeMachineLine(section.machine)}. Took ${Math.round(section.durationMs / 1000)} s.`, ''];
  if (section.status !== 'measured') {
    lines.push(`**${section.status === 'skipped' ? 'Not measured' : 'Failed'}:** ${section.reason}`, '');
    return lines;
  }
  const params = Object.entries(section.parameters);
  if (params.length > 0) lines.push(`Parameters: ${params.map(([k, v]) => `${k}=${v}`).join(', ')}.`, '');
  lines.push(...figureTable(section.sides, section.figures), '');
  if (section.counts.length > 0) lines.push(...countTable(section.sides, section.counts), '');
  if (section.notes.length > 0) lines.push(...section.notes.map((n) => `- ${n}`), '');
  if (section.raw !== undefined) lines.push(`Raw records: \`bench-output/${section.raw}\`.`, '');
  return lines;
}

export function renderMarkdown(report: BenchReport): string {
  const lines = [
    '# mamori benchmarks',
    '',
    `Written by \`npm run bench\` (last update ${report.updatedAt}). Each figure is min / median / p95 / max over its samples;`,
    'the ratio compares medians with the baseline measured in the same run on the same machine.',
    '',
  ];
  for (const section of Object.values(report.benchmarks)) lines.push(...renderSection(section));
  return `${lines.join('\n').trimEnd()}\n`;
}
