import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFileSync, chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleTopOf, checkInstallIntegrity, describeInstallIntegrity, parseManifest } from '../../../agent/src/state/install-integrity';
import { checkBootScriptIntegrity, describeBootScriptIntegrity, locateBootScript, locateUnit } from '../../../agent/src/state/unit-integrity';
import { makeTempDir } from '../../support/temp-dir';

function bundle(dir: string, files: Record<string, string>): void {
  let manifest = '';
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), content);
    manifest += `${createHash('sha256').update(content).digest('hex')}  ${path}\n`;
  }
  writeFileSync(join(dir, 'MANIFEST.sha256'), manifest);
}

test('an installed bundle is intact while every file matches its manifest, and modified with what changed, went missing or was added', async (t) => {
  const dir = makeTempDir('mamori-integrity-');
  t.after(() => dir.cleanup());
  bundle(dir.path, { 'bin/mamori-agent': '#!/bin/sh\n', 'app/main.js': 'main();\n', 'app/node_modules/x/index.js': 'x\n', VERSION: '0.1.0\n' });
  const intact = await checkInstallIntegrity(dir.path, new Date('2026-11-28T00:00:00Z'));
  assert.equal(intact.state, 'intact');
  assert.equal(intact.files, 4);
  assert.match(describeInstallIntegrity(intact), /^intact \(4 files match MANIFEST\.sha256/);

  appendFileSync(join(dir.path, 'app/main.js'), 'steal();\n');
  rmSync(join(dir.path, 'VERSION'));
  writeFileSync(join(dir.path, 'app/node_modules/x/evil.js'), 'evil\n');
  const modified = await checkInstallIntegrity(dir.path);
  assert.equal(modified.state, 'modified');
  assert.deepEqual([modified.changed, modified.missing, modified.added], [['app/main.js'], ['VERSION'], ['app/node_modules/x/evil.js']]);
  assert.deepEqual([modified.changedCount, modified.missingCount, modified.addedCount], [1, 1, 1]);
  assert.equal(
    describeInstallIntegrity(modified),
    `MODIFIED: files differ from MANIFEST.sha256 in ${dir.path}: 1 changed (app/main.js); 1 missing (VERSION); 1 added (app/node_modules/x/evil.js)`,
  );
});

test('long lists are capped at 20 names with complete counts; a source checkout is not bundled; a malformed manifest is an error', async (t) => {
  const dir = makeTempDir('mamori-integrity-');
  t.after(() => dir.cleanup());
  bundle(dir.path, { 'app/main.js': 'main();\n' });
  for (let i = 0; i < 25; i++) writeFileSync(join(dir.path, `added-${String(i).padStart(2, '0')}.js`), '');
  const report = await checkInstallIntegrity(dir.path);
  assert.equal(report.addedCount, 25);
  assert.equal(report.added.length, 20);
  assert.match(describeInstallIntegrity(report), /25 added \(added-00\.js, .*added-19\.js, …\)$/);

  const checkout = makeTempDir('mamori-integrity-');
  t.after(() => checkout.cleanup());
  const none = await checkInstallIntegrity(checkout.path);
  assert.equal(none.state, 'not-bundled');
  assert.equal(none.installDir, null);
  assert.equal(bundleTopOf('/opt/mamori-agent/current/app/state'), '/opt/mamori-agent/current');

  assert.throws(() => parseManifest('not a manifest line\n'), /MANIFEST\.sha256 line 1 is not/);
});

test('the boot script record: found beside the script under a --root, absent in an install older than it (not checked, the unit still is), malformed is an error; bytes and mode compared', async (t) => {
  const dir = makeTempDir('mamori-boot-record-');
  t.after(() => dir.cleanup());
  const prefix = join(dir.path, 'opt/mamori-agent');
  const release = join(prefix, 'releases/mamori-agent-0.1.0-linux-x64');
  mkdirSync(release, { recursive: true });
  mkdirSync(join(prefix, 'boot'));
  writeFileSync(join(prefix, 'install.conf'), 'PREFIX=/opt/mamori-agent\nSTATE_DIR=/var/lib/mamori-agent\nVERSION=0.1.0\n');
  const script = '#!/bin/sh\nexec "$@"\n';
  writeFileSync(join(prefix, 'boot/mamori-agent-boot'), script);
  chmodSync(join(prefix, 'boot/mamori-agent-boot'), 0o755);
  writeFileSync(join(prefix, 'unit.sha256'), `${'0'.repeat(64)}  /etc/systemd/system/mamori-agent.service\n`);

  // Installed by an install.sh older than the record: the unit is checked, the boot script is not.
  assert.ok(await locateUnit(release));
  assert.equal(await locateBootScript(release), null);
  const unrecorded = await checkBootScriptIntegrity(null);
  assert.equal(unrecorded.state, 'not-recorded');
  assert.match(describeBootScriptIntegrity(unrecorded), /^not checked \(no boot script recorded by install\.sh/);
  assert.equal(await locateBootScript(join(dir.path, 'checkout')), null, 'not an installed release');

  writeFileSync(join(prefix, 'boot/mamori-agent-boot.sha256'), 'not a record\n');
  await assert.rejects(locateBootScript(release), /mamori-agent-boot\.sha256 is not "<sha256>  <boot script path>"/);

  writeFileSync(join(prefix, 'boot/mamori-agent-boot.sha256'), `${createHash('sha256').update(script).digest('hex')}  /opt/mamori-agent/boot/mamori-agent-boot\n`);
  const location = await locateBootScript(release);
  assert.deepEqual(location, {
    bootFile: join(prefix, 'boot/mamori-agent-boot'),
    bootDir: join(prefix, 'boot'),
    expectedSha256: createHash('sha256').update(script).digest('hex'),
    recordFile: join(prefix, 'boot/mamori-agent-boot.sha256'),
  });
  const intact = await checkBootScriptIntegrity(location, new Date('2026-11-28T00:00:00Z'));
  assert.deepEqual([intact.state, intact.mode, intact.regularFile, intact.checkedAt], ['intact', '0755', true, '2026-11-28T00:00:00.000Z']);

  // Not executable any more (the unit cannot start it) and edited: both named in one line.
  chmodSync(join(prefix, 'boot/mamori-agent-boot'), 0o644);
  appendFileSync(join(prefix, 'boot/mamori-agent-boot'), 'rm -rf /opt/mamori-agent/current\n');
  const modified = await checkBootScriptIntegrity(location);
  assert.equal(modified.state, 'modified');
  assert.match(describeBootScriptIntegrity(modified), /^MODIFIED: .*boot\/mamori-agent-boot differs from the installed boot script \(sha256 [0-9a-f]{12}…, installed [0-9a-f]{12}…\); .*boot\/mamori-agent-boot mode 0755 -> 0644$/);
});
