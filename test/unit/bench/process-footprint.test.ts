import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { cpuPercent, descendants, readTreeFootprint } from '../../bench/agent-footprint/process-footprint';

test('the footprint of a process tree counts a live grandchild, the CPU the tree burns, and fails once the root is gone', { skip: process.platform !== 'linux' && 'reads /proc (Linux only)' }, async (t) => {
  // A node process that starts `sleep` (a grandchild of this test) and then spins for about 600 ms.
  const root = spawn(process.execPath, ['-e', "require('child_process').spawn('sleep', ['30'], { stdio: 'ignore' }); const end = Date.now() + 600; while (Date.now() < end); setInterval(() => {}, 1e9);"], { stdio: 'ignore' });
  let tree: number[] = [];
  t.after(() => {
    for (const pid of tree) process.kill(pid, 'SIGKILL');
    root.kill('SIGKILL');
  });
  const first = readTreeFootprint(root.pid!);
  const started = performance.now();
  for (let i = 0; i < 100 && tree.length === 0; i++) {
    await sleep(20);
    tree = descendants(root.pid!);
  }
  await sleep(900);
  const second = readTreeFootprint(root.pid!);
  const wall = (performance.now() - started) / 1000;

  assert.equal(tree.length, 1, 'the sleep grandchild is found');
  assert.deepEqual(second.pids, [root.pid, ...tree], 'the root first, then its descendants');
  assert.ok(second.rssKiB > 10 * 1024, `a node process has more than 10 MiB resident, read ${second.rssKiB} KiB`);
  assert.ok(second.rootPeakRssKiB >= 10 * 1024);
  assert.ok(second.pssKiB !== null && second.pssKiB > 0 && second.pssKiB <= second.rssKiB, `PSS ${second.pssKiB} KiB within RSS ${second.rssKiB} KiB`);
  const share = cpuPercent(first, second, wall);
  assert.ok(share > 10 && share <= 100 * 2 + 1, `the spin shows as CPU: ${share.toFixed(1)}% of a core over ${wall.toFixed(2)} s`);

  root.kill('SIGKILL');
  await new Promise((r) => root.once('exit', r));
  assert.throws(() => readTreeFootprint(root.pid!), /is gone/);
  assert.throws(() => cpuPercent(first, second, 0), /positive interval/);
});
