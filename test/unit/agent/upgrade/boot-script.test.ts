import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseRecord } from '../../../../agent/src/upgrade/upgrade-plan';
import { REPO_ROOT } from '../../../support/processes';
import { makeTempDir } from '../../../support/temp-dir';

const BOOT = join(REPO_ROOT, 'deploy/agent/linux/boot/mamori-agent-boot.sh');

/**
 * A prefix laid out as install.sh leaves it, with two releases whose "agent" only prints its name
 * and arguments; `current` names `current`, a trial record as the upgrader writes it when `trial` is given.
 */
function prefixWith(t: { after(fn: () => void): void }, current: 'old' | 'new', trial?: { started: number; deadline?: number; starts?: number }) {
  const dir = makeTempDir('mamori-boot-');
  t.after(() => dir.cleanup());
  const prefix = dir.path;
  for (const release of ['old', 'new']) {
    mkdirSync(join(prefix, 'releases', release, 'bin'), { recursive: true });
    writeFileSync(join(prefix, 'releases', release, 'bin/mamori-agent'), `#!/bin/sh\necho "ran ${release} $*"\n`, { mode: 0o755 });
  }
  symlinkSync(`releases/${current}`, join(prefix, 'current'));
  mkdirSync(join(prefix, 'boot'));
  copyFileSync(BOOT, join(prefix, 'boot/mamori-agent-boot'));
  mkdirSync(join(prefix, 'upgrade'));
  if (trial !== undefined) {
    writeFileSync(join(prefix, 'upgrade/trial'), `FROM=old\nFROM_VERSION=1.0.0\nTO=new\nTO_VERSION=1.1.0\nSTARTED=${trial.started}\n${trial.deadline === undefined ? '' : `DEADLINE=${trial.deadline}\n`}`);
    if (trial.starts !== undefined) writeFileSync(join(prefix, 'upgrade/trial.starts'), '1\n'.repeat(trial.starts));
  }
  const boot = () => spawnSync('sh', [join(prefix, 'boot/mamori-agent-boot'), 'run', '--state-dir', '/x'], { encoding: 'utf8', env: { PATH: process.env.PATH } });
  return { prefix, boot };
}

const now = () => Math.floor(Date.now() / 1000);

test('without a trial the boot script runs the current release with its arguments', (t) => {
  const { boot } = prefixWith(t, 'old');
  const result = boot();
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stdout, 'ran old run --state-dir /x\n');
});

test('a version on trial runs for three starts, and the fourth start puts the previous release back and records why', (t) => {
  const { prefix, boot } = prefixWith(t, 'new', { started: now() });
  for (let start = 1; start <= 3; start++) assert.equal(boot().stdout, 'ran new run --state-dir /x\n', `start ${start}`);
  const fourth = boot();
  assert.equal(fourth.stdout, 'ran old run --state-dir /x\n');
  assert.match(fourth.stderr, /rolled back from new to old: 1\.1\.0 started 3 times without reaching the collector/);
  assert.equal(readlinkSync(join(prefix, 'current')), 'releases/old');
  assert.equal(existsSync(join(prefix, 'upgrade/trial')), false);
  assert.equal(existsSync(join(prefix, 'upgrade/trial.starts')), false);
  const record = parseRecord(readFileSync(join(prefix, 'upgrade/rolled-back'), 'utf8'));
  assert.deepEqual([record.FAILED, record.FAILED_VERSION, record.RESTORED], ['new', '1.1.0', 'old']);
  assert.match(record.REASON!, /started 3 times/);
  // Later starts run the restored release and leave the record for it to report.
  assert.equal(boot().stdout, 'ran old run --state-dir /x\n');
});

test('a trial older than its deadline is rolled back at the next start even before three starts', (t) => {
  const { prefix, boot } = prefixWith(t, 'new', { started: now() - 100, deadline: 60 });
  const result = boot();
  assert.equal(result.stdout, 'ran old run --state-dir /x\n');
  assert.match(result.stderr, /1\.1\.0 did not reach the collector within 60 seconds/);
  assert.equal(readlinkSync(join(prefix, 'current')), 'releases/old');
});

test('a trial the agent wrote but never swapped to is dropped, and the current release runs', (t) => {
  const { prefix, boot } = prefixWith(t, 'old', { started: now(), starts: 5 });
  const result = boot();
  assert.equal(result.stdout, 'ran old run --state-dir /x\n');
  assert.match(result.stderr, /dropped a trial of new that never started/);
  assert.equal(existsSync(join(prefix, 'upgrade/trial')), false);
  assert.equal(existsSync(join(prefix, 'upgrade/rolled-back')), false);
});
