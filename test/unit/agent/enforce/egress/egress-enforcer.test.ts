import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../../../support/processes';
import { makeTempDir } from '../../../../support/temp-dir';
import { createEgressEnforcer, nftablesUnavailableReason } from '../../../../../agent/src/enforce/egress/egress-enforcer-selector';
import { FakeEgressEnforcer } from '../../../../../agent/src/enforce/egress/backends/fake';
import type { AddressAnswer, HostResolver } from '../../../../../agent/src/enforce/egress/dns-refresher';
import type { EgressAttempt } from '../../../../../agent/src/enforce/egress/egress-enforcer';
import { CommandError, processCommandRunner, type CommandRunner } from '../../../../../agent/src/facts/command-runner';
import { TransportProtocol } from '../../../../../agent/src/generated/mamori/v1/common';
import { ZoneEnforcementMode } from '../../../../../agent/src/generated/mamori/v1/policy';
import { createLogger } from '../../../../../agent/src/logging/logger';
import { ManualClock, entry, plan } from './support';

const logger = createLogger('error');
const fixtureDir = join(REPO_ROOT, 'test/fixtures/agent/nftables');
const M = ZoneEnforcementMode;

test('why nftables cannot be used: another platform, or not root', () => {
  assert.match(nftablesUnavailableReason({ platform: 'darwin' }) ?? '', /no firewall on darwin.*egress proxy/);
  assert.match(nftablesUnavailableReason({ platform: 'linux', isRoot: () => false }) ?? '', /not running as root/);
});

test('unsupported: says why, accepts OFF, rejects AUDIT and ENFORCE with the reason', async () => {
  const sut = createEgressEnforcer('unsupported', { logger, runner: processCommandRunner, platform: 'win32' });
  assert.equal(sut.backend, 'unsupported');
  assert.deepEqual(sut.capability(), { available: false, reason: 'the agent programs no firewall on win32 in this build; the egress proxy is the portable path' });
  await sut.apply(plan([], M.ZONE_ENFORCEMENT_MODE_OFF));
  await assert.rejects(sut.apply(plan([], M.ZONE_ENFORCEMENT_MODE_ENFORCE)), /no firewall on win32/);
  await sut.close();
});

test('nftables capability: Linux, root and nft are all required, each with its reason', () => {
  const on = (platform: NodeJS.Platform, root: boolean) => createEgressEnforcer('nftables', { logger, runner: processCommandRunner, platform, isRoot: () => root }).capability();
  assert.match(on('darwin', true).reason, /only on Linux/);
  assert.match(on('linux', false).reason, /not running as root/);
  const missing = createEgressEnforcer('nftables', { logger, runner: processCommandRunner, platform: 'linux', isRoot: () => true, nftables: { nft: { file: '/nonexistent/nft', prefixArgs: [] } } });
  assert.deepEqual(missing.capability(), { available: false, reason: '/nonexistent/nft is not installed (Debian package nftables)' });
});

test('fake: records plans (and writes them as JSON lines), delivers injected attempts, from a file too', async () => {
  const temp = makeTempDir();
  try {
    const plansFile = join(temp.path, 'plans.jsonl');
    const attemptsFile = join(temp.path, 'attempts.jsonl');
    writeFileSync(attemptsFile, '{"ip": "192.0.2.1", "port": 1}\n'); // from an earlier run: ignored
    const sut = createEgressEnforcer('fake', { logger, runner: processCommandRunner, fake: { plansFile, attemptsFile, pollMs: 20, addressesOf: () => ['192.0.2.80'] } }) as FakeEgressEnforcer;
    const seen: EgressAttempt[] = [];
    sut.onAttempt((a) => seen.push(a));
    await sut.apply(plan([entry({ entryId: 'e1', hostPattern: 'git.example.com', ports: [{ first: 22, last: 22 }], protocol: TransportProtocol.TRANSPORT_PROTOCOL_TCP })], M.ZONE_ENFORCEMENT_MODE_AUDIT));
    assert.equal(sut.plans.length, 1);
    sut.inject({ ip: '192.0.2.9', port: 443 });
    assert.deepEqual([seen[0].ip, seen[0].decision, seen[0].attempts], ['192.0.2.9', 'audited', 1]);
    writeFileSync(attemptsFile, '{"ip": "192.0.2.1", "port": 1}\n{"ip": "198.51.100.4", "port": 25, "protocol": "TRANSPORT_PROTOCOL_UDP", "decision": "blocked", "attempts": 4}\n');
    const deadline = Date.now() + 3000;
    while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual([seen[1].ip, seen[1].protocol, seen[1].decision, seen[1].attempts], ['198.51.100.4', TransportProtocol.TRANSPORT_PROTOCOL_UDP, 'blocked', 4]);
    await sut.close();
    const records = readFileSync(plansFile, 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    assert.deepEqual(records.map((r) => [r.action, r.mode]), [['apply', 'audit'], ['remove', 'off']]);
    assert.deepEqual(records[0].hostNames, ['git.example.com']);
    assert.deepEqual(records[0].allowed, ['192.0.2.80 . tcp . 22']);
  } finally {
    temp.cleanup();
  }
});

/** nft as the backend sees it: scripts given to `-f` are kept; listings come from the test's state. */
class ScriptedNft implements CommandRunner {
  readonly scripts: string[] = [];
  readonly calls: string[][] = [];
  table: string | null = null;

  async run(file: string, args: readonly string[]) {
    this.calls.push([file, ...args]);
    if (file === 'getent') {
      const names: Record<string, string> = { '0': 'root:x:0:0:root:/root:/bin/bash\n', '65534': 'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' };
      if (names[args[1]] === undefined) throw new CommandError('getent failed', 'failed', 2);
      return { stdout: names[args[1]], stderr: '' };
    }
    if (args[0] === '-f') {
      const script = readFileSync(args[1], 'utf8');
      this.scripts.push(script);
      if (script.includes('delete table inet mamori_egress')) this.table = script.includes('comment "mamori-agent') ? script : null;
      return { stdout: '', stderr: '' };
    }
    if (args[0] === 'list' && args[1] === 'table') {
      if (this.table === null) throw new CommandError('nft failed', 'failed', 1, 'Error: No such file or directory\nlist table inet mamori_egress\n');
      return { stdout: this.table, stderr: '' };
    }
    if (args[0] === '-j' && args[4] === 'mamori_egress') {
      return { stdout: readFileSync(join(fixtureDir, `nft-j-list-set-${args[5]}.json`), 'utf8'), stderr: '' };
    }
    throw new Error(`unexpected command ${file} ${args.join(' ')}`);
  }
}

class TableResolver implements HostResolver {
  answers = new Map<string, AddressAnswer[]>();
  async resolve4(name: string) {
    return this.answers.get(name) ?? [];
  }
  async resolve6() {
    return [];
  }
}

function nftables(nft: ScriptedNft, over: { resolver?: HostResolver; clock?: ManualClock; monitorFixture?: string } = {}) {
  const temp = makeTempDir();
  const monitorScript = over.monitorFixture === undefined ? 'setInterval(() => {}, 1000)' : `process.stdout.write(require('fs').readFileSync(${JSON.stringify(join(fixtureDir, over.monitorFixture))})); setInterval(() => {}, 1000)`;
  const monitors: string[][] = [];
  const sut = createEgressEnforcer('nftables', {
    logger,
    runner: nft,
    platform: 'linux',
    isRoot: () => true,
    nftables: {
      nft: { file: process.execPath, prefixArgs: [] },
      resolver: over.resolver ?? new TableResolver(),
      clock: over.clock,
      procRoot: temp.path,
      spawnMonitor: (file, args) => {
        monitors.push([file, ...args]);
        return spawn(process.execPath, ['-e', monitorScript], { stdio: ['ignore', 'pipe', 'pipe'] });
      },
    },
  });
  return { sut, monitors, cleanup: async () => { await sut.close(); temp.cleanup(); } };
}

test('nftables: apply writes the table in one script; traced packets become attempts with the socket user; close removes the table', async () => {
  const nft = new ScriptedNft();
  const { sut, monitors, cleanup } = nftables(nft, { monitorFixture: 'nft-monitor-trace-enforce.txt' });
  try {
    const attempts: EgressAttempt[] = [];
    sut.onAttempt((a) => attempts.push(a));
    await sut.apply(plan([entry({ entryId: 'e1', cidr: '10.99.0.2', ports: [{ first: 8080, last: 8080 }], protocol: TransportProtocol.TRANSPORT_PROTOCOL_TCP })]));
    assert.equal(nft.scripts.length, 1);
    assert.match(nft.scripts[0], /^table inet mamori_egress \{\}\ndelete table inet mamori_egress\ntable inet mamori_egress \{/);
    assert.match(nft.scripts[0], /elements = \{ 10\.99\.0\.2 \. tcp \. 8080 \}/);
    assert.deepEqual(monitors, [[process.execPath, 'monitor', 'trace']]);
    const deadline = Date.now() + 5000;
    while (attempts.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(
      attempts.map((a) => [a.ip, a.port, a.protocol, a.decision, a.userName, a.sourceAddress, a.attempts, a.processId]),
      [
        ['10.99.0.2', 9090, TransportProtocol.TRANSPORT_PROTOCOL_TCP, 'blocked', 'root', '10.99.0.1', 1, 0],
        ['fd00:99::2', 9090, TransportProtocol.TRANSPORT_PROTOCOL_TCP, 'blocked', 'nobody', 'fd00:99::1', 1, 0],
        ['10.99.0.3', 7000, TransportProtocol.TRANSPORT_PROTOCOL_UDP, 'blocked', 'root', '10.99.0.1', 1, 0],
      ],
    );
    // Applying the same plan again writes the same table.
    await sut.apply(plan([entry({ entryId: 'e1', cidr: '10.99.0.2', ports: [{ first: 8080, last: 8080 }], protocol: TransportProtocol.TRANSPORT_PROTOCOL_TCP })]));
    assert.equal(nft.scripts[1], nft.scripts[0]);
  } finally {
    await cleanup();
  }
  assert.equal(nft.table, null);
  assert.equal(nft.scripts.at(-1), 'table inet mamori_egress {}\ndelete table inet mamori_egress\n');
});

test('nftables: another program\'s table of the same name is neither replaced nor removed', async () => {
  const nft = new ScriptedNft();
  nft.table = 'table inet mamori_egress {\n\tchain theirs {\n\t}\n}\n';
  const { sut, cleanup } = nftables(nft);
  try {
    await assert.rejects(sut.apply(plan([])), /did not write exists; refusing to replace/);
    await sut.remove();
    assert.equal(nft.scripts.length, 0);
  } finally {
    await cleanup();
  }
  assert.match(nft.table ?? '', /chain theirs/);
});

test('nftables: a DNS answer change swaps only the allow sets; OFF removes the table', async () => {
  const nft = new ScriptedNft();
  const clock = new ManualClock();
  const resolver = new TableResolver();
  resolver.answers.set('git.example.com', [{ address: '192.0.2.10', ttl: 30 }]);
  const { sut, cleanup } = nftables(nft, { resolver, clock });
  try {
    const p = plan([entry({ entryId: 'g', hostPattern: 'git.example.com', ports: [{ first: 22, last: 22 }], protocol: TransportProtocol.TRANSPORT_PROTOCOL_TCP })]);
    await sut.apply(p);
    assert.match(nft.scripts[0], /elements = \{ 192\.0\.2\.10 \. tcp \. 22 \}/);
    resolver.answers.set('git.example.com', [{ address: '192.0.2.11', ttl: 30 }]);
    clock.advance(30_000);
    const deadline = Date.now() + 3000;
    while (nft.scripts.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(
      nft.scripts[1],
      'add element inet mamori_egress allow4 { 192.0.2.11 . tcp . 22 }\n',
      'only the new address is added; the old one stays during its grace period',
    );
    // Grace (30 s after the old answer's TTL) ends: the old address goes.
    clock.advance(30_000);
    const graceDeadline = Date.now() + 3000;
    while (nft.scripts.length < 3 && Date.now() < graceDeadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(nft.scripts[2], 'delete element inet mamori_egress allow4 { 192.0.2.10 . tcp . 22 }\n');
    await sut.apply({ ...p, mode: M.ZONE_ENFORCEMENT_MODE_OFF });
    assert.equal(nft.table, null);
  } finally {
    await cleanup();
  }
});
