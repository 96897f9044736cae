import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CollectorUnderTest } from './support/cluster';
import { packAgentBundle } from '../integration/deploy/agent-bundle';
import { skipOrFail } from '../support/prerequisites';
import { RunningProcess } from '../support/processes';
import { makeTempDir } from '../support/temp-dir';

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

// The deployment proof: a freshly packed bundle's install.sh installs into a temporary root
// (systemd replaced by starting the installed agent directly), enrolls against a real collector
// process into the zone --zone named (an undefined zone refused, nothing enrolled), and the
// installed agent's heartbeat reaches it. Then uninstall.sh without a code issued
// and with a wrong code is refused (nothing removed, every attempt in the audit log), and with the
// issued code removes everything and the collector revokes the agent.
test('install.sh installs a packed bundle into a root folder, enrolls (--zone: required in that zone; an undefined zone refused), the installed agent reports a heartbeat; uninstall.sh removes it only with the code the collector issued', async (t) => {
  if (process.platform !== 'linux' || process.arch !== 'x64') return skipOrFail(t, 'the install test runs the linux-x64 bundle; this is not linux-x64');
  const collector = await CollectorUnderTest.start(t, 'sqlite');
  if (collector === null) return;
  const work = makeTempDir('mamori-install-');
  t.after(() => work.cleanup());
  const bundle = await packAgentBundle(work.path);
  const root = join(work.path, 'root');
  spawnSync('mkdir', ['-p', root]);

  const { id: tokenId, token } = await collector.createEnrollmentToken({ maxUses: 1 });
  // Refused before anything is installed: no token on a host that is not enrolled.
  const noToken = spawnSync('sh', [join(bundle.top, 'install.sh'), '--server', `127.0.0.1:${collector.grpcPort}`, '--root', root, '--no-systemd'], { encoding: 'utf8' });
  assert.equal(noToken.status, 1);
  assert.match(noToken.stderr, /--token TOKEN is required/);
  const missingZone = spawnSync('sh', [join(bundle.top, 'install.sh'), '--zone'], { encoding: 'utf8' });
  assert.equal(missingZone.status, 2);
  assert.match(missingZone.stderr, /--zone ZONE/);

  // --zone names a zone an administrator defined: an unknown one is refused with the defined ones
  // listed, nothing is enrolled and the token's only use is left for the next attempt.
  await collector.rest.expect(201, 'POST', '/api/v1/zones', { name: 'dev-lan', cidrs: ['10.20.0.0/16'], mode: 'audit' });
  await collector.rest.expect(201, 'POST', '/api/v1/zones', { name: 'office-lan', cidrs: ['10.10.0.0/16'], mode: 'off' });
  const installWith = (zone: string) =>
    spawnSync('sh', [join(bundle.top, 'install.sh'), '--server', `127.0.0.1:${collector.grpcPort}`, '--token', token, '--zone', zone, '--root', root, '--no-systemd'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, MAMORI_AGENT_LOG_LEVEL: 'warn' },
    });
  const unknownZone = installWith('dev-lab');
  assert.equal(unknownZone.status, 1, unknownZone.stdout + unknownZone.stderr);
  assert.match(unknownZone.stderr, /INVALID_ARGUMENT\): zone dev-lab is not a defined zone; defined zones: dev-lan, office-lan/);
  assert.match(unknownZone.stderr, /enrollment failed/);
  assert.equal(existsSync(join(root, 'var/lib/mamori-agent/agent.json')), false, 'not enrolled');
  assert.deepEqual((await collector.rest.expect<{ items: unknown[] }>(200, 'GET', '/api/v1/agents')).items, []);

  const install = installWith('dev-lan');
  assert.equal(install.status, 0, `${install.stdout}\n${install.stderr}`);
  assert.match(install.stdout, /required in zone dev-lan/);

  const prefix = join(root, 'opt/mamori-agent');
  assert.equal(readlinkSync(join(prefix, 'current')), `releases/${bundle.name}`);
  assert.equal(readlinkSync(join(root, 'usr/local/bin/mamori-agent')), '/opt/mamori-agent/current/bin/mamori-agent');
  const state = join(root, 'var/lib/mamori-agent');
  assert.equal(statSync(state).mode & 0o777, 0o700);
  assert.equal(statSync(state).uid, process.getuid!());
  assert.ok(existsSync(join(state, 'agent.json')), 'enrolled');
  const unit = readFileSync(join(root, 'etc/systemd/system/mamori-agent.service'), 'utf8');
  // Started through the boot script, which rolls back an upgrade that does not come up (agent-upgrade.e2e.test.ts).
  assert.match(unit, /^ExecStart=\/opt\/mamori-agent\/boot\/mamori-agent-boot run --state-dir \/var\/lib\/mamori-agent$/m);
  assert.equal(statSync(join(prefix, 'boot/mamori-agent-boot')).mode & 0o777, 0o755);
  // Its SHA-256 beside it, in the form of unit.sha256 (the path as seen from inside the root).
  const bootScript = join(prefix, 'boot/mamori-agent-boot');
  const bootSha256 = createHash('sha256').update(readFileSync(bootScript)).digest('hex');
  assert.equal(readFileSync(join(prefix, 'boot/mamori-agent-boot.sha256'), 'utf8'), `${bootSha256}  /opt/mamori-agent/boot/mamori-agent-boot\n`);
  assert.match(unit, /^ReadWritePaths=\/var\/lib\/mamori-agent \/opt\/mamori-agent$/m);
  assert.doesNotMatch(unit, /@PREFIX@|@STATE_DIR@/);
  assert.match(readFileSync(join(prefix, 'install.conf'), 'utf8'), /^STATE_DIR=\/var\/lib\/mamori-agent$/m);

  // systemd's own check of the installed unit, with its paths pointed into the root (verify checks
  // that ExecStart is executable). A misspelt directive is only a warning to systemd: it fails here.
  const verifyDir = join(work.path, 'verify');
  mkdirSync(verifyDir);
  const unitHere = join(verifyDir, 'mamori-agent.service');
  writeFileSync(unitHere, unit.replaceAll('/opt/mamori-agent', prefix).replaceAll('/var/lib/mamori-agent', state));
  const verify = spawnSync('systemd-analyze', ['verify', unitHere], { encoding: 'utf8' });
  if (verify.error) skipOrFail(t, `systemd-analyze is not installed (Debian package systemd): ${verify.error.message}`);
  else {
    assert.equal(verify.status, 0, `systemd-analyze verify: ${verify.stdout}${verify.stderr}`);
    assert.doesNotMatch(verify.stderr, /Unknown|ignoring|Failed|not executable/i, verify.stderr);
    const security = spawnSync('systemd-analyze', ['security', '--offline=true', unitHere], { encoding: 'utf8' });
    const exposure = /Overall exposure level for mamori-agent\.service: ([0-9.]+)/.exec(security.stdout);
    assert.ok(exposure, security.stdout + security.stderr);
    t.diagnostic(`systemd-analyze security exposure: ${exposure[1]} (0 best, 10 worst)`);
    assert.ok(Number(exposure[1]) <= 5.5, `exposure ${exposure[1]}`);
  }

  const installed = join(prefix, 'current/bin/mamori-agent');
  const status = JSON.parse(spawnSync(installed, ['status', '--json', '--state-dir', state], { encoding: 'utf8' }).stdout) as { enrolled: boolean; agentId: string; bootScript: { state: string; bootFile: string } };
  assert.equal(status.enrolled, true);
  assert.deepEqual([status.bootScript.state, status.bootScript.bootFile], ['intact', bootScript]);
  const requiredZone = async () => (await collector.rest.expect<{ requiredZone: string | null }>(200, 'GET', `/api/v1/agents/${status.agentId}`)).requiredZone;
  assert.equal(await requiredZone(), 'dev-lan');
  const zoneRecords = (await collector.rest.expect<{ items: Array<{ action: string; actor: { kind: string }; onBehalfOf: string | null; after: unknown }> }>(200, 'GET', `/api/v1/audit?subjectType=agent&subjectId=${status.agentId}`)).items.filter(
    (r) => r.action === 'agent.required_zone.set',
  );
  assert.deepEqual(
    zoneRecords.map((r) => [r.actor.kind, r.onBehalfOf, r.after]),
    [['system', `enrollment-token:${tokenId}`, { requiredZone: 'dev-lan' }]],
  );

  // A second run of install.sh (a reinstall) keeps the enrollment and needs no token; a --zone
  // there is ignored, saying so (the console changes an enrolled device's zone).
  const again = spawnSync('sh', [join(bundle.top, 'install.sh'), '--zone', 'office-lan', '--root', root, '--no-systemd'], { encoding: 'utf8' });
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /already holds an enrollment; keeping it/);
  assert.match(again.stderr, /--zone office-lan ignored: this host is already enrolled; change the zone .* from the console/);
  assert.equal(await requiredZone(), 'dev-lan');

  // Tamper evidence: a changed and an added file are named by status, and reported at the next start.
  const release = join(prefix, 'releases', bundle.name);
  appendFileSync(join(release, 'node/LICENSE'), 'edited\n');
  writeFileSync(join(release, 'app/node_modules/implant.js'), 'module.exports = 1;\n');
  const tampered = JSON.parse(spawnSync(installed, ['status', '--json', '--state-dir', state], { encoding: 'utf8' }).stdout) as { install: { state: string; changed: string[]; added: string[] } };
  assert.deepEqual([tampered.install.state, tampered.install.changed, tampered.install.added], ['modified', ['node/LICENSE'], ['app/node_modules/implant.js']]);
  const tamperedText = spawnSync(installed, ['status', '--state-dir', state], { encoding: 'utf8' }).stdout;
  assert.match(tamperedText, /^install: +MODIFIED: files differ from MANIFEST\.sha256 .*1 changed \(node\/LICENSE\); 1 added \(app\/node_modules\/implant\.js\)$/m);

  // systemd replaced by a direct start of what the unit would run.
  const agent = new RunningProcess(
    'installed mamori-agent',
    spawn(installed, ['run', '--state-dir', state], {
      env: {
        PATH: process.env.PATH,
        MAMORI_AGENT_USB_BACKEND: 'unsupported',
        MAMORI_AGENT_ENCRYPTION_BACKEND: 'unsupported',
        MAMORI_AGENT_EGRESS_BACKEND: 'unsupported',
        MAMORI_AGENT_HEARTBEAT_SECONDS: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  t.after(() => agent.stop());
  await agent.waitForLine(/"msg":"mamori-agent running"/, 30_000);
  const startedAt = Date.now();
  const seen = await eventually('a heartbeat from the installed agent', async () => {
    const device = await collector.rest.expect<{ lastSeenAt: string | null }>(200, 'GET', `/api/v1/agents/${status.agentId}`);
    return device.lastSeenAt !== null && Date.parse(device.lastSeenAt) >= startedAt - 1_000 ? device : undefined;
  });
  assert.ok(seen.lastSeenAt);
  const reported = await eventually('the modified install reported as an event', async () => {
    const page = await collector.rest.expect<{ items: Array<{ payload: { state?: string; message?: string } }> }>(200, 'GET', `/api/v1/events?agentId=${status.agentId}&kind=agent_status`);
    return page.items.map((e) => e.payload).find((p) => p.state === 'AGENT_STATE_INSTALL_MODIFIED');
  });
  assert.match(reported.message ?? '', /1 changed \(node\/LICENSE\); 1 added \(app\/node_modules\/implant\.js\)/);

  // While it runs: a file added to the running release and an edited unit are reported within seconds.
  writeFileSync(join(release, 'app/node_modules/implant2.js'), 'module.exports = 2;\n');
  appendFileSync(join(root, 'etc/systemd/system/mamori-agent.service'), 'ExecStartPre=/bin/true\n');
  const live = await eventually('the changes made while running reported as an event', async () => {
    const page = await collector.rest.expect<{ items: Array<{ payload: { state?: string; message?: string } }> }>(200, 'GET', `/api/v1/events?agentId=${status.agentId}&kind=agent_status`);
    return page.items.map((e) => e.payload).find((p) => p.state === 'AGENT_STATE_INSTALL_MODIFIED' && /while running/.test(p.message ?? ''));
  });
  assert.match(live.message ?? '', /app\/node_modules\/implant2\.js added.*unit MODIFIED: .*mamori-agent\.service differs from the installed unit/);

  // The boot script (the unit's ExecStart, outside every release): an edit that would start
  // something else is reported while running, status says so, and putting it back is reported too.
  const statusEvents = async () =>
    (await collector.rest.expect<{ items: Array<{ payload: { state?: string; message?: string } }> }>(200, 'GET', `/api/v1/events?agentId=${status.agentId}&kind=agent_status`)).items.map((e) => e.payload);
  const installedBoot = readFileSync(bootScript);
  const bootEditedAt = Date.now();
  appendFileSync(bootScript, 'exec /tmp/something-else\n');
  const bootEdited = await eventually('the edited boot script reported as an event', async () =>
    (await statusEvents()).find((p) => p.state === 'AGENT_STATE_INSTALL_MODIFIED' && /boot script MODIFIED/.test(p.message ?? '')),
  );
  t.diagnostic(`boot script edit to its event at the collector: ${Date.now() - bootEditedAt} ms (2 s of it the watch's quiet time)`);
  assert.match(bootEdited.message ?? '', /^install MODIFIED while running: boot script MODIFIED: .*\/opt\/mamori-agent\/boot\/mamori-agent-boot differs from the installed boot script \(sha256 [0-9a-f]{12}…, installed [0-9a-f]{12}…\)$/);
  const bootStatus = spawnSync(installed, ['status', '--state-dir', state], { encoding: 'utf8' }).stdout;
  assert.match(bootStatus, /^boot script: +MODIFIED: .*mamori-agent-boot differs from the installed boot script/m);
  writeFileSync(bootScript, installedBoot);
  const bootRestored = await eventually('the restored boot script reported as an event', async () =>
    (await statusEvents()).find((p) => p.state === 'AGENT_STATE_INSTALL_MODIFIED' && /boot script intact/.test(p.message ?? '')),
  );
  // Still MODIFIED as a whole: the implants and the unit edit are still there.
  assert.match(bootRestored.message ?? '', /^install MODIFIED while running: boot script intact \(.*mamori-agent-boot as installed\)$/);
  assert.match(spawnSync(installed, ['status', '--state-dir', state], { encoding: 'utf8' }).stdout, /^boot script: +intact \(/m);
  assert.equal((await statusEvents()).filter((p) => /boot script/.test(p.message ?? '')).length, 2, 'one event per change');

  const uninstallSh = join(prefix, 'current/uninstall.sh');
  const uninstall = (code: string) => spawnSync('sh', [uninstallSh, '--code', code, '--root', root, '--no-systemd'], { encoding: 'utf8', env: { PATH: process.env.PATH } });
  const attempts = async () =>
    (await collector.rest.expect<{ items: Array<{ action: string; after: { outcome: string } }> }>(200, 'GET', `/api/v1/audit?subjectType=agent&subjectId=${status.agentId}`)).items
      .filter((r) => r.action.startsWith('agent.uninstall'))
      .map((r) => `${r.action}:${r.after?.outcome ?? ''}`)
      .reverse();

  // No code issued yet: refused, nothing removed.
  const noCode = uninstall('0000-0000-0000-0000');
  assert.equal(noCode.status, 1, noCode.stdout + noCode.stderr);
  assert.match(noCode.stderr, /FAILED_PRECONDITION: no unused uninstall code was issued/);
  assert.match(noCode.stderr, /nothing was removed/);

  const issued = await collector.rest.expect<{ agentId: string; code: string; issuedAt: string }>(201, 'POST', `/api/v1/agents/${status.agentId}/uninstall-code`);
  assert.match(issued.code, /^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/);
  assert.equal((await collector.rest.request('POST', `/api/v1/agents/00000000-0000-4000-8000-000000000000/uninstall-code`)).status, 404);

  // A wrong code: refused, the agent still installed and still reporting.
  const wrong = uninstall(issued.code.startsWith('A') ? 'B' + issued.code.slice(1) : 'A' + issued.code.slice(1));
  assert.equal(wrong.status, 1, wrong.stdout + wrong.stderr);
  assert.match(wrong.stderr, /PERMISSION_DENIED: the uninstall code is not valid/);
  for (const kept of [join(prefix, 'current/bin/mamori-agent'), join(state, 'agent.json'), join(root, 'etc/systemd/system/mamori-agent.service')]) {
    assert.ok(existsSync(kept), `${kept} is still there`);
  }
  const refusedAt = Date.now();
  await eventually('a heartbeat after the refused uninstall', async () => {
    const device = await collector.rest.expect<{ lastSeenAt: string | null; status: string }>(200, 'GET', `/api/v1/agents/${status.agentId}`);
    return device.status === 'enrolled' && device.lastSeenAt !== null && Date.parse(device.lastSeenAt) >= refusedAt ? device : undefined;
  });

  // The valid code (typed in lower case, as people do). systemd would stop the service once the
  // code is accepted; here the directly started agent is stopped first.
  await agent.stop();
  const valid = uninstall(issued.code.toLowerCase());
  assert.equal(valid.status, 0, valid.stdout + valid.stderr);
  assert.match(valid.stdout, /accepted the uninstall code/);
  for (const gone of [prefix, state, join(root, 'etc/systemd/system/mamori-agent.service'), join(root, 'usr/local/bin/mamori-agent')]) {
    assert.ok(!existsSync(gone) && !isLink(gone), `${gone} is removed`);
  }
  assert.equal((await collector.rest.expect<{ status: string }>(200, 'GET', `/api/v1/agents/${status.agentId}`)).status, 'revoked');
  assert.deepEqual(await attempts(), ['agent.uninstall.refused:no_code', 'agent.uninstall_code.issued:', 'agent.uninstall.refused:wrong_code', 'agent.uninstall.accepted:accepted']);
  const issuedRecords = (await collector.rest.expect<{ items: Array<{ action: string; after: unknown; before: unknown }> }>(200, 'GET', `/api/v1/audit?action=agent.uninstall_code.issued&subjectId=${status.agentId}`)).items;
  assert.equal(issuedRecords.length, 1);
  assert.doesNotMatch(JSON.stringify(issuedRecords), new RegExp(issued.code), 'the code itself is never in the audit log');
});

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}
