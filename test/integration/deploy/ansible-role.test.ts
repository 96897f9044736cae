import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { skipOrFail } from '../../support/prerequisites';
import { REPO_ROOT } from '../../support/processes';
import { makeTempDir } from '../../support/temp-dir';

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
