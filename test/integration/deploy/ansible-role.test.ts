import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { skipOrFail } from '../../support/prerequisites';
import { REPO_ROOT } from '../../support/processes';
import { makeTempDir } from '../../support/temp-dir';
import { startTestCollector } from '../server/collector-harness';
import { packAgentBundle } from './agent-bundle';

// deploy/ansible: the mamori_agent role, its example playbooks, checked with Debian's ansible.
const ANSIBLE_DIR = join(REPO_ROOT, 'deploy', 'ansible');
const ROLE_DIR = join(ANSIBLE_DIR, 'roles', 'mamori_agent');

function haveAnsible(): boolean {
  return spawnSync('ansible-playbook', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** ansible-playbook with its home and temp folders in `home`, so a test leaves nothing behind. */
function ansiblePlaybook(args: string[], cwd: string, home: string) {
  const result = spawnSync('ansible-playbook', args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, ANSIBLE_HOME: home, ANSIBLE_LOCAL_TEMP: join(home, 'tmp'), ANSIBLE_NOCOLOR: '1' },
    timeout: 120_000,
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/**
 * The same, without blocking this process: the collector that install.sh enrolls against runs
 * in this process and must keep answering.
 */
function ansiblePlaybookAsync(args: string[], cwd: string, home: string): Promise<{ status: number | null; output: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('ansible-playbook', args, {
      cwd,
      env: { ...process.env, ANSIBLE_HOME: home, ANSIBLE_LOCAL_TEMP: join(home, 'tmp'), ANSIBLE_NOCOLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolvePromise({ status, output });
    });
  });
}

test('the rollout and uninstall playbooks pass ansible-playbook --syntax-check', (t) => {
  if (!haveAnsible()) return skipOrFail(t, 'ansible-playbook is not installed (Debian package ansible-core)');
  const home = makeTempDir('mamori-ansible-');
  t.after(() => home.cleanup());
  for (const playbook of ['playbook.yml', 'uninstall.yml']) {
    const started = Date.now();
    const result = ansiblePlaybook(['--syntax-check', playbook], ANSIBLE_DIR, home.path);
    assert.equal(result.status, 0, `${playbook}:\n${result.output}`);
    t.diagnostic(`${playbook}: syntax check passed in ${Date.now() - started} ms`);
  }
});

test('the syntax check fails on a broken task file (so the check above can fail)', (t) => {
  if (!haveAnsible()) return skipOrFail(t, 'ansible-playbook is not installed (Debian package ansible-core)');
  const copy = makeTempDir('mamori-ansible-');
  t.after(() => copy.cleanup());
  cpSync(ANSIBLE_DIR, join(copy.path, 'ansible'), { recursive: true });
  const tasks = join(copy.path, 'ansible', 'roles', 'mamori_agent', 'tasks', 'install.yml');
  // A task naming no module is a syntax error the check must report.
  writeFileSync(tasks, `${readFileSync(tasks, 'utf8')}\n- name: A task with no module\n  when: true\n`);
  const result = ansiblePlaybook(['--syntax-check', 'playbook.yml'], join(copy.path, 'ansible'), join(copy.path, 'home'));
  assert.notEqual(result.status, 0, result.output);
  assert.match(result.output, /no module\/action detected in task|A task with no module/i);
});

test('every variable the role reads is documented in defaults/main.yml with a comment', () => {
  const defaults = readFileSync(join(ROLE_DIR, 'defaults', 'main.yml'), 'utf8');
  const documented = new Map<string, boolean>();
  const lines = defaults.split('\n');
  lines.forEach((line, index) => {
    const key = /^(mamori_agent_\w+):/.exec(line)?.[1];
    if (key === undefined) return;
    // A comment right above the key, or above the block of keys it belongs to.
    let above = index - 1;
    while (above >= 0 && /^mamori_agent_\w+:/.test(lines[above])) above -= 1;
    documented.set(key, above >= 0 && lines[above].startsWith('#'));
  });
  const used = new Set<string>();
  for (const folder of ['tasks', 'handlers']) {
    for (const file of readdirSync(join(ROLE_DIR, folder))) {
      for (const match of readFileSync(join(ROLE_DIR, folder, file), 'utf8').matchAll(/\bmamori_agent_\w+/g)) used.add(match[0]);
    }
  }
  assert.ok(used.size > 5, `expected the role to read its variables, found ${[...used].join(', ')}`);
  for (const name of used) {
    assert.ok(documented.has(name), `${name} is used by the role but not defined in defaults/main.yml`);
    assert.ok(documented.get(name), `${name} has no comment in defaults/main.yml`);
  }
  for (const name of ['mamori_agent_server', 'mamori_agent_enrollment_token', 'mamori_agent_bundle']) {
    assert.match(defaults, new RegExp(`required[^\\n]*\\n(#[^\\n]*\\n)*${name}:`), `${name} is not marked required`);
  }
});

test('the enrollment token never reaches the output: every command given it has no_log', () => {
  const install = readFileSync(join(ROLE_DIR, 'tasks', 'install.yml'), 'utf8');
  // One chunk per task, nested ones (in a block) included.
  const tasks = install.split(/\n(?=\s*- name: )/);
  const withToken = tasks.filter((task) => /mamori_agent_enrollment_token/.test(task) && /ansible\.builtin\.(command|shell|script|raw):/.test(task));
  assert.ok(withToken.length >= 1, 'expected the install.sh task to be given the token');
  for (const task of withToken) assert.match(task, /\n\s+no_log: true/, `task without no_log:\n${task}`);
  // The failure message masks the token.
  assert.match(install, /replace\(mamori_agent_enrollment_token, '\*+'\)/);
});

test('the role installs, enrolls (required in mamori_agent_zone) and then leaves alone a host (localhost into a temporary root), spending one token use; the uninstall playbook needs the device code', async (t) => {
  if (!haveAnsible()) return skipOrFail(t, 'ansible-playbook is not installed (Debian package ansible-core)');
  if (process.platform !== 'linux' || process.arch !== 'x64') return skipOrFail(t, 'the role run installs the linux-x64 bundle; this is not linux-x64');
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return skipOrFail(t, 'install.sh with --root still writes owner-only state as root; run as root');
  const collector = await startTestCollector(t, 'sqlite');
  if (collector === null) return;
  const work = makeTempDir('mamori-ansible-run-');
  t.after(() => work.cleanup());
  const packed = await packAgentBundle(work.path);
  t.diagnostic(`bundle ${(packed.archiveBytes / 1048576).toFixed(1)} MB packed in ${packed.packMs} ms`);
  const created = await collector.rest<{ id: string; token: string }>('POST', '/api/v1/enrollment-tokens', { label: 'ansible rollout', maxUses: 3, expiresInSeconds: 3600 });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal((await collector.rest('POST', '/api/v1/zones', { name: 'dev-lan', cidrs: ['10.20.0.0/16'], mode: 'audit' })).status, 201);

  const root = join(work.path, 'root');
  mkdirSync(root);
  const inventory = join(work.path, 'inventory.ini');
  writeFileSync(inventory, `[mamori_agents]\nlocalhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n`);
  const vars = join(work.path, 'vars.json');
  writeFileSync(vars, JSON.stringify({
    mamori_agent_bundle: packed.archive,
    mamori_agent_server: collector.grpcTarget,
    mamori_agent_enrollment_token: created.body.token,
    mamori_agent_zone: 'dev-lan',
    mamori_agent_root: root,
    mamori_agent_manage_service: false,
    mamori_agent_stage_dir: join(work.path, 'stage'),
    // Already root: no sudo.
    ansible_become: false,
  }));
  const home = join(work.path, 'ansible-home');
  const run = async () => {
    const started = Date.now();
    const result = await ansiblePlaybookAsync(['-i', inventory, '-e', `@${vars}`, 'playbook.yml'], ANSIBLE_DIR, home);
    return { ...result, ms: Date.now() - started };
  };
  const recap = (output: string) => /localhost\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/.exec(output);

  // A revoked token: install.sh fails at enrollment; the failure says so without the token.
  const revoked = await collector.rest<{ id: string; token: string }>('POST', '/api/v1/enrollment-tokens', { label: 'revoked', maxUses: 1 });
  assert.equal((await collector.rest('POST', `/api/v1/enrollment-tokens/${revoked.body.id}/revoke`)).status, 200);
  writeFileSync(vars, JSON.stringify({ ...JSON.parse(readFileSync(vars, 'utf8')), mamori_agent_enrollment_token: revoked.body.token }));
  const refused = await run();
  assert.notEqual(refused.status, 0, refused.output);
  assert.equal(recap(refused.output)?.[4], '1', refused.output);
  assert.match(refused.output, /Run install\.sh[^\n]* failed on localhost with exit code 1:[^\n]*enrollment failed/);
  assert.ok(!refused.output.includes(revoked.body.token), 'the revoked token appears in the ansible output');
  assert.equal(existsSync(join(work.path, 'stage')), false, 'the staging folder is removed after a failure too');
  writeFileSync(vars, JSON.stringify({ ...JSON.parse(readFileSync(vars, 'utf8')), mamori_agent_enrollment_token: created.body.token }));

  // The good token: the host has the files but no enrollment, so the role installs again and enrolls.
  const first = await run();
  assert.equal(first.status, 0, first.output);
  assert.ok(!first.output.includes(created.body.token), 'the token appears in the ansible output');
  assert.ok(Number(recap(first.output)?.[2]) > 0, first.output);
  t.diagnostic(`first run (install and enroll): ${first.ms} ms`);

  const agent = join(root, 'opt/mamori-agent/current/bin/mamori-agent');
  const status = spawnSync(agent, ['status', '--state-dir', join(root, 'var/lib/mamori-agent'), '--json'], { encoding: 'utf8' });
  assert.equal(status.status, 0, status.stdout + status.stderr);
  const agentId = (JSON.parse(status.stdout) as { agentId: string }).agentId;
  const listed = await collector.rest<{ items: Array<{ id: string; requiredZone: string | null }> }>('GET', '/api/v1/agents');
  assert.equal(listed.body.items.find((item) => item.id === agentId)?.requiredZone, 'dev-lan', `agent ${agentId} is not listed by the collector required in mamori_agent_zone`);
  assert.ok(existsSync(join(root, 'etc/systemd/system/mamori-agent.service')));
  assert.equal(existsSync(join(work.path, 'stage')), false, 'the staging folder is removed');

  // Enrolled with the same version: nothing changes and no token use is spent.
  const second = await run();
  assert.equal(second.status, 0, second.output);
  assert.equal(recap(second.output)?.[2], '0', `the second run changed something:\n${second.output}`);
  t.diagnostic(`second run (nothing to do): ${second.ms} ms`);
  const tokens = await collector.rest<{ items: Array<{ id: string; uses: number }> }>('GET', '/api/v1/enrollment-tokens');
  assert.equal(tokens.body.items.find((item) => item.id === created.body.id)?.uses, 1);

  // The uninstall playbook: a wrong code removes nothing, the code issued for the device removes it.
  const uninstall = (code: string) =>
    ansiblePlaybookAsync(['-i', inventory, '-e', `@${vars}`, '-e', `mamori_agent_uninstall_code=${code}`, 'uninstall.yml'], ANSIBLE_DIR, home);
  const issued = await collector.rest<{ code: string }>('POST', `/api/v1/agents/${agentId}/uninstall-code`);
  assert.equal(issued.status, 201, JSON.stringify(issued.body));
  const wrong = await uninstall(`${issued.body.code.slice(0, -1)}${issued.body.code.endsWith('0') ? '1' : '0'}`);
  assert.notEqual(wrong.status, 0, wrong.output);
  assert.ok(existsSync(agent), 'a refused code removed the agent');
  const removed = await uninstall(issued.body.code);
  assert.equal(removed.status, 0, removed.output);
  assert.equal(existsSync(join(root, 'opt/mamori-agent')), false);
  assert.equal(existsSync(join(root, 'var/lib/mamori-agent')), false);
  assert.equal(existsSync(join(root, 'etc/systemd/system/mamori-agent.service')), false);
  const after = await collector.rest<{ status: string }>('GET', `/api/v1/agents/${agentId}`);
  assert.equal(after.body.status, 'revoked');
});
