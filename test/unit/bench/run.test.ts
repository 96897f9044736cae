import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Benchmark } from '../../bench/benchmark';
import { BENCHMARKS, runBenchmarks, selectBenchmarks } from '../../bench/run';

const named = (name: string, run: Benchmark['run']): Benchmark => ({ name, title: `${name} title`, run });

test('no name runs every benchmark; names pick those; an unknown name lists the known ones', () => {
  assert.deepEqual(selectBenchmarks([]).map((b) => b.name), BENCHMARKS.map((b) => b.name));
  assert.ok(BENCHMARKS.some((b) => b.name === 'usb-hotplug'));
  assert.deepEqual(selectBenchmarks(['usb-hotplug']).map((b) => b.name), ['usb-hotplug']);
  assert.throws(() => selectBenchmarks(['usb-hotplug', 'nope']), /unknown benchmark "nope"; known: usb-hotplug/);
});

test('a benchmark that throws or whose prerequisite is missing becomes its own section, said on the console, and the next one still runs', async () => {
  const log: string[] = [];
  const sections = await runBenchmarks(
    [
      named('broken', async () => {
        throw new Error('qemu exited with 1');
      }),
      named('lacking', async () => ({ status: 'skipped', reason: 'qemu-system-x86_64 is not installed' })),
      named('fine', async (ctx) => {
        ctx.log('working');
        return { status: 'measured', sides: [{ id: 'a', label: 'A' }, { id: 'b', label: 'B', baseline: true }], figures: [], counts: [], parameters: {}, notes: [] };
      }),
    ],
    '/nonexistent-output',
    (m) => log.push(m),
  );
  assert.deepEqual(sections.map((s) => [s.name, s.status]), [['broken', 'failed'], ['lacking', 'skipped'], ['fine', 'measured']]);
  assert.ok(sections[0]!.status === 'failed' && sections[0]!.reason.includes('qemu exited with 1'));
  assert.ok(log.some((l) => l.includes('lacking NOT MEASURED: qemu-system-x86_64 is not installed')));
  assert.ok(log.includes('[fine] working'));
  for (const s of sections) assert.equal(typeof s.machine.cores, 'number');
});
