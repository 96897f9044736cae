import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleTopOf, checkInstallIntegrity, describeInstallIntegrity, parseManifest } from '../../../agent/src/state/install-integrity';
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
