import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AGENT_BIN, SERVER_BIN, type RunningProcess } from '../support/processes';
import { createNamespacePair, namespacePrerequisiteProblem, runInNamespace, startInNamespace, type NamespacePair } from '../support/network-namespaces';
import { skipOrFail } from '../support/prerequisites';
import { makeTempDir } from '../support/temp-dir';
import { eventually } from './support/rest-client';

/*
 * The whole whitelist loop with real traffic, the real agent and the real collector, inside two
 * network namespaces this test makes (nothing leaves them): the agent runs in the client
 * namespace, programs nftables there for its zone, and reaches the collector in the server
 * namespace; two TCP servers sit beside the collector, one whitelisted and one not. The test drives
 * the collector's REST API with curl inside the server namespace, as an administrator would.
 */

const GRPC_PORT = 50051;
const PROXY_PORT = 3128;
const HTTP_PORT = 8088;
const ALLOWED_PORT = 8080;
const REQUESTED_PORT = 8081;

const SERVERS_SCRIPT = `
const net = require('net');
const [host, ...ports] = process.argv.slice(1);
let ready = 0;
for (const port of ports) net.createServer((s) => { s.on('error', () => {}); s.once('data', () => s.end('HTTP/1.0 200 OK\\r\\ncontent-type: text/plain\\r\\n\\r\\nhello from ' + port)); }).listen(Number(port), host, () => { if (++ready === ports.length) console.log('servers ready'); });
`;

/** One TCP connection from the client namespace; prints {ok, error, ms}. */
const PROBE_SCRIPT = `
const [host, port] = process.argv.slice(1);
const t0 = Date.now();
const s = require('net').connect(Number(port), host, () => s.write('GET / HTTP/1.0\\r\\n\\r\\n'));
const done = (r) => { console.log(JSON.stringify({ ...r, ms: Date.now() - t0 })); process.exit(0); };
s.setTimeout(4000, () => done({ ok: false, error: 'timeout' }));
s.on('data', (d) => done({ ok: true, data: String(d) }));
s.on('error', (e) => done({ ok: false, error: e.code }));
`;

interface Probe {
  ok: boolean;
  error?: string;
  ms: number;
}

test('dev-LAN whitelist end to end: the kernel refuses a destination off the whitelist, the collector records it, the egress proxy applies the same whitelist, an approved request opens it without restarting the agent, and its expiry closes it again', async (t) => {
  const problem = namespacePrerequisiteProblem({ nft: true });
  if (problem !== null) return skipOrFail(t, problem);

  const ns: NamespacePair = createNamespacePair(t, 'wl');
  const [collectorIp, serversIp] = ns.serverAddresses;
  const folder = makeTempDir('mamori-egress-e2e-');
  // The processes inside the namespaces are stopped in `finally` below, before the namespaces'
  // own after hook removes them; this hook only covers a failure before the body's try.
  const running: RunningProcess[] = [];
  t.after(async () => {
    for (const child of running.reverse()) await child.stop();
    folder.cleanup();
  });
  const adminToken = `test-admin-${randomBytes(16).toString('hex')}`;
  const rest = async <T = any>(expected: number, method: string, path: string, body?: unknown): Promise<T> => {
    const args = ['-sS', '-X', method, '-H', `authorization: Bearer ${adminToken}`, '-w', '\n%{http_code}', `http://127.0.0.1:${HTTP_PORT}${path}`];
    if (body !== undefined) args.push('-H', 'content-type: application/json', '--data-binary', JSON.stringify(body));
    const result = await runInNamespace(ns.server, 'curl', args, { timeoutMs: 20_000 });
    const at = result.stdout.lastIndexOf('\n');
    const status = Number(result.stdout.slice(at + 1));
    const text = result.stdout.slice(0, at);
    if (status !== expected) throw new Error(`${method} ${path}: expected ${expected}, got ${status}: ${text} ${result.stderr}`);
    return (text === '' ? undefined : JSON.parse(text)) as T;
  };
  const probe = async (port: number): Promise<Probe> => {
    const result = await runInNamespace(ns.client, process.execPath, ['-e', PROBE_SCRIPT, serversIp, String(port)], { timeoutMs: 15_000 });
    return JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}') as Probe;
  };

  try {
    const servers = startInNamespace(ns.server, 'servers', process.execPath, ['-e', SERVERS_SCRIPT, serversIp, String(ALLOWED_PORT), String(REQUESTED_PORT)]);
    running.push(servers);
    await servers.waitForLine(/servers ready/, 15_000);

    const collectorData = join(folder.path, 'collector');
    const collector = startInNamespace(ns.server, 'mamori-server(sqlite, netns)', process.execPath, [SERVER_BIN, 'run'], {
      MAMORI_DATA_DIR: collectorData,
      MAMORI_GRPC_ADDRESS: `${collectorIp}:${GRPC_PORT}`,
      MAMORI_HTTP_ADDRESS: `127.0.0.1:${HTTP_PORT}`,
      MAMORI_ADMIN_TOKEN: adminToken,
      MAMORI_SERVER_NAMES: collectorIp,
      MAMORI_LOG_LEVEL: 'info',
    });
    running.push(collector);
    await collector.waitForLine(/"msg":"mamori-server ready"/, 60_000);

    // The administrator's side: the development LAN in enforce mode, and one whitelisted server.
    await rest(201, 'POST', '/api/v1/zones', { name: 'dev-lan', cidrs: [`${ns.clientAddress.split('.').slice(0, 3).join('.')}.0/24`], mode: 'enforce' });
    await rest(201, 'POST', '/api/v1/whitelist', {
      cidr: serversIp,
      ports: [String(ALLOWED_PORT)],
      protocol: 'tcp',
      service: 'git',
      zone: 'dev-lan',
      justification: 'the project Git server',
      requestedBy: 'Hanako Yamada',
      approvedBy: 'Taro Suzuki (IT)',
    });

    // IT enrolls the laptop and the agent starts, enforcing (it runs as root in its namespace).
    const stateDir = join(folder.path, 'agent');
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const usbScript = join(folder.path, 'usb-script.jsonl');
    writeFileSync(usbScript, '');
    const { token } = await rest<{ token: string }>(201, 'POST', '/api/v1/enrollment-tokens', { label: 'netns e2e' });
    const enrolled = await runInNamespace(ns.client, process.execPath, [AGENT_BIN, 'enroll', '--server', `${collectorIp}:${GRPC_PORT}`, '--token', token, '--state-dir', stateDir]);
    assert.equal(enrolled.code, 0, `enroll failed: ${enrolled.stdout}${enrolled.stderr}`);
    const agent = startInNamespace(ns.client, 'mamori-agent(netns)', process.execPath, [AGENT_BIN, 'run', '--state-dir', stateDir], {
      MAMORI_AGENT_USB_BACKEND: 'fake',
      MAMORI_AGENT_FAKE_USB_SCRIPT: usbScript,
      MAMORI_AGENT_ENCRYPTION_BACKEND: 'unsupported',
      MAMORI_AGENT_EGRESS_BACKEND: 'nftables',
      MAMORI_AGENT_NETWORK_BACKEND: 'os',
      MAMORI_AGENT_EGRESS_PROXY: `127.0.0.1:${PROXY_PORT}`,
      MAMORI_AGENT_HEARTBEAT_SECONDS: '1',
      MAMORI_AGENT_LOG_LEVEL: 'info',
    });
    running.push(agent);
    await agent.waitForLine(/"msg":"mamori-agent running"/, 60_000);
    const agentStatus = async () => JSON.parse(await readFile(join(stateDir, 'status.json'), 'utf8').catch(() => '{}'));
    await eventually('the agent enforcing the dev-lan whitelist', async () => {
      const status = await agentStatus();
      return status.network?.zone === 'dev-lan' && status.network?.mode === 'enforce' && status.network?.whitelistEntries === 1 ? status : undefined;
    });

    const shown = await runInNamespace(ns.client, process.execPath, [AGENT_BIN, 'status', '--state-dir', stateDir]);
    assert.match(shown.stdout, /network: +zone dev-lan, whitelist enforce \(1 entry\); firewall: nftables; egress proxy on 127\.0\.0\.1:3128/);
    assert.match(shown.stdout, /capability: +network\.enforce available/);

    // The kernel answers: the whitelisted server is reachable, the other refused at once (not a timeout).
    const allowed = await probe(ALLOWED_PORT);
    assert.equal(allowed.ok, true, `the whitelisted server answers: ${JSON.stringify(allowed)}`);
    const refused = await probe(REQUESTED_PORT);
    assert.equal(refused.ok, false);
    assert.match(refused.error ?? '', /ECONNREFUSED|ECONNRESET/, 'refused by the firewall with a reset, not left to time out');
    assert.ok(refused.ms < 2_000, `refused within ${refused.ms} ms`);
    assert.match((await runInNamespace(ns.client, 'nft', ['list', 'tables'])).stdout, /inet mamori_egress/);

    // The collector shows the refusal as a violation naming the destination.
    const violation = await eventually('a destination.not_whitelisted violation for the refused server', async () => {
      const page = await rest<{ items: any[] }>(200, 'GET', '/api/v1/violations?rule=destination.not_whitelisted');
      return page.items.find((v) => JSON.stringify(v).includes(`${serversIp}`) && JSON.stringify(v).includes(String(REQUESTED_PORT)));
    });
    assert.equal(violation.rule, 'destination.not_whitelisted');

    // The same whitelist through the agent's egress proxy, for applications configured to use one:
    // the whitelisted server is relayed and counted, the other refused with 403.
    const viaProxy = (port: number) =>
      runInNamespace(ns.client, 'curl', ['-sS', '-m', '10', '-x', `http://127.0.0.1:${PROXY_PORT}`, '-w', '\n%{http_code}', `http://${serversIp}:${port}/`]);
    const proxied = await viaProxy(ALLOWED_PORT);
    assert.match(proxied.stdout, new RegExp(`hello from ${ALLOWED_PORT}\\n200$`), `relayed: ${proxied.stdout}${proxied.stderr}`);
    const proxyRefused = await viaProxy(REQUESTED_PORT);
    assert.match(proxyRefused.stdout, /\n403$/, `refused by the proxy: ${proxyRefused.stdout}${proxyRefused.stderr}`);
    const proxyEvents = await eventually('both proxied accesses stored by the collector', async () => {
      const page = await rest<{ items: Array<{ payload: any }> }>(200, 'GET', '/api/v1/events?kind=destination_access&limit=100');
      const byProxy = page.items.map((item) => item.payload).filter((access) => access.observer === 'DESTINATION_OBSERVER_PROXY' || access.observer === 2);
      return byProxy.length >= 2 ? byProxy : undefined;
    });
    const relayed = proxyEvents.find((access) => access.port === ALLOWED_PORT);
    const blocked = proxyEvents.find((access) => access.port === REQUESTED_PORT);
    assert.ok(relayed !== undefined && blocked !== undefined, JSON.stringify(proxyEvents));
    assert.ok(Number(relayed.bytesReceived) > 0 && Number(relayed.bytesSent) > 0, `bytes counted: ${JSON.stringify(relayed)}`);
    assert.notEqual(relayed.whitelistEntryId, '', 'the relayed access names the entry that allowed it');

    // A developer asks for the server; an approver grants it for a short time.
    const request = await rest<{ id: string }>(201, 'POST', '/api/v1/whitelist/requests', {
      cidr: serversIp,
      ports: [String(REQUESTED_PORT)],
      protocol: 'tcp',
      service: 'web',
      zone: 'dev-lan',
      justification: 'test results upload for project K',
      requestedBy: 'Hanako Yamada',
    });
    const expiresAt = new Date(Date.now() + 25_000);
    const approvedAt = Date.now();
    await rest(200, 'POST', `/api/v1/whitelist/requests/${request.id}/approve`, { approvedBy: 'Jiro Sato (security)', expiresAt: expiresAt.toISOString() });
    const opened = await eventually(
      'the approved server reachable from the agent host',
      async () => {
        const result = await probe(REQUESTED_PORT);
        return result.ok ? Date.now() - approvedAt : undefined;
      },
      20_000,
    );
    assert.equal(agent.exited, false, 'the agent was not restarted');
    t.diagnostic(`approval to open connection: ${opened} ms (probed about every 150 ms)`);

    // The entry's expiry closes it again by itself.
    const closed = await eventually(
      'the server refused again after the entry expired',
      async () => {
        const result = await probe(REQUESTED_PORT);
        return !result.ok ? Date.now() - expiresAt.getTime() : undefined;
      },
      60_000,
    );
    t.diagnostic(`refused again ${closed} ms after the expiry time`);
    assert.equal((await probe(ALLOWED_PORT)).ok, true, 'the unexpired entry still allows its server');

    // A stopped agent takes its table with it.
    await agent.stop();
    assert.doesNotMatch((await runInNamespace(ns.client, 'nft', ['list', 'tables'])).stdout, /mamori_egress/);
  } finally {
    for (const child of running.reverse()) await child.stop();
    running.length = 0;
  }
});
