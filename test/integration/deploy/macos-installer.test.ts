import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join, relative } from 'node:path';
import { parse, type PlistObject } from 'plist';
import { skipOrFail } from '../../support/prerequisites';
import { REPO_ROOT } from '../../support/processes';
import { makeTempDir } from '../../support/temp-dir';

// deploy/agent/macos (launchd plist, install.sh) and every shell script under deploy/agent.
// There is no Mac here: the plist is parsed, the scripts are syntax-checked (sh -n, bash -n,
// shellcheck), and the macOS install.sh runs on this Linux machine into a temporary root with
// --no-launchd. launchctl and a real enrollment on macOS have not been tried.
const AGENT_DEPLOY = join(REPO_ROOT, 'deploy', 'agent');
const MACOS_DIR = join(AGENT_DEPLOY, 'macos');
const LABEL = 'jp.mamori.agent';

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

const shellScripts = () => walk(AGENT_DEPLOY).filter((file) => file.endsWith('.sh'));

test('the launchd plist parses and keeps the agent alive with its logs and the bundled node', () => {
  const plist = parse(readFileSync(join(MACOS_DIR, `${LABEL}.plist`), 'utf8')) as PlistObject;
  assert.equal(plist.Label, LABEL);
  assert.deepEqual(plist.ProgramArguments, ['@PREFIX@/current/node/bin/node', '@PREFIX@/current/app/main.js', 'run', '--state-dir', '@STATE_DIR@']);
  assert.equal(plist.RunAtLoad, true);
  assert.equal(plist.KeepAlive, true);
  assert.equal(typeof plist.ThrottleInterval, 'number');
  assert.ok((plist.ThrottleInterval as number) >= 5);
  assert.equal(plist.StandardOutPath, '@LOG_DIR@/agent.log');
  assert.equal(plist.StandardErrorPath, '@LOG_DIR@/agent.log');
  assert.equal(plist.Umask, 0o077);
  assert.deepEqual(plist.EnvironmentVariables, { MAMORI_AGENT_STATE_DIR: '@STATE_DIR@' });
  // A daemon runs as root unless UserName says otherwise; the agent needs root to enforce.
  assert.equal(plist.UserName, undefined);
});

test('every shell script under deploy/agent passes sh -n and bash -n, and a broken one does not', (t) => {
  const scripts = shellScripts();
  assert.ok(scripts.some((file) => file.includes('/macos/')), `no macOS script among ${scripts.join(', ')}`);
  for (const script of scripts) {
    for (const shell of ['sh', 'bash']) {
      const check = spawnSync(shell, ['-n', script], { encoding: 'utf8' });
      assert.equal(check.status, 0, `${shell} -n ${relative(REPO_ROOT, script)}:\n${check.stderr}`);
    }
  }
  t.diagnostic(`checked ${scripts.map((file) => relative(AGENT_DEPLOY, file)).join(', ')}`);
  const broken = makeTempDir('mamori-sh-');
  t.after(() => broken.cleanup());
  writeFileSync(join(broken.path, 'broken.sh'), readFileSync(join(MACOS_DIR, 'install.sh'), 'utf8').replace(/\nfi\n/, '\n'));
  assert.notEqual(spawnSync('sh', ['-n', join(broken.path, 'broken.sh')]).status, 0);
});

test('every shell script under deploy/agent is clean under shellcheck (POSIX sh)', (t) => {
  if (spawnSync('shellcheck', ['--version'], { stdio: 'ignore' }).status !== 0) {
    return skipOrFail(t, 'shellcheck is not installed (Debian package shellcheck)');
  }
  const scripts = shellScripts();
  assert.ok(scripts.length >= 3, scripts.join(', '));
  const check = spawnSync('shellcheck', ['--shell=sh', '--format=gcc', ...scripts], { encoding: 'utf8' });
  assert.equal(check.status, 0, check.stdout + check.stderr);
});

/**
 * A folder shaped like an unpacked darwin bundle: the files of deploy/agent/macos at the top,
 * a launcher, VERSION and a MANIFEST.sha256 over them. The installer only copies and checks
 * these; it runs no agent program when the state folder already holds an enrollment. `launcher`
 * replaces bin/mamori-agent (a script that records how the installer called it).
 */
function bundleShapedFolder(parent: string, launcher = '#!/bin/sh\nexec "$(dirname "$0")/../node/bin/node" "$(dirname "$0")/../app/main.js" "$@"\n'): string {
  const top = join(parent, 'mamori-agent-0.0.0-darwin-x64');
  cpSync(MACOS_DIR, top, { recursive: true });
  mkdirSync(join(top, 'bin'));
  writeFileSync(join(top, 'bin', 'mamori-agent'), launcher, { mode: 0o755 });
  mkdirSync(join(top, 'app'));
  writeFileSync(join(top, 'app', 'main.js'), '// the compiled agent goes here in a real bundle\n');
  writeFileSync(join(top, 'VERSION'), '0.0.0\n');
  const manifest = walk(top)
    .map((file) => `${createHash('sha256').update(readFileSync(file)).digest('hex')}  ${relative(top, file)}\n`)
    .join('');
  writeFileSync(join(top, 'MANIFEST.sha256'), manifest);
  return top;
}

test('the macOS install.sh installs into a root folder: release, current link, plist, owner-only state, install.conf', (t) => {
  if (spawnSync('shasum', ['--version'], { stdio: 'ignore' }).status !== 0) return skipOrFail(t, 'shasum is not installed (Debian package perl)');
  const work = makeTempDir('mamori-macos-install-');
  t.after(() => work.cleanup());
  const bundle = bundleShapedFolder(work.path);
  const root = join(work.path, 'root');
  const stateDir = '/Library/Application Support/mamori-agent';
  // An existing enrollment (as after a first install): install.sh keeps it and needs no token.
  mkdirSync(join(root, stateDir), { recursive: true });
  writeFileSync(join(root, stateDir, 'agent.json'), '{}\n');
  const install = (...extra: string[]) =>
    spawnSync('sh', [join(bundle, 'install.sh'), '--root', root, '--no-launchd', ...extra], { encoding: 'utf8' });

  const first = install();
  assert.equal(first.status, 0, first.stdout + first.stderr);
  assert.match(first.stdout, /already holds an enrollment; keeping it/);
  const prefix = join(root, 'usr/local/mamori-agent');
  assert.equal(readlinkSync(join(prefix, 'current')), 'releases/mamori-agent-0.0.0-darwin-x64');
  assert.equal(readFileSync(join(prefix, 'current', 'VERSION'), 'utf8'), '0.0.0\n');
  assert.equal(readlinkSync(join(root, 'usr/local/bin/mamori-agent')), '/usr/local/mamori-agent/current/bin/mamori-agent');
  assert.equal(statSync(join(root, stateDir)).mode & 0o777, 0o700);
  assert.equal(statSync(join(root, 'Library/Logs/mamori-agent')).mode & 0o777, 0o700);

  const plistFile = join(root, 'Library/LaunchDaemons', `${LABEL}.plist`);
  assert.equal(statSync(plistFile).mode & 0o777, 0o644);
  const plist = parse(readFileSync(plistFile, 'utf8')) as PlistObject;
  assert.deepEqual(plist.ProgramArguments, [
    '/usr/local/mamori-agent/current/node/bin/node', '/usr/local/mamori-agent/current/app/main.js', 'run', '--state-dir', stateDir,
  ]);
  assert.equal(plist.StandardErrorPath, '/Library/Logs/mamori-agent/agent.log');
  assert.doesNotMatch(readFileSync(plistFile, 'utf8'), /@[A-Z_]+@/);

  const conf = readFileSync(join(prefix, 'install.conf'), 'utf8');
  assert.match(conf, /^PREFIX='\/usr\/local\/mamori-agent'$/m);
  assert.match(conf, /^STATE_DIR='\/Library\/Application Support\/mamori-agent'$/m);
  assert.match(conf, /^VERSION='0\.0\.0'$/m);
  // install.conf is read with `.` by the uninstaller: it must be valid sh.
  const sourced = spawnSync('sh', ['-c', `. "$1" && printf '%s|%s' "$PREFIX" "$STATE_DIR"`, 'sh', join(prefix, 'install.conf')], { encoding: 'utf8' });
  assert.equal(sourced.stdout, `/usr/local/mamori-agent|${stateDir}`);

  // Again: the same release is kept, nothing breaks.
  const again = install();
  assert.equal(again.status, 0, again.stdout + again.stderr);
  assert.equal(lstatSync(join(prefix, 'current')).isSymbolicLink(), true);
  assert.deepEqual(readdirSync(join(prefix, 'releases')), ['mamori-agent-0.0.0-darwin-x64']);
});

test('the macOS install.sh hands --zone to the enrollment, and on an enrolled Mac ignores it, saying so', (t) => {
  if (spawnSync('shasum', ['--version'], { stdio: 'ignore' }).status !== 0) return skipOrFail(t, 'shasum is not installed (Debian package perl)');
  const work = makeTempDir('mamori-macos-install-');
  t.after(() => work.cleanup());
  const calls = join(work.path, 'calls');
  // The enrollment itself is tested against a real collector on Linux (agent-install e2e): here the
  // agent program records its arguments and enrolls the way the real one does (agent.json written).
  const bundle = bundleShapedFolder(
    work.path,
    `#!/bin/sh\nprintf '%s\\n' "$@" >> '${calls}'\nwhile [ $# -gt 0 ]; do [ "$1" = --state-dir ] && echo '{}' > "$2/agent.json"; shift; done\n`,
  );
  const root = join(work.path, 'root');
  mkdirSync(root);
  const stateDir = '/Library/Application Support/mamori-agent';
  const install = (...args: string[]) => spawnSync('sh', [join(bundle, 'install.sh'), '--root', root, '--no-launchd', ...args], { encoding: 'utf8' });

  const first = install('--server', 'collector.example:50051', '--token', 'T', '--zone', 'dev-lan');
  assert.equal(first.status, 0, first.stdout + first.stderr);
  assert.deepEqual(readFileSync(calls, 'utf8').split('\n').filter(Boolean), ['enroll', '--server', 'collector.example:50051', '--token', 'T', '--zone', 'dev-lan', '--state-dir', join(root, stateDir)]);

  const again = install('--zone', 'office-lan');
  assert.equal(again.status, 0, again.stdout + again.stderr);
  assert.match(again.stderr, /--zone office-lan ignored: this Mac is already enrolled; change the zone .* from the console/);
  assert.equal(readFileSync(calls, 'utf8').split('\n').filter(Boolean).length, 9, 'no second enrollment');
  assert.equal(install('--zone').status, 2);
});

test('the macOS install.sh refuses a tampered bundle, a missing token and bad options', (t) => {
  if (spawnSync('shasum', ['--version'], { stdio: 'ignore' }).status !== 0) return skipOrFail(t, 'shasum is not installed (Debian package perl)');
  const work = makeTempDir('mamori-macos-install-');
  t.after(() => work.cleanup());
  const bundle = bundleShapedFolder(work.path);
  const root = join(work.path, 'root');
  mkdirSync(root);
  const install = (...args: string[]) => spawnSync('sh', [join(bundle, 'install.sh'), '--root', root, '--no-launchd', ...args], { encoding: 'utf8' });

  // Not enrolled yet: server and token are required.
  const noToken = install('--server', 'collector.example:50051');
  assert.equal(noToken.status, 1);
  assert.match(noToken.stderr, /--token TOKEN is required/);
  assert.equal(install('--server', 'no-port').status, 2);
  assert.equal(install('--prefix', 'relative/path').status, 2);
  assert.equal(install('--state-dir', '/tmp/a|b').status, 2);
  assert.equal(install('--bogus').status, 2);

  const launcher = join(bundle, 'bin', 'mamori-agent');
  writeFileSync(launcher, `${readFileSync(launcher, 'utf8')}# changed\n`);
  chmodSync(launcher, 0o755);
  const tampered = install('--server', 'collector.example:50051', '--token', 'T');
  assert.equal(tampered.status, 1);
  assert.match(tampered.stderr, /does not match its MANIFEST\.sha256/);
  assert.equal(existsSync(join(root, 'usr/local/mamori-agent')), false, 'nothing is installed from a tampered bundle');
});

test('the macOS uninstall.sh removes nothing when mamori-agent uninstall does not accept the code, and needs a code', (t) => {
  if (spawnSync('shasum', ['--version'], { stdio: 'ignore' }).status !== 0) return skipOrFail(t, 'shasum is not installed (Debian package perl)');
  const work = makeTempDir('mamori-macos-uninstall-');
  t.after(() => work.cleanup());
  const bundle = bundleShapedFolder(work.path);
  const root = join(work.path, 'root');
  const stateDir = '/Library/Application Support/mamori-agent';
  mkdirSync(join(root, stateDir), { recursive: true });
  writeFileSync(join(root, stateDir, 'agent.json'), '{}\n');
  const installed = spawnSync('sh', [join(bundle, 'install.sh'), '--root', root, '--no-launchd'], { encoding: 'utf8' });
  assert.equal(installed.status, 0, installed.stdout + installed.stderr);
  const uninstaller = join(root, 'usr/local/mamori-agent/current/uninstall.sh');
  assert.ok(existsSync(uninstaller), 'uninstall.sh is installed with the release');

  assert.equal(spawnSync('sh', [uninstaller, '--root', root, '--no-launchd'], { encoding: 'utf8' }).status, 2);
  // The bundle-shaped folder has no runtime, so `mamori-agent uninstall` fails as a refusal would.
  const refused = spawnSync('sh', [uninstaller, '--root', root, '--no-launchd', '--code', 'ABCD-EFGH'], { encoding: 'utf8' });
  assert.equal(refused.status, 1, refused.stdout + refused.stderr);
  assert.match(refused.stderr, /did not accept the uninstall code; nothing was removed/);
  for (const kept of ['usr/local/mamori-agent/current/VERSION', `Library/LaunchDaemons/${LABEL}.plist`, join(stateDir, 'agent.json'), 'usr/local/bin/mamori-agent']) {
    assert.ok(existsSync(join(root, kept)) || lstatSync(join(root, kept)).isSymbolicLink(), `${kept} was removed`);
  }
});
