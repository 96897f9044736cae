import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileWhitelist } from '../../../agent/src/core/destinations/whitelist-matcher';
import { dnsHostResolver } from '../../../agent/src/enforce/egress/dns-refresher';
import type { EgressAttempt, EgressEnforcer, EgressPlan } from '../../../agent/src/enforce/egress/egress-enforcer';
import { createEgressEnforcer } from '../../../agent/src/enforce/egress/egress-enforcer-selector';
import { processCommandRunner } from '../../../agent/src/facts/command-runner';
import { TransportProtocol } from '../../../agent/src/generated/mamori/v1/common';
import { ZoneEnforcementMode, type WhitelistEntry } from '../../../agent/src/generated/mamori/v1/policy';
import { createLogger } from '../../../agent/src/logging/logger';
import { suiteScope } from '../../support/cleanup-scope';
import { skipOrFail } from '../../support/prerequisites';
import { RunningProcess } from '../../support/processes';
import { makeTempDir } from '../../support/temp-dir';

/*
 * The real nftables backend against real traffic, entirely inside two network namespaces this test
 * makes (a veth pair created directly inside them; addresses only there; the client namespace has
 * no default route, so nothing can leave): nft runs in the client namespace through
 * `ip netns exec`, the servers run in the server namespace. The only thing in the host namespace is
 * a DNS responder on a loopback UDP socket that the enforcer's resolver asks.
 */

const CLIENT = `mm-${process.pid}-c`;
const SERVER = `mm-${process.pid}-s`;
const NAME = 'svc.mamori.test';
const TCP = TransportProtocol.TRANSPORT_PROTOCOL_TCP;

function sh(file: string, args: string[]): { ok: boolean; out: string } {
  const result = spawnSync(file, args, { encoding: 'utf8', timeout: 20_000 });
  return { ok: result.status === 0, out: `${result.stdout ?? ''}${result.stderr ?? ''}` };
}

function nftIn(ns: string, ...args: string[]) {
  return sh('ip', ['netns', 'exec', ns, 'nft', ...args]);
}

function prerequisiteProblem(): string | null {
  if (process.platform !== 'linux') return 'network namespaces and nftables need Linux';
  if (process.getuid?.() !== 0) return 'creating network namespaces needs root';
  if (!sh('nft', ['--version']).ok) return 'nft (Debian package nftables) is not installed';
  if (!sh('ip', ['-V']).ok) return 'ip (iproute2) is not installed';
  return null;
}

/** The servers: HTTP-ish TCP answers on three address/port pairs (one IPv6) and a UDP echo. */
const SERVERS_SCRIPT = `
const net = require('net'), dgram = require('dgram');
const eps = [['10.99.0.2', 8080], ['10.99.0.2', 9090], ['10.99.0.3', 8080], ['fd00:99::2', 9090]];
let ready = 0;
const up = () => { if (++ready === eps.length + 1) console.log('ready'); };
for (const [host, port] of eps) net.createServer((s) => { s.on('error', () => {}); s.end('hello from ' + host + ':' + port); }).listen(port, host, up);
const udp = dgram.createSocket('udp4'); udp.on('message', (m, r) => udp.send(m, r.port, r.address)); udp.bind(7000, '10.99.0.3', up);
`;

/**
 * One connection attempt from the client namespace, optionally as another user; prints one JSON
 * line. The socket is held open for holdMs after the answer (TCP half-open: the servers close at
 * once) and a UDP socket without an answer for holdMs at least 1 s, so that the socket's owner can
 * still be seen in /proc when the attempt is reported. The tests that check the owner hold longer:
 * the agent's look into /proc can take a while on a busy machine.
 */
const PROBE_SCRIPT = `
const [kind, host, port, uid, hold] = process.argv.slice(1);
const holdMs = Number(hold);
if (uid) { process.setgid(Number(uid)); process.setuid(Number(uid)); }
const t0 = Date.now();
const done = (r) => { console.log(JSON.stringify({ ...r, ms: Date.now() - t0 })); };
if (kind === 'tcp') {
  const s = require('net').connect({ port: Number(port), host, allowHalfOpen: true });
  s.setTimeout(5000, () => { done({ ok: false, error: 'timeout' }); process.exit(0); });
  s.on('data', (d) => { done({ ok: true, data: String(d) }); setTimeout(() => process.exit(0), holdMs); });
  s.on('error', (e) => { done({ ok: false, error: e.code }); process.exit(0); });
} else {
  const s = require('dgram').createSocket('udp4');
  s.on('message', (m) => { done({ ok: true, data: String(m) }); setTimeout(() => process.exit(0), holdMs); });
  s.on('error', (e) => { done({ ok: false, error: e.code }); });
  s.send('ping', Number(port), host);
  setTimeout(() => { done({ ok: false, error: 'no-reply' }); process.exit(0); }, Math.max(holdMs, 1000));
}
`;

/** An agent that applies enforce in the client namespace and then waits to be killed. */
const KILLED_AGENT_SCRIPT = `
const [selector, runner, matcher, logging, ns] = process.argv.slice(1);
const enforcer = require(selector).createEgressEnforcer('nftables', {
  logger: require(logging).createLogger('error'),
  runner: require(runner).processCommandRunner,
  nftables: { nft: { file: 'ip', prefixArgs: ['netns', 'exec', ns, 'nft'] } },
});
const whitelist = require(matcher).compileWhitelist([], new Date());
enforcer.apply({ zone: 'dev-lan', mode: 'ZONE_ENFORCEMENT_MODE_ENFORCE', whitelist, alwaysAllowed: [], policyVersion: '0', policyLineageId: 'killed' })
  .then(() => console.log('applied'), (error) => { console.error(error); process.exit(1); });
setInterval(() => {}, 1000);
`;

/** How many `nft monitor` processes run in a namespace. */
function monitorsIn(ns: string): number {
  const pids = sh('ip', ['netns', 'pids', ns]).out.split(/\s+/).filter((pid) => /^\d+$/.test(pid));
  return pids.filter((pid) => {
    const status = sh('cat', [`/proc/${pid}/stat`]).out;
    const cmdline = sh('cat', [`/proc/${pid}/cmdline`]).out.split('\0').join(' ');
    return / Z /.test(status) === false && /\bnft monitor trace\b/.test(cmdline);
  }).length;
}

interface ProbeResult {
  ok: boolean;
  data?: string;
  error?: string;
  ms: number;
  pid: number;
}

/** Socket hold for probes whose owner the test checks. */
const OWNER_HOLD_MS = 3_000;

function probe(kind: 'tcp' | 'udp', host: string, port: number, uid?: number, holdMs = kind === 'tcp' ? 500 : 200): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    const child = execFile('ip', ['netns', 'exec', CLIENT, process.execPath, '-e', PROBE_SCRIPT, kind, host, String(port), uid === undefined ? '' : String(uid), String(holdMs)], { timeout: 15_000 }, (error, stdout, stderr) => {
      if (error !== null) return reject(new Error(`probe failed: ${error.message} ${stderr}`));
      // `ip netns exec` execs node in place, so the child's pid is the probe's.
      resolve({ ...(JSON.parse(stdout.trim().split('\n')[0]) as Omit<ProbeResult, 'pid'>), pid: child.pid ?? 0 });
    });
  });
}

/** A DNS responder (A records only; AAAA gets an empty answer) whose answer and TTL the test sets. */
class TinyDns {
  answer = '10.99.0.9';
  ttl = 1;
  queries = 0;
  private readonly socket: Socket = createSocket('udp4');

  async start(): Promise<number> {
    this.socket.on('message', (query, peer) => {
      this.queries++;
      const response = this.respond(query);
      if (response !== null) this.socket.send(response, peer.port, peer.address);
    });
    await new Promise<void>((resolve) => this.socket.bind(0, '127.0.0.1', resolve));
    return this.socket.address().port;
  }

  close(): void {
    this.socket.close();
  }

  private respond(query: Buffer): Buffer | null {
    if (query.length < 12) return null;
    let offset = 12;
    while (offset < query.length && query[offset] !== 0) offset += query[offset] + 1;
    const questionEnd = offset + 5;
    if (questionEnd > query.length) return null;
    const qtype = query.readUInt16BE(offset + 1);
    const name = [];
    for (let i = 12; query[i] !== 0; i += query[i] + 1) name.push(query.subarray(i + 1, i + 1 + query[i]).toString('ascii'));
    const known = name.join('.').toLowerCase() === NAME;
    const answers = known && qtype === 1 ? [this.answer] : [];
    const header = Buffer.alloc(12);
    header.writeUInt16BE(query.readUInt16BE(0), 0);
    header.writeUInt16BE(known ? 0x8180 : 0x8183, 2); // response, recursion available; NXDOMAIN for other names
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers.length, 6);
    const records = answers.map((address) => {
      const record = Buffer.alloc(16);
      record.writeUInt16BE(0xc00c, 0);
      record.writeUInt16BE(1, 2);
      record.writeUInt16BE(1, 4);
      record.writeUInt32BE(this.ttl, 6);
      record.writeUInt16BE(4, 10);
      address.split('.').forEach((octet, i) => record.writeUInt8(Number(octet), 12 + i));
      return record;
    });
    return Buffer.concat([header, query.subarray(12, questionEnd), ...records]);
  }
}

function entry(over: Partial<WhitelistEntry> & { entryId: string }): WhitelistEntry {
  return {
    hostPattern: '',
    cidr: '',
    ports: [],
    protocol: TransportProtocol.TRANSPORT_PROTOCOL_UNSPECIFIED,
    service: 'any',
    zone: 'dev-lan',
    justification: 'integration test',
    requestedBy: 'alice',
    approvedBy: 'bob',
    expiresAt: undefined,
    ...over,
  };
}

/** The enforcer's last log lines, for a timeout's message (set by the test once the logger exists). */
let logTail = (): string => '';

async function until<T>(what: string, timeoutMs: number, check: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; the enforcer's last log lines:\n${logTail()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('nftables egress enforcement in private namespaces: enforce, audit, DNS following, attempts, removal', { timeout: 120_000 }, async (t) => {
  const problem = prerequisiteProblem();
  if (problem !== null) return skipOrFail(t, problem);

  // One hook that undoes everything newest first: the enforcer closes (removing its table through
  // the client namespace) before the servers stop and the namespaces go.
  const cleanup = suiteScope();
  t.after(() => cleanup.cleanup());
  cleanup.after(() => {
    sh('ip', ['netns', 'del', CLIENT]);
    sh('ip', ['netns', 'del', SERVER]);
  });
  const setup: string[][] = [
    ['netns', 'add', CLIENT],
    ['netns', 'add', SERVER],
    ['link', 'add', 'veth-c', 'netns', CLIENT, 'type', 'veth', 'peer', 'name', 'veth-s', 'netns', SERVER],
    ['-n', CLIENT, 'addr', 'add', '10.99.0.1/24', 'dev', 'veth-c'],
    ['-n', CLIENT, 'addr', 'add', 'fd00:99::1/64', 'dev', 'veth-c', 'nodad'],
    ['-n', CLIENT, 'link', 'set', 'veth-c', 'up'],
    ['-n', CLIENT, 'link', 'set', 'lo', 'up'],
    ['-n', SERVER, 'addr', 'add', '10.99.0.2/24', 'dev', 'veth-s'],
    ['-n', SERVER, 'addr', 'add', '10.99.0.3/24', 'dev', 'veth-s'],
    ['-n', SERVER, 'addr', 'add', 'fd00:99::2/64', 'dev', 'veth-s', 'nodad'],
    ['-n', SERVER, 'link', 'set', 'veth-s', 'up'],
    ['-n', SERVER, 'link', 'set', 'lo', 'up'],
  ];
  for (const args of setup) {
    const result = sh('ip', args);
    if (!result.ok) {
      if (args[0] === 'netns' && args[1] === 'add') return skipOrFail(t, `ip netns does not work here: ${result.out.trim()}`);
      throw new Error(`ip ${args.join(' ')} failed: ${result.out}`);
    }
  }

  const servers = new RunningProcess('servers', spawn('ip', ['netns', 'exec', SERVER, process.execPath, '-e', SERVERS_SCRIPT], { stdio: ['ignore', 'pipe', 'pipe'] }));
  cleanup.after(() => servers.stop());
  await servers.waitForLine(/^ready$/, 10_000);

  // Another program's table in the client namespace: the agent must never touch it.
  const temp = makeTempDir('mamori-egress-');
  cleanup.after(() => temp.cleanup());

  const foreign = join(temp.path, 'foreign.nft');
  writeFileSync(foreign, 'table inet other_tool {\n\tchain out {\n\t\ttype filter hook output priority 10; policy accept;\n\t\tcounter\n\t}\n}\n');
  assert.ok(nftIn(CLIENT, '-f', foreign).ok);

  const dns = new TinyDns();
  const dnsPort = await dns.start();
  cleanup.after(() => dns.close());

  const logs: string[] = [];
  const logger = createLogger('debug', (line) => logs.push(line));
  logTail = () => logs.slice(-20).join('\n');
  const nftInClient = { file: 'ip', prefixArgs: ['netns', 'exec', CLIENT, 'nft'] };
  const enforcer: EgressEnforcer = createEgressEnforcer('nftables', {
    logger,
    runner: processCommandRunner,
    nftables: {
      nft: nftInClient,
      resolver: dnsHostResolver({ servers: [`127.0.0.1:${dnsPort}`], timeoutMs: 1_000 }),
      dns: { minTtlSeconds: 1, maxTtlSeconds: 60, graceSeconds: 1 },
      foldWindowMs: 2_000,
    },
  });
  cleanup.after(() => enforcer.close());
  assert.deepEqual(enforcer.capability().available, true, enforcer.capability().reason);
  const attempts: EgressAttempt[] = [];
  enforcer.onAttempt((attempt) => attempts.push(attempt));
  const attemptTo = (ip: string, port: number, decision: string) => () => attempts.find((a) => a.ip === ip && a.port === port && a.decision === decision);

  const whitelist = compileWhitelist(
    [
      entry({ entryId: 'static', cidr: '10.99.0.2', ports: [{ first: 8080, last: 8080 }], protocol: TCP }),
      entry({ entryId: 'named', hostPattern: NAME, ports: [{ first: 8080, last: 8080 }], protocol: TCP }),
    ],
    new Date(),
  );
  const plan = (mode: ZoneEnforcementMode): EgressPlan => ({ zone: 'dev-lan', mode, whitelist, alwaysAllowed: [], policyVersion: '1', policyLineageId: 'lineage' });

  await t.test('enforce: the whitelisted server answers, the others are refused at once and reported', async () => {
    await enforcer.apply(plan(ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_ENFORCE));
    assert.match(nftIn(CLIENT, 'list', 'table', 'inet', 'mamori_egress').out, /comment "mamori-agent egress whitelist; zone dev-lan; enforce; policy lineage\/1"/);

    const allowed = await probe('tcp', '10.99.0.2', 8080);
    assert.deepEqual([allowed.ok, allowed.data], [true, 'hello from 10.99.0.2:8080']);

    const started = Date.now();
    const refused = await probe('tcp', '10.99.0.2', 9090);
    assert.equal(refused.ok, false);
    assert.equal(refused.error, 'ECONNREFUSED', 'the kernel answers with a TCP reset');
    assert.ok(refused.ms < 1000, `refused after ${refused.ms} ms`);
    const attempt = await until('the refused TCP attempt', 5_000, attemptTo('10.99.0.2', 9090, 'blocked'));
    t.diagnostic(`TCP refused in ${refused.ms} ms; reported ${attempt.firstSeenAt.getTime() - started} ms after the probe started`);
    assert.equal(attempt.protocol, TCP);
    assert.equal(attempt.userName, 'root');
    assert.equal(attempt.sourceAddress, '10.99.0.1');
    assert.equal(attempt.attempts, 1);

    const refused6 = await probe('tcp', 'fd00:99::2', 9090, 65534);
    assert.equal(refused6.error, 'ECONNREFUSED');
    const attempt6 = await until('the refused IPv6 attempt by nobody', 5_000, attemptTo('fd00:99::2', 9090, 'blocked'));
    assert.equal(attempt6.userName, 'nobody');

    // The name does not resolve to 10.99.0.3 yet: refused.
    assert.equal((await probe('tcp', '10.99.0.3', 8080)).error, 'ECONNREFUSED');
  });

  await t.test('enforce: a whitelisted name follows its DNS answer (TTL 1 s)', async () => {
    const queriesBefore = dns.queries;
    dns.answer = '10.99.0.3';
    const changedAt = Date.now();
    const opened = await until('10.99.0.3:8080 to open after the DNS change', 15_000, async () => {
      const result = await probe('tcp', '10.99.0.3', 8080);
      return result.ok ? result : undefined;
    });
    t.diagnostic(`opened ${Date.now() - changedAt} ms after the DNS answer changed (${dns.queries - queriesBefore} queries)`);
    assert.equal(opened.data, 'hello from 10.99.0.3:8080');
    assert.match(nftIn(CLIENT, 'list', 'set', 'inet', 'mamori_egress', 'allow4').out, /10\.99\.0\.3 \. tcp \. 8080/);

    // Another port on the named address is still refused, and the report names the host.
    const udp = await probe('udp', '10.99.0.3', 7000, undefined, OWNER_HOLD_MS);
    assert.equal(udp.ok, false);
    const attempt = await until('the refused UDP attempt', 5_000, attemptTo('10.99.0.3', 7000, 'blocked'));
    assert.equal(attempt.host, NAME);
    assert.equal(attempt.protocol, TransportProtocol.TRANSPORT_PROTOCOL_UDP);
    t.diagnostic(`UDP attempt owner: ${attempt.processName || '-'} pid ${attempt.processId} (probe pid ${udp.pid})`);
    assert.equal(attempt.processId, udp.pid, 'the open UDP socket is found in /proc');
    assert.equal(attempt.processName, 'node');

    // The answer moves away again: after the grace period the address is closed.
    dns.answer = '10.99.0.9';
    await until('10.99.0.3:8080 to close after the answer moved away', 15_000, async () => ((await probe('tcp', '10.99.0.3', 8080)).ok ? undefined : true));
  });

  await t.test('audit: everything answers and the not-whitelisted connection is reported as audited, with its process', async () => {
    await enforcer.apply(plan(ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_AUDIT));
    assert.equal((await probe('tcp', '10.99.0.2', 8080)).ok, true);
    const audited = await probe('tcp', '10.99.0.2', 9090, undefined, OWNER_HOLD_MS);
    assert.deepEqual([audited.ok, audited.data], [true, 'hello from 10.99.0.2:9090']);
    const attempt = await until('the audited attempt', 5_000, attemptTo('10.99.0.2', 9090, 'audited'));
    assert.equal(attempt.userName, 'root');
    t.diagnostic(`audited TCP owner: ${attempt.processName || '-'} pid ${attempt.processId} (probe pid ${audited.pid})`);
    assert.equal(attempt.processId, audited.pid, 'the live TCP connection is found in /proc');
  });

  await t.test('repeated attempts within the window are folded into one report with a count', async () => {
    const before = attempts.filter((a) => a.ip === '10.99.0.2' && a.port === 9090 && a.decision === 'audited').length;
    for (let i = 0; i < 3; i++) await probe('udp', '10.99.0.2', 9090, undefined, OWNER_HOLD_MS);
    // Three processes: three reports (folding is per process); the kernel saw three new flows.
    const reports = await until('three UDP reports', 5_000, () => {
      const found = attempts.filter((a) => a.ip === '10.99.0.2' && a.port === 9090 && a.protocol === TransportProtocol.TRANSPORT_PROTOCOL_UDP);
      return found.length >= 3 ? found : undefined;
    });
    assert.equal(reports.reduce((sum, a) => sum + a.attempts, 0), 3);
    assert.equal(attempts.filter((a) => a.ip === '10.99.0.2' && a.port === 9090 && a.decision === 'audited').length - before, 3);
  });

  await t.test('remove() deletes only the agent\'s table; the other program\'s table survives', async () => {
    await enforcer.remove();
    const tables = nftIn(CLIENT, 'list', 'tables').out;
    assert.doesNotMatch(tables, /mamori_egress/);
    assert.match(tables, /table inet other_tool/);
    assert.equal((await probe('tcp', '10.99.0.2', 9090)).ok, true);
  });

  await t.test('after kill -9 the table keeps refusing; the next start replaces it; a foreign table of the same name is refused', async () => {
    // A real agent process applies enforce and is killed without any chance to clean up.
    const modules = (name: string) => join(__dirname, '../../../agent/src', name);
    const driver = new RunningProcess(
      'killed-agent',
      spawn(process.execPath, ['-e', KILLED_AGENT_SCRIPT, modules('enforce/egress/egress-enforcer-selector.js'), modules('facts/command-runner.js'), modules('core/destinations/whitelist-matcher.js'), modules('logging/logger.js'), CLIENT], { stdio: ['ignore', 'pipe', 'pipe'] }),
    );
    cleanup.after(() => driver.stop());
    await driver.waitForLine(/^applied$/, 15_000);
    await driver.kill9();
    assert.match(nftIn(CLIENT, 'list', 'table', 'inet', 'mamori_egress').out, /policy killed\/0/);
    assert.equal((await probe('tcp', '10.99.0.2', 9090)).error, 'ECONNREFUSED', 'the table left behind fails closed');
    // Its `nft monitor trace` lost its reader; the refused probe's trace was its next output.
    await until('the killed agent\'s nft monitor to end', 5_000, () => (monitorsIn(CLIENT) === 0 ? true : undefined));

    const restarted = createEgressEnforcer('nftables', { logger, runner: processCommandRunner, nftables: { nft: nftInClient, resolver: dnsHostResolver({ servers: [`127.0.0.1:${dnsPort}`] }) } });
    try {
      await restarted.apply(plan(ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_ENFORCE));
      assert.match(nftIn(CLIENT, 'list', 'table', 'inet', 'mamori_egress').out, /policy lineage\/1/);
      assert.equal(monitorsIn(CLIENT), 1);
    } finally {
      await restarted.close();
    }
    assert.doesNotMatch(nftIn(CLIENT, 'list', 'tables').out, /mamori_egress/);
    assert.equal(monitorsIn(CLIENT), 0);

    const stale = join(temp.path, 'stale.nft');
    writeFileSync(stale, 'table inet mamori_egress {\n\tchain keep {\n\t\ttype filter hook output priority 5; policy accept;\n\t}\n}\n');
    assert.ok(nftIn(CLIENT, '-f', stale).ok);
    const careful = createEgressEnforcer('nftables', { logger, runner: processCommandRunner, nftables: { nft: nftInClient, resolver: dnsHostResolver({ servers: [`127.0.0.1:${dnsPort}`] }) } });
    await assert.rejects(careful.apply(plan(ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_ENFORCE)), /did not write/);
    assert.match(nftIn(CLIENT, 'list', 'table', 'inet', 'mamori_egress').out, /chain keep/);
    await careful.close();
    assert.ok(nftIn(CLIENT, 'delete', 'table', 'inet', 'mamori_egress').ok);
    assert.match(nftIn(CLIENT, 'list', 'tables').out, /table inet other_tool/);
  });
});
