import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { count, figure, type Side } from '../../bench/benchmark';
import type { Machine } from '../../bench/machine';
import { mergeReport, parseReport, readReport, renderMarkdown, writeReport, type BenchmarkSection } from '../../bench/report';

const machine: Machine = { cpuModel: 'AMD EPYC', cores: 2, memoryGiB: 23.5, kernel: '6.1.0', node: 'v20.20.2', date: '2026-11-27T21:00:00.000Z' };
const sides: Side[] = [
  { id: 'mamori', label: 'mamori' },
  { id: 'usbguard', label: 'USBGuard', baseline: true },
];

function measured(name: string, subjectMs: number[], baselineMs: number[]): BenchmarkSection {
  return {
    name,
    title: `${name} title`,
    machine,
    durationMs: 1000,
    status: 'measured',
    sides,
    figures: [figure(sides, 'block', 'kernel new device → blocked', 'ms', { mamori: subjectMs, usbguard: baselineMs })],
    counts: [count(sides, 'born', 'born unauthorized', { mamori: [true, true], usbguard: [true, false] })],
    parameters: { plugs: subjectMs.length },
    notes: ['a note'],
  };
}

test('a run of one benchmark replaces only its own section and keeps the others', () => {
  const first = mergeReport(null, [measured('usb-hotplug', [10, 20], [5, 10]), measured('ingest', [1], [2])], new Date('2026-11-27T10:00:00Z'));
  const second = mergeReport(first, [measured('usb-hotplug', [30, 40], [10, 10])], new Date('2026-11-27T11:00:00Z'));
  assert.deepEqual(Object.keys(second.benchmarks), ['usb-hotplug', 'ingest'], 'order of first appearance');
  assert.equal(second.benchmarks.ingest, first.benchmarks.ingest);
  const usb = second.benchmarks['usb-hotplug']!;
  assert.ok(usb.status === 'measured');
  assert.equal(usb.figures[0]!.ratio, 3.5);
  assert.equal(second.updatedAt, '2026-11-27T11:00:00.000Z');
});

test('the markdown shows the machine, each side with min/median/p95/max, the ratio, the counts, and a skipped benchmark says why', () => {
  const skipped: BenchmarkSection = { name: 'ingest', title: 'Ingest', machine, durationMs: 5, status: 'skipped', reason: 'PostgreSQL is not running on 127.0.0.1:5432' };
  const md = renderMarkdown(mergeReport(null, [measured('usb-hotplug', [10, 20, 30], [10, 10, 10]), skipped]));
  assert.match(md, /Machine: AMD EPYC, 2 cores, 23\.5 GiB, kernel 6\.1\.0, Node v20\.20\.2, 2026-11-27T21:00:00\.000Z/);
  assert.match(md, /\| figure \| unit \| mamori min \/ median \/ p95 \/ max \| USBGuard min \/ median \/ p95 \/ max \| ratio mamori\/USBGuard \(medians\) \|/);
  assert.match(md, /\| kernel new device → blocked \| ms \| 10 \/ 20 \/ 29 \/ 30 \(n=3\) \| 10 \/ 10 \/ 10 \/ 10 \(n=3\) \| 2× \|/);
  assert.match(md, /\| born unauthorized \| 2\/2 \| 1\/2 \|/);
  assert.match(md, /## ingest: Ingest[\s\S]*\*\*Not measured:\*\* PostgreSQL is not running on 127\.0\.0\.1:5432/);
});

test('report files are written and read back; a broken report.json is an error that names the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mamori-bench-report-'));
  try {
    assert.equal(readReport(dir), null);
    const report = mergeReport(null, [measured('usb-hotplug', [1], [1])]);
    writeReport(dir, report);
    assert.deepEqual(readReport(dir), report);
    assert.equal(readFileSync(join(dir, 'report.md'), 'utf8'), renderMarkdown(report));
    writeFileSync(join(dir, 'report.json'), '{"benchmarks": ');
    assert.throws(() => readReport(dir), (e: Error) => e.message.startsWith(`${join(dir, 'report.json')} is not JSON`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('parseReport names the section that is not a benchmark section', () => {
  assert.throws(() => parseReport('{"benchmarks": []}', 'r.json'), /r\.json has no "benchmarks" object/);
  assert.throws(() => parseReport('{"benchmarks": {"usb-hotplug": {"name": "other", "status": "measured"}}}', 'r.json'), /the section "usb-hotplug" is not a benchmark section/);
  assert.throws(() => parseReport('{"benchmarks": {"x": {"name": "x", "status": "done"}}}', 'r.json'), /the section "x"/);
});
