import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { CollectorUnderTest } from './support/cluster';
import { packAgentBundle } from '../integration/deploy/agent-bundle';
import { skipOrFail } from '../support/prerequisites';
import { REPO_ROOT, SERVER_BIN } from '../support/processes';
import { makeTempDir } from '../support/temp-dir';

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * What systemd does for the installed unit (ExecStart=<prefix>/boot/mamori-agent-boot run ...,
 * Restart=on-failure, RestartForceExitStatus=75): starts the boot script and starts it again when
 * it exits other than 0, after a short pause (systemd's RestartSec is 5 s; 300 ms here). Keeps every
 * exit code and the output, and stops the agent with SIGTERM as `systemctl stop` would.
 */
class Supervisor {
  readonly exits: Array<number | null> = [];
  readonly output: string[] = [];
  starts = 0;
  private child: ChildProcess | null = null;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly command: string,
    private readonly args: string[],
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  start(): void {
    this.starts++;
    const child = spawn(this.command, this.args, { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    for (const stream of [child.stdout!, child.stderr!]) stream.on('data', (chunk: Buffer) => this.output.push(...chunk.toString('utf8').split('\n').filter((l) => l !== '')));
    child.once('exit', (code) => {
      this.exits.push(code);
      this.child = null;
      if (!this.stopping && code !== 0) this.restartTimer = setTimeout(() => this.start(), 300);
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer !== null) clearTimeout(this.restartTimer);
    const child = this.child;
    if (child === null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

function filesUnder(root: string, dir = root): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(root, join(dir, entry.name)) : [relative(root, join(dir, entry.name)).split(sep).join('/')],
  );
}

/**
 * A bundle of `version` that cannot come up, made from an unpacked good one: its app entry exits 3
 * before any agent code runs, and its MANIFEST.sha256 is regenerated, so it passes every check the
 * collector and the agent make (it is what a bad release looks like, not a corrupted download).
 */
function brokenBundle(goodTop: string, workDir: string, version: string): string {
  const name = `mamori-agent-${version}-linux-x64`;
  const top = join(workDir, name);
  cpSync(goodTop, top, { recursive: true });
  writeFileSync(join(top, 'VERSION'), `${version}\n`);
  const pkg = JSON.parse(readFileSync(join(top, 'app/package.json'), 'utf8')) as { version: string };
  writeFileSync(join(top, 'app/package.json'), JSON.stringify({ ...pkg, version }, null, 2) + '\n');
  writeFileSync(join(top, 'app/main.js'), "process.stderr.write('broken release: exits before starting\\n');\nprocess.exit(3);\n");
  const manifest = filesUnder(top)
    .filter((file) => file !== 'MANIFEST.sha256')
    .sort()
    .map((file) => `${createHash('sha256').update(readFileSync(join(top, file))).digest('hex')}  ${file}\n`)
    .join('');
  writeFileSync(join(top, 'MANIFEST.sha256'), manifest);
  const archive = join(workDir, `${name}.tar.gz`);
  const tar = spawnSync('tar', ['-czf', archive, '-C', workDir, name], { encoding: 'utf8' });
  assert.equal(tar.status, 0, tar.stderr);
  return archive;
}

type AgentEvent = { payload: { state?: string; message?: string } };

// The upgrade proof: an agent installed by install.sh, started through the boot script under a
// restart-on-failure supervisor (as systemd would), learns a target version from its policy,
// downloads it over mutual TLS, checks it, swaps `current`, restarts on it and confirms once it
// reached the collector. Then a broken release: the agent swaps to it, it fails to start three
// times, the boot script puts the previous release back, which reports the rollback and does not
// try the broken version again.
test('an installed agent upgrades itself to the target version, and a release that does not come up is rolled back by the boot script and not retried', async (t) => {
  if (process.platform !== 'linux' || process.arch !== 'x64') return skipOrFail(t, 'the upgrade test runs the linux-x64 bundle; this is not linux-x64');
  const collector = await CollectorUnderTest.start(t, 'sqlite');
  if (collector === null) return;
  const work = makeTempDir('mamori-upgrade-');
  t.after(() => work.cleanup());

  const baseVersion = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const nextVersion = `${baseVersion}-upgrade.1`;
  const brokenVersion = `${baseVersion}-upgrade.2`;
  const first = await packAgentBundle(work.path);
  const second = await packAgentBundle(work.path, { version: nextVersion });
  t.diagnostic(`packed ${first.name} in ${first.packMs} ms and ${second.name} (--version) in ${second.packMs} ms; archive ${(second.archiveBytes / 1048576).toFixed(1)} MB`);
  assert.equal(readFileSync(join(second.top, 'VERSION'), 'utf8').trim(), nextVersion);
  assert.ok(existsSync(join(second.top, 'boot/mamori-agent-boot.sh')), 'the bundle ships the boot script');

  const root = join(work.path, 'root');
  spawnSync('mkdir', ['-p', root]);
  const { token } = await collector.createEnrollmentToken({ maxUses: 1 });
  const install = spawnSync('sh', [join(first.top, 'install.sh'), '--server', `127.0.0.1:${collector.grpcPort}`, '--token', token, '--root', root, '--no-systemd'], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, MAMORI_AGENT_LOG_LEVEL: 'warn' },
  });
  assert.equal(install.status, 0, install.stdout + install.stderr);
  const prefix = join(root, 'opt/mamori-agent');
  const state = join(root, 'var/lib/mamori-agent');
  const boot = join(prefix, 'boot/mamori-agent-boot');
  assert.equal(statSync(boot).mode & 0o777, 0o755);

  const supervisor = new Supervisor(boot, ['run', '--state-dir', state], {
    PATH: process.env.PATH,
    MAMORI_AGENT_USB_BACKEND: 'unsupported',
    MAMORI_AGENT_ENCRYPTION_BACKEND: 'unsupported',
    MAMORI_AGENT_EGRESS_BACKEND: 'unsupported',
    MAMORI_AGENT_HEARTBEAT_SECONDS: '1',
    MAMORI_AGENT_LOG_LEVEL: 'info',
  });
  t.after(() => supervisor.stop());
  supervisor.start();
  let passed = false;
  t.after(() => {
    // On failure, what the agent and the collector said last.
    if (!passed) t.diagnostic(`agent output (last 40 lines):\n${supervisor.output.slice(-40).join('\n')}\ncollector:\n${collector.process.output.slice(-40).join('\n')}`);
  });

  const fleet = () =>
    collector.rest.expect<{ target: { version: string } | null; items: Array<{ version: string; sha256: string; sizeBytes: number }>; agents: Array<{ agentId: string; runningVersion: string; onTarget: boolean }> }>(
      200,
      'GET',
      '/api/v1/agent-releases',
    );
  const agentId = (await eventually('the installed agent in the fleet view', async () => (await fleet()).agents.find((a) => a.runningVersion === baseVersion)))!.agentId;
  const events = async () => (await collector.rest.expect<{ items: AgentEvent[] }>(200, 'GET', `/api/v1/events?agentId=${agentId}&kind=agent_status&limit=200`)).items.map((e) => e.payload);

  // The release engineer stores the next version; the collector checks it is that bundle.
  // Run without blocking this process: a blocked event loop would reuse a REST connection the collector closed meanwhile.
  const add = (archive: string) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [SERVER_BIN, 'release', 'add', archive, '--json'], { env: { ...process.env, ...collector.env } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
      child.once('close', (status) => resolve({ status, stdout, stderr }));
    });
  const added = await add(second.archive);
  assert.equal(added.status, 0, added.stdout + added.stderr);
  assert.equal((JSON.parse(added.stdout) as { version: string }).version, nextVersion);
  assert.equal((await fleet()).agents[0]!.onTarget, true, 'no target set: every agent is on target');

  // IT sets the target: the policy push carries it, the agent downloads, swaps and restarts.
  const upgradeStarted = Date.now();
  await collector.rest.expect(200, 'PUT', '/api/v1/agent-releases/target', { version: nextVersion });
  await eventually('the agent running the target version', async () => {
    const view = (await fleet()).agents.find((a) => a.agentId === agentId);
    return view?.runningVersion === nextVersion && view.onTarget ? view : undefined;
  });
  const upgraded = await eventually('the upgrade confirmed', async () => (await events()).find((e) => e.state === 'AGENT_STATE_UPGRADED'));
  const upgradeMs = Date.now() - upgradeStarted;
  t.diagnostic(`target set -> download (${second.archiveBytes} bytes) -> verify -> swap -> restart -> confirmed: ${upgradeMs} ms`);
  assert.match(upgraded.message ?? '', new RegExp(`upgraded from ${baseVersion.replaceAll('.', '\\.')} to ${nextVersion.replaceAll('.', '\\.')}`));
  assert.equal(readlinkSync(join(prefix, 'current')), `releases/${second.name}`);
  assert.deepEqual(supervisor.exits, [75], 'the old version exited with the upgrade code once');
  assert.equal(existsSync(join(prefix, 'upgrade/trial')), false, 'the trial ended');
  assert.deepEqual(readdirSync(join(prefix, 'releases')).sort(), [first.name, second.name].sort(), 'the previous release is kept for a rollback');
  assert.deepEqual(readdirSync(join(state, 'upgrade')), [], 'the download was cleaned up');
  // status.json is rewritten within 2 s of a change.
  const statusText = () => spawnSync(join(prefix, 'current/bin/mamori-agent'), ['status', '--state-dir', state], { encoding: 'utf8' }).stdout;
  const upToDate = new RegExp(`^version: +${nextVersion.replaceAll('.', '\\.')}, target ${nextVersion.replaceAll('.', '\\.')}: up-to-date`, 'm');
  const status = await eventually('status showing the new version on target', async () => {
    const text = statusText();
    return upToDate.test(text) ? text : undefined;
  }, 10_000);
  assert.match(status, new RegExp(`^last upgrade: +${baseVersion.replaceAll('.', '\\.')} -> ${nextVersion.replaceAll('.', '\\.')}`, 'm'));

  // A release that passes every check but cannot start.
  const brokenArchive = brokenBundle(second.top, work.path, brokenVersion);
  const brokenAdded = await add(brokenArchive);
  assert.equal(brokenAdded.status, 0, brokenAdded.stdout + brokenAdded.stderr);
  const brokenName = `mamori-agent-${brokenVersion}-linux-x64`;
  const rollbackStarted = Date.now();
  await collector.rest.expect(200, 'PUT', '/api/v1/agent-releases/target', { version: brokenVersion });
  const rolledBack = await eventually('the rollback reported', async () => (await events()).find((e) => e.state === 'AGENT_STATE_UPGRADE_ROLLED_BACK'));
  t.diagnostic(`broken target set -> swapped -> 3 failed starts -> rolled back -> reported: ${Date.now() - rollbackStarted} ms`);
  assert.match(rolledBack.message ?? '', new RegExp(`to ${brokenVersion.replaceAll('.', '\\.')} rolled back: .*started 3 times without reaching the collector`));
  assert.equal(readlinkSync(join(prefix, 'current')), `releases/${second.name}`);
  // 75 (swap to the broken one), three failed starts of it (3), then the restored version runs.
  assert.deepEqual(supervisor.exits, [75, 75, 3, 3, 3]);
  assert.ok(supervisor.output.some((line) => line.includes(`mamori-agent-boot: rolled back from ${brokenName} to ${second.name}`)), supervisor.output.slice(-20).join('\n'));

  // Not retried: heartbeats continue on the restored version, nothing more is swapped or restarted.
  await new Promise((r) => setTimeout(r, 5_000));
  assert.deepEqual(supervisor.exits, [75, 75, 3, 3, 3]);
  assert.equal(readlinkSync(join(prefix, 'current')), `releases/${second.name}`);
  const view = (await fleet()).agents.find((a) => a.agentId === agentId)!;
  assert.deepEqual([view.runningVersion, view.onTarget], [nextVersion, false]);
  const after = statusText();
  assert.match(after, new RegExp(`^version: +${nextVersion.replaceAll('.', '\\.')}, target ${brokenVersion.replaceAll('.', '\\.')}: rolled-back`, 'm'));
  assert.match(after, /^ROLLED BACK: +.*started 3 times without reaching the collector/m);
  assert.equal((await events()).filter((e) => e.state === 'AGENT_STATE_UPGRADE_ROLLED_BACK').length, 1, 'reported once');
  // Upgrading and rolling back are not tampering: no release was reported as modified.
  assert.deepEqual((await events()).filter((e) => e.state === 'AGENT_STATE_INSTALL_MODIFIED'), []);
  passed = true;
});
