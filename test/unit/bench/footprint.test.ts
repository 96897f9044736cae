import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../support/processes';
import { cpuPercent, parseFootprint } from '../../bench/usb-hotplug/monitor-records';

const fixture = (name: string) => readFileSync(join(REPO_ROOT, 'test/fixtures/bench', name), 'utf8');

test('the footprint probe of a node process with a child sums RSS, PSS, anonymous RSS and CPU over both', () => {
  const sample = parseFootprint(fixture('footprint-probe-node-with-child-1.txt'));
  assert.equal(sample.uptimeS, 6285.46);
  assert.equal(sample.clockTicks, 100);
  assert.deepEqual(sample.procs.map((p) => [p.comm, p.ticks, p.threads]), [['node', 15, 7], ['sleep', 0, 1]]);
  assert.equal(sample.rssKiB, 42668 + 1820);
  assert.equal(sample.pssKiB, 10732 + 205);
  assert.equal(sample.rssAnonKiB, 7012 + 112);
  assert.equal(sample.cpuMs, 150);
});

test('CPU between two probes is the ticks used over the uptime that passed, in % of one core', () => {
  const before = parseFootprint(fixture('footprint-probe-node-with-child-1.txt'));
  const after = parseFootprint(fixture('footprint-probe-node-with-child-2.txt'));
  assert.ok(Math.abs(cpuPercent(before, after) - (20 / 6150) * 100) < 1e-9);
  assert.throws(() => cpuPercent(after, before), /not in order/);
});

test('probe output without a process (the agent is gone) is an error that shows the output', () => {
  assert.throws(() => parseFootprint('uptime 12.5 clk_tck 100\n'), /no uptime line or no process line:\nuptime 12\.5/);
  assert.throws(() => parseFootprint(''), /no uptime line/);
});
