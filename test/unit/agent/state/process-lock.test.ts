import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from '../../../support/temp-dir';
import { acquireProcessLock, AlreadyRunningError, procIdentity } from '../../../../agent/src/state/process-lock';

const linux = existsSync('/proc/self/stat') && existsSync('/proc/sys/kernel/random/boot_id');

/** A live process that is not this one, standing in for "the pid now belongs to someone else". */
function liveStranger(t: import('node:test').TestContext): number {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  t.after(() => child.kill('SIGKILL'));
  return child.pid!;
}

function lockDir(t: import('node:test').TestContext): string {
  const dir = makeTempDir('mamori-lock-');
  t.after(() => dir.cleanup());
  return join(dir.path, 'agent.lock');
}

test('the process identity is read from /proc (boot id and start time)', { skip: !linux && 'needs Linux /proc' }, () => {
  const self = procIdentity(process.pid);
  assert.ok(self);
  assert.match(self.bootId, /^[0-9a-f-]{36}$/);
  assert.match(self.startTime, /^\d+$/);
  assert.deepEqual(procIdentity(process.pid), self, 'stable for one process');
});

test('a lock naming a live pid with another start time (a reboot reused the pid) is stale and taken over', { skip: !linux && 'needs Linux /proc' }, async (t) => {
  const path = lockDir(t);
  const pid = liveStranger(t);
  const real = procIdentity(pid)!;
  await writeFile(path, JSON.stringify({ pid, bootId: real.bootId, startTime: String(BigInt(real.startTime) + 1n) }));
  const lock = await acquireProcessLock(path);
  const now = JSON.parse(await readFile(path, 'utf8'));
  assert.equal(now.pid, process.pid);
  assert.deepEqual({ bootId: now.bootId, startTime: now.startTime }, procIdentity(process.pid));
  lock.release();
  assert.equal(existsSync(path), false);
});

test('a lock naming a live pid from another boot is stale too', { skip: !linux && 'needs Linux /proc' }, async (t) => {
  const path = lockDir(t);
  const pid = liveStranger(t);
  await writeFile(path, JSON.stringify({ pid, bootId: '00000000-0000-4000-8000-000000000000', startTime: procIdentity(pid)!.startTime }));
  (await acquireProcessLock(path)).release();
});

test('a lock held by a live process with its own identity is respected', { skip: !linux && 'needs Linux /proc' }, async (t) => {
  const path = lockDir(t);
  const pid = liveStranger(t);
  await writeFile(path, JSON.stringify({ pid, ...procIdentity(pid) }));
  await assert.rejects(acquireProcessLock(path), AlreadyRunningError);
  assert.equal(JSON.parse(await readFile(path, 'utf8')).pid, pid, 'the holder keeps its lock');
});

test('agents racing for one stale lock: exactly one wins', async (t) => {
  const path = lockDir(t);
  for (let round = 0; round < 20; round++) {
    await writeFile(path, JSON.stringify({ pid: 2 ** 22 + 12345, bootId: 'gone', startTime: '1' })); // above pid_max: dead
    const results = await Promise.allSettled(Array.from({ length: 4 }, () => acquireProcessLock(path)));
    const won = results.filter((r) => r.status === 'fulfilled');
    assert.equal(won.length, 1, `round ${round}: ${won.length} winners`);
    for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof AlreadyRunningError, String(r.reason));
    (won[0] as PromiseFulfilledResult<{ release(): void }>).value.release();
  }
});
