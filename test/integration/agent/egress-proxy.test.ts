import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer as createHttpServer, request as httpRequest, Agent, type IncomingHttpHeaders, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect as netConnect, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { compileWhitelist } from '../../../agent/src/core/destinations/whitelist-matcher';
import { EgressProxy, type EgressProxyLimits, type ProxyAccess } from '../../../agent/src/enforce/egress-proxy/egress-proxy';
import { TransportProtocol } from '../../../agent/src/generated/mamori/v1/common';
import { ZoneEnforcementMode, type WhitelistEntry } from '../../../agent/src/generated/mamori/v1/policy';
import { makeRogueClientCertificate } from '../../e2e/support/pki';
import { freePort } from '../../support/ports';
import { skipOrFail } from '../../support/prerequisites';
import { makeTempDir } from '../../support/temp-dir';

// Real servers on loopback addresses and real clients (curl, node) through the proxy. The host
// names are the test's own: the proxy resolves them through the injected resolver, and curl never
// resolves them itself (with an HTTP proxy it sends the name to the proxy).

const ZONE = 'dev-lan';
const { ENFORCE, AUDIT, OFF } = {
  ENFORCE: ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_ENFORCE,
  AUDIT: ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_AUDIT,
  OFF: ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_OFF,
};

function entry(entryId: string, fields: Partial<WhitelistEntry>): WhitelistEntry {
  return {
    entryId,
    hostPattern: '',
    cidr: '',
    ports: [],
    protocol: TransportProtocol.TRANSPORT_PROTOCOL_UNSPECIFIED,
    service: 'any',
    zone: ZONE,
    justification: 'test',
    requestedBy: 'alice',
    approvedBy: 'bob',
    expiresAt: undefined,
    ...fields,
  };
}

const WHITELIST = compileWhitelist(
  [
    entry('git', { hostPattern: 'git.dev.example' }),
    entry('ghost', { hostPattern: 'ghost.dev.example' }),
    entry('lab-cidr', { cidr: '127.0.0.2/32' }),
  ],
  new Date(),
);

/** The test's DNS: names to loopback addresses; anything else is "not found" like getaddrinfo says it. */
const NAMES: Record<string, string[]> = {
  'git.dev.example': ['127.0.0.1'],
  'other.example': ['127.0.0.1'],
  'cdn.example': ['127.0.0.2'],
  // The first answer is not whitelisted, the second is (lab-cidr).
  'mixed.example': ['127.0.0.3', '127.0.0.2'],
};

async function testResolver(name: string): Promise<string[]> {
  const answer = NAMES[name];
  if (answer === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
  return answer;
}

/** Every TCP connection a server accepted, with the bytes its socket read and wrote by the time it closed. */
class ConnectionLog {
  accepted = 0;
  readonly closed: Array<{ bytesRead: number; bytesWritten: number }> = [];
  private waiters: Array<() => void> = [];

  attach(server: NetServer | HttpServer): void {
    server.on('connection', (socket: Socket) => {
      this.accepted++;
      socket.once('close', () => {
        this.closed.push({ bytesRead: socket.bytesRead, bytesWritten: socket.bytesWritten });
        for (const wake of this.waiters.splice(0)) wake();
      });
    });
  }

  async closedCount(count: number): Promise<Array<{ bytesRead: number; bytesWritten: number }>> {
    const deadline = Date.now() + 10_000;
    while (this.closed.length < count) {
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${count} closed upstream connections (have ${this.closed.length})`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
    return this.closed.slice(0, count);
  }

  async next(): Promise<{ bytesRead: number; bytesWritten: number }> {
    const all = await this.closedCount(this.consumed + 1);
    return all[this.consumed++];
  }

  private consumed = 0;
}

/** The proxy under test with a mutable zone mode and the accesses it reported, in order. */
class ProxyUnderTest {
  mode: ZoneEnforcementMode = ENFORCE;
  readonly accesses: ProxyAccess[] = [];
  readonly proxy: EgressProxy;
  port = 0;
  private consumed = 0;

  constructor(limits: Partial<EgressProxyLimits> = {}) {
    this.proxy = new EgressProxy({
      listen: { host: '127.0.0.1', port: 0 },
      decide: (query) => ({ ...WHITELIST.decide({ ...query, zone: ZONE }), zone: ZONE, mode: this.mode }),
      onAccess: (access) => this.accesses.push(access),
      resolve: testResolver,
      limits,
    });
  }

  async start(): Promise<void> {
    this.port = (await this.proxy.start()).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The next access reported after the ones already taken. */
  async nextAccess(): Promise<ProxyAccess> {
    const deadline = Date.now() + 10_000;
    while (this.accesses.length <= this.consumed) {
      if (Date.now() > deadline) assert.fail('timed out waiting for the proxy to report an access');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return this.accesses[this.consumed++];
  }

  /** Asserts nothing more was reported (after a moment for stragglers). */
  async noMoreAccesses(): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(this.accesses.slice(this.consumed), [], 'no access reported');
  }
}

interface CurlResult {
  exitCode: number;
  status: number;
  body: Buffer;
  stderr: string;
}

/** Runs curl through the proxy; the HTTP status comes from --write-out on stderr, the body on stdout. */
function curl(args: string[]): Promise<CurlResult> {
  return new Promise((resolve) => {
    execFile(
      'curl',
      ['--silent', '--show-error', '--max-time', '20', '--write-out', '%{stderr}%{http_code}', ...args],
      { encoding: 'buffer', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const text = stderr.toString('utf8');
        const status = Number(/(\d{3})$/.exec(text)?.[1] ?? '0');
        resolve({ exitCode: error === null ? 0 : Number((error as NodeJS.ErrnoException & { code?: number }).code ?? 1), status, body: stdout, stderr: text });
      },
    );
  });
}

/** Writes `bytes` to a fresh connection to the proxy and collects everything until the proxy closes it. */
function rawExchange(port: number, bytes: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.setTimeout(10_000, () => socket.destroy(new Error('the proxy did not close the connection')));
    socket.write(bytes);
  });
}

/** Opens a CONNECT tunnel and resolves once the proxy said 200, with the socket and anything read past the answer. */
function openTunnel(port: number, authority: string, firstBytes: Buffer = Buffer.alloc(0)): Promise<{ socket: Socket; status: string; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: '127.0.0.1', port, allowHalfOpen: true });
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.removeListener('data', onData);
      socket.pause();
      resolve({ socket, status: buffered.subarray(0, buffered.indexOf('\r\n')).toString('latin1'), rest: buffered.subarray(end + 4) });
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(Buffer.concat([Buffer.from(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`), firstBytes]));
  });
}

function listen(server: NetServer | HttpServer, host: string, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.removeListener('error', reject);
      resolve((server.address() as { port: number }).port);
    });
  });
}

function close(server: NetServer | HttpServer): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    (server as HttpServer).closeAllConnections?.();
  });
}

const TCP_GREETING = Buffer.alloc(1000, 0x47);

describe('egress proxy with real upstream servers', () => {
  const http = createHttpServer();
  const httpLog = new ConnectionLog();
  const seenHeaders: IncomingHttpHeaders[] = [];
  const cidrHttp = createHttpServer((_req, res) => res.end('cidr host'));
  const cidrLog = new ConnectionLog();
  const mixedDecoy = createHttpServer((_req, res) => res.end('decoy'));
  const mixedDecoyLog = new ConnectionLog();
  const tcp = createNetServer({ allowHalfOpen: true });
  const tcpLog = new ConnectionLog();
  let https: ReturnType<typeof createHttpsServer> | null = null;
  const httpsLog = new ConnectionLog();
  const sut = new ProxyUnderTest();
  let httpPort = 0;
  let cidrPort = 0;
  let tcpPort = 0;
  let httpsPort = 0;
  let curlMissing = '';

  before(async () => {
    http.on('request', (req, res) => {
      seenHeaders.push(req.headers);
      const url = new URL(req.url ?? '/', 'http://upstream');
      if (url.pathname.startsWith('/size/')) {
        const size = Number(url.pathname.slice('/size/'.length));
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': size, 'Keep-Alive': 'timeout=5', 'X-Hop': 'drop me', Connection: 'X-Hop' });
        res.end(Buffer.alloc(size, 0x61));
      } else if (url.pathname === '/echo') {
        let received = 0;
        req.on('data', (chunk: Buffer) => (received += chunk.length));
        req.on('end', () => {
          // Chunked on purpose: the proxy must relay a response without a length.
          res.writeHead(200, { 'Content-Type': 'text/plain' });
          res.write('received ');
          res.end(String(received));
        });
      } else if (url.pathname === '/slow') {
        res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
        let sent = 0;
        const timer = setInterval(() => {
          res.write(Buffer.alloc(64 * 1024, 0x62));
          if (++sent === 200) {
            clearInterval(timer);
            res.end();
          }
        }, 20);
        res.once('close', () => clearInterval(timer));
      } else {
        res.writeHead(404).end();
      }
    });
    httpLog.attach(http);
    cidrLog.attach(cidrHttp);
    mixedDecoyLog.attach(mixedDecoy);
    tcpLog.attach(tcp);
    // A TCP service that speaks first (like an SMTP or SSH server), then echoes until the client finishes.
    tcp.on('connection', (socket) => {
      socket.on('error', () => undefined);
      socket.write(TCP_GREETING);
      socket.on('data', (chunk) => socket.write(chunk));
      socket.on('end', () => socket.end());
    });
    httpPort = await listen(http, '127.0.0.1');
    cidrPort = await listen(cidrHttp, '127.0.0.2');
    // Same port on 127.0.0.3: a proxy that tried mixed.example's first (not whitelisted) answer would land here.
    await listen(mixedDecoy, '127.0.0.3', cidrPort);
    tcpPort = await listen(tcp, '127.0.0.1');
    const { certPem, privateKeyPem } = await makeRogueClientCertificate();
    https = createHttpsServer({ cert: certPem, key: privateKeyPem }, (_req, res) => res.end('hello over tls\n'));
    httpsLog.attach(https);
    httpsPort = await listen(https, '127.0.0.1');
    await sut.start();
    curlMissing = await new Promise((resolve) => execFile('curl', ['--version'], (error) => resolve(error === null ? '' : `curl cannot run: ${error.message}`)));
  });

  after(async () => {
    await sut.proxy.stop();
    await Promise.all([close(http), close(cidrHttp), close(mixedDecoy), close(tcp), https === null ? undefined : close(https)]);
  });

  test('an allowed host answers through curl, hop-by-hop headers are dropped, and bytes are counted exactly at the upstream socket', async (t) => {
    if (curlMissing) return skipOrFail(t, curlMissing);
    sut.mode = ENFORCE;
    const temp = makeTempDir('mamori-egress-proxy-');
    t.after(() => temp.cleanup());
    const headerFile = join(temp.path, 'headers.txt');
    const size = 123_456;
    const result = await curl([
      '--proxy', sut.url, '--proxy-user', 'alice:secret',
      '-H', 'Connection: X-Trace', '-H', 'X-Trace: 1', '-H', 'X-Keep: yes',
      '--dump-header', headerFile,
      `http://git.dev.example:${httpPort}/size/${size}`,
    ]);
    assert.equal(result.status, 200, result.stderr);
    assert.equal(result.body.length, size);
    const clientHeaders = readFileSync(headerFile, 'utf8');
    assert.match(clientHeaders, /^Content-Length: 123456\r$/m);
    assert.doesNotMatch(clientHeaders, /X-Hop/i, 'a header the origin named in Connection does not reach the client');

    const access = await sut.nextAccess();
    const upstream = await httpLog.next();
    assert.equal(access.bytesReceived, upstream.bytesWritten, 'bytes down = what the origin wrote');
    assert.equal(access.bytesSent, upstream.bytesRead, 'bytes up = what the origin read');
    assert.ok(access.bytesReceived > size && access.bytesReceived < size + 400, `response head is small (${access.bytesReceived - size} bytes)`);
    assert.deepEqual(
      { ...access, startedAt: undefined, endedAt: undefined, bytesSent: undefined, bytesReceived: undefined },
      { host: 'git.dev.example', ip: '127.0.0.1', port: httpPort, decision: 'allowed', entryId: 'git', zone: ZONE, clientAddress: '127.0.0.1', method: 'GET', statusCode: 200, failure: '', startedAt: undefined, endedAt: undefined, bytesSent: undefined, bytesReceived: undefined },
    );
    assert.ok(access.startedAt.getTime() <= access.endedAt.getTime());

    const headers = seenHeaders.at(-1)!;
    assert.equal(headers.host, `git.dev.example:${httpPort}`);
    assert.equal(headers['proxy-authorization'], undefined, 'the proxy credentials stay at the proxy');
    assert.equal(headers['proxy-connection'], undefined);
    assert.equal(headers['x-trace'], undefined, 'a header named in Connection is hop-by-hop');
    assert.equal(headers['x-keep'], 'yes');
    assert.equal(headers.connection, 'close', 'one upstream connection per exchange');
  });

  test('a node client keeps its connection to the proxy across requests; uploads (chunked) are counted exactly', async () => {
    sut.mode = ENFORCE;
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const reused: boolean[] = [];
      for (const size of [0, 70_000, 1_000_000]) {
        const answer = await new Promise<string>((resolve, reject) => {
          const req = httpRequest({ host: '127.0.0.1', port: sut.port, method: 'POST', path: `http://git.dev.example:${httpPort}/echo`, agent, headers: { Host: `git.dev.example:${httpPort}` } }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('end', () => resolve(Buffer.concat(chunks).toString()));
            res.on('error', reject);
          });
          req.on('error', reject);
          req.on('socket', () => reused.push(req.reusedSocket));
          // Two writes and no length: the request goes chunked.
          req.write(Buffer.alloc(Math.floor(size / 2), 0x63));
          req.end(Buffer.alloc(size - Math.floor(size / 2), 0x63));
        });
        assert.equal(answer, `received ${size}`);
        const access = await sut.nextAccess();
        const upstream = await httpLog.next();
        assert.equal(access.bytesSent, upstream.bytesRead);
        assert.equal(access.bytesReceived, upstream.bytesWritten);
        assert.ok(access.bytesSent >= size, 'the upload is in the bytes up');
        assert.equal(access.method, 'POST');
      }
      assert.deepEqual(reused, [false, true, true], 'one client connection for all three requests');
    } finally {
      agent.destroy();
    }
  });

  test('a destination not on the whitelist: 403 in enforce (plain HTTP and CONNECT, nothing reaches it), relayed and reported in audit and off', async (t) => {
    if (curlMissing) return skipOrFail(t, curlMissing);
    sut.mode = ENFORCE;
    const acceptedBefore = httpLog.accepted + tcpLog.accepted;
    const refused = await curl(['--proxy', sut.url, `http://other.example:${httpPort}/size/10`]);
    assert.equal(refused.status, 403);
    assert.match(refused.body.toString(), new RegExp(`other\\.example:${httpPort} is not on the development LAN whitelist`));
    const blocked = await sut.nextAccess();
    assert.deepEqual([blocked.decision, blocked.host, blocked.ip, blocked.entryId, blocked.statusCode, blocked.bytesSent, blocked.bytesReceived], ['blocked', 'other.example', '127.0.0.1', '', 403, 0, 0]);

    const tunnelAnswer = await rawExchange(sut.port, `CONNECT other.example:${tcpPort} HTTP/1.1\r\nHost: other.example:${tcpPort}\r\n\r\n`);
    assert.match(tunnelAnswer, /^HTTP\/1\.1 403 Forbidden\r\n/);
    assert.match(tunnelAnswer, /not on the development LAN whitelist/);
    const blockedTunnel = await sut.nextAccess();
    assert.deepEqual([blockedTunnel.decision, blockedTunnel.method, blockedTunnel.port, blockedTunnel.statusCode], ['blocked', 'CONNECT', tcpPort, 403]);
    const curlTunnel = await curl(['--proxy', sut.url, '--insecure', `https://other.example:${httpsPort}/`]);
    assert.notEqual(curlTunnel.exitCode, 0);
    assert.match(curlTunnel.stderr, /403/);
    assert.equal((await sut.nextAccess()).decision, 'blocked');
    assert.equal(httpLog.accepted + tcpLog.accepted, acceptedBefore, 'no connection reached a server');

    sut.mode = AUDIT;
    const audited = await curl(['--proxy', sut.url, `http://other.example:${httpPort}/size/10`]);
    assert.equal(audited.status, 200);
    assert.equal(audited.body.length, 10);
    const auditedAccess = await sut.nextAccess();
    const upstream = await httpLog.next();
    assert.deepEqual([auditedAccess.decision, auditedAccess.entryId, auditedAccess.bytesReceived], ['audited', '', upstream.bytesWritten]);
    // A whitelisted destination is still "allowed" in audit mode, with its entry.
    await curl(['--proxy', sut.url, `http://git.dev.example:${httpPort}/size/1`]);
    assert.deepEqual([(await sut.nextAccess()).decision, (await httpLog.next()) !== undefined], ['allowed', true]);

    sut.mode = OFF;
    const off = await curl(['--proxy', sut.url, `http://other.example:${httpPort}/size/10`]);
    assert.equal(off.status, 200);
    const offAccess = await sut.nextAccess();
    await httpLog.next();
    assert.deepEqual([offAccess.decision, offAccess.entryId], ['allowed', '']);
    const offWhitelisted = await curl(['--proxy', sut.url, `http://git.dev.example:${httpPort}/size/10`]);
    assert.equal(offWhitelisted.status, 200);
    assert.equal((await sut.nextAccess()).entryId, '', 'with the zone off no entry is credited');
    await httpLog.next();
    sut.mode = ENFORCE;
  });

  test('CONNECT tunnels: TLS through curl and a raw TCP exchange with half-close, bytes equal to the server socket counts', async (t) => {
    if (curlMissing) return skipOrFail(t, curlMissing);
    sut.mode = ENFORCE;
    const tls = await curl(['--proxy', sut.url, '--insecure', `https://git.dev.example:${httpsPort}/`]);
    assert.equal(tls.status, 200, tls.stderr);
    assert.equal(tls.body.toString(), 'hello over tls\n');
    const tlsAccess = await sut.nextAccess();
    const tlsUpstream = await httpsLog.next();
    assert.deepEqual([tlsAccess.method, tlsAccess.statusCode, tlsAccess.decision, tlsAccess.entryId, tlsAccess.failure], ['CONNECT', 200, 'allowed', 'git', '']);
    assert.equal(tlsAccess.bytesSent, tlsUpstream.bytesRead, 'TLS bytes up, handshake included');
    assert.equal(tlsAccess.bytesReceived, tlsUpstream.bytesWritten, 'TLS bytes down');

    // The first 100 bytes travel in the same packet as the CONNECT request (the proxy gets them as "head").
    const payload = Buffer.alloc(5000, 0x70);
    const tunnel = await openTunnel(sut.port, `git.dev.example:${tcpPort}`, payload.subarray(0, 100));
    assert.equal(tunnel.status, 'HTTP/1.1 200 Connection Established');
    const received: Buffer[] = [tunnel.rest];
    const closed = new Promise<void>((resolve) => tunnel.socket.on('close', () => resolve()));
    tunnel.socket.on('data', (chunk: Buffer) => received.push(chunk));
    tunnel.socket.resume();
    tunnel.socket.end(payload.subarray(100));
    await closed;
    const all = Buffer.concat(received);
    assert.equal(all.length, TCP_GREETING.length + payload.length, 'the whole echo arrived after the client finished sending');
    const access = await sut.nextAccess();
    const upstream = await tcpLog.next();
    assert.deepEqual([access.bytesSent, access.bytesReceived], [payload.length, TCP_GREETING.length + payload.length]);
    assert.deepEqual([upstream.bytesRead, upstream.bytesWritten], [access.bytesSent, access.bytesReceived]);
    assert.equal(access.failure, '');
  });

  test('a tunnel client that resets after the destination finished is a normal end; one that resets mid-exchange is reported as failed', async () => {
    sut.mode = ENFORCE;
    // Speaks, then hangs up: like a TLS server's close_notify and FIN that curl often never reads.
    const farewell = createNetServer((socket) => socket.on('error', () => undefined).end('bye\n'));
    const farewellPort = await listen(farewell, '127.0.0.1');
    try {
      const finished = await openTunnel(sut.port, `git.dev.example:${farewellPort}`);
      finished.socket.on('error', () => undefined);
      finished.socket.resume();
      await new Promise((resolve) => finished.socket.once('end', resolve));
      finished.socket.resetAndDestroy();
      const afterFinish = await sut.nextAccess();
      assert.deepEqual([afterFinish.statusCode, afterFinish.bytesReceived, afterFinish.failure], [200, 'bye\n'.length, '']);

      // The echo service has not finished: the reset cuts the exchange short.
      const cut = await openTunnel(sut.port, `git.dev.example:${tcpPort}`);
      cut.socket.on('error', () => undefined);
      const greeted = cut.rest.length >= TCP_GREETING.length ? Promise.resolve() : new Promise<void>((resolve) => {
        let seen = cut.rest.length;
        cut.socket.on('data', (chunk: Buffer) => (seen += chunk.length) >= TCP_GREETING.length && resolve());
      });
      cut.socket.resume();
      await greeted;
      cut.socket.resetAndDestroy();
      const midway = await sut.nextAccess();
      assert.equal(midway.statusCode, 200);
      assert.match(midway.failure, /^the client failed: ECONNRESET/);
      await tcpLog.next();
    } finally {
      await close(farewell);
    }
  });

  test('an IP literal is decided as an address only: refused although a whitelisted name resolves to it; a whitelisted CIDR allows a literal and an unlisted name resolving into it', async (t) => {
    if (curlMissing) return skipOrFail(t, curlMissing);
    sut.mode = ENFORCE;
    const literal = await curl(['--proxy', sut.url, `http://127.0.0.1:${httpPort}/size/1`]);
    assert.equal(literal.status, 403, 'git.dev.example resolves to 127.0.0.1, but the client named no host');
    assert.deepEqual(await sut.nextAccess().then((a) => [a.host, a.ip, a.decision]), ['', '127.0.0.1', 'blocked']);
    const mapped = await curl(['--proxy', sut.url, `http://[::ffff:127.0.0.1]:${httpPort}/size/1`]);
    assert.equal(mapped.status, 403);
    assert.deepEqual(await sut.nextAccess().then((a) => [a.ip, a.decision]), ['127.0.0.1', 'blocked'], 'IPv4-mapped IPv6 is the IPv4 address');
    assert.match(await rawExchange(sut.port, `CONNECT 127.0.0.1:${tcpPort} HTTP/1.1\r\nHost: 127.0.0.1:${tcpPort}\r\n\r\n`), /^HTTP\/1\.1 403 /);
    assert.equal((await sut.nextAccess()).decision, 'blocked');

    const inCidr = await curl(['--proxy', sut.url, `http://127.0.0.2:${cidrPort}/`]);
    assert.equal(inCidr.status, 200);
    assert.deepEqual(await sut.nextAccess().then((a) => [a.host, a.ip, a.decision, a.entryId]), ['', '127.0.0.2', 'allowed', 'lab-cidr']);
    const nameIntoCidr = await curl(['--proxy', sut.url, `http://cdn.example:${cidrPort}/`]);
    assert.equal(nameIntoCidr.body.toString(), 'cidr host');
    assert.deepEqual(await sut.nextAccess().then((a) => [a.host, a.ip, a.decision, a.entryId]), ['cdn.example', '127.0.0.2', 'allowed', 'lab-cidr']);

    const mixed = await curl(['--proxy', sut.url, `http://mixed.example:${cidrPort}/`]);
    assert.equal(mixed.body.toString(), 'cidr host', 'only the whitelisted answer of the name is connected to');
    assert.deepEqual(await sut.nextAccess().then((a) => [a.ip, a.entryId]), ['127.0.0.2', 'lab-cidr']);
    assert.equal(mixedDecoyLog.accepted, 0, 'the first, not whitelisted answer was never tried');
    await cidrLog.closedCount(3);
  });

  test('bad requests get 400 (431 for oversized headers), are not reported, and the proxy keeps serving', async (t) => {
    if (curlMissing) return skipOrFail(t, curlMissing);
    const bad: Array<[string, RegExp]> = [
      ['GARBAGE\r\n\r\n', /^HTTP\/1\.1 400 /],
      [`GET http://git.dev.example:${httpPort}/size/1 HTTP/1.1\r\n\r\n`, /^HTTP\/1\.1 400 /], // HTTP/1.1 without Host
      ['CONNECT git.dev.example HTTP/1.1\r\nHost: git.dev.example\r\n\r\n', /^HTTP\/1\.1 400 [^]*needs "host:port"/],
      ['CONNECT git.dev.example:0 HTTP/1.1\r\nHost: git.dev.example:0\r\n\r\n', /^HTTP\/1\.1 400 [^]*between 1 and 65535/],
      ['CONNECT git.dev.example:https HTTP/1.1\r\nHost: git.dev.example\r\n\r\n', /^HTTP\/1\.1 400 [^]*port number/],
      ['GET /size/1 HTTP/1.1\r\nHost: git.dev.example\r\n\r\n', /^HTTP\/1\.1 400 [^]*absolute http:\/\/ URI/],
      ['GET https://git.dev.example/ HTTP/1.1\r\nHost: git.dev.example\r\n\r\n', /^HTTP\/1\.1 400 [^]*CONNECT/],
      [`GET http://git.dev.example:${httpPort}/ HTTP/1.1\r\nHost: git.dev.example\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`, /^HTTP\/1\.1 431 /],
    ];
    for (const [request, expected] of bad) {
      assert.match(await rawExchange(sut.port, request), expected, JSON.stringify(request.slice(0, 60)));
    }
    await sut.noMoreAccesses();
    const good = await curl(['--proxy', sut.url, `http://git.dev.example:${httpPort}/size/5`]);
    assert.equal(good.status, 200);
    assert.equal((await sut.nextAccess()).decision, 'allowed');
    await httpLog.next();
  });

  test('an upstream that refuses gets 502 with the reason; a whitelisted name that does not resolve gets 502, an unlisted one 403', async (t) => {
    if (curlMissing) return skipOrFail(t, curlMissing);
    const closedPort = await freePort();
    const refused = await curl(['--proxy', sut.url, `http://git.dev.example:${closedPort}/`]);
    assert.equal(refused.status, 502);
    assert.match(refused.body.toString(), /ECONNREFUSED/);
    const access = await sut.nextAccess();
    assert.deepEqual([access.decision, access.statusCode, access.ip, access.bytesSent], ['allowed', 502, '127.0.0.1', 0]);
    assert.match(access.failure, /cannot connect to 127\.0\.0\.1:\d+: ECONNREFUSED/);

    assert.match(await rawExchange(sut.port, `CONNECT git.dev.example:${closedPort} HTTP/1.1\r\nHost: x\r\n\r\n`), /^HTTP\/1\.1 502 Bad Gateway\r\n[^]*ECONNREFUSED/);
    assert.equal((await sut.nextAccess()).statusCode, 502);

    const unresolved = await curl(['--proxy', sut.url, `http://ghost.dev.example:${httpPort}/`]);
    assert.equal(unresolved.status, 502);
    assert.match(unresolved.body.toString(), /cannot resolve ghost\.dev\.example: ENOTFOUND/);
    assert.deepEqual(await sut.nextAccess().then((a) => [a.decision, a.entryId, a.ip, a.statusCode]), ['allowed', 'ghost', '', 502]);
    const unlisted = await curl(['--proxy', sut.url, `http://nowhere.example:${httpPort}/`]);
    assert.equal(unlisted.status, 403, 'decided on the name alone');
    assert.deepEqual(await sut.nextAccess().then((a) => [a.decision, a.ip]), ['blocked', '']);
  });

  test('a client that goes away mid-download: the upstream connection is closed and the bytes so far reported', async () => {
    sut.mode = ENFORCE;
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: sut.port, path: `http://git.dev.example:${httpPort}/slow`, headers: { Host: `git.dev.example:${httpPort}` } }, (res) => {
        let seen = 0;
        res.on('data', (chunk: Buffer) => {
          seen += chunk.length;
          if (seen >= 128 * 1024) {
            req.destroy();
            resolve();
          }
        });
      });
      req.on('error', (error) => (req.destroyed ? undefined : reject(error)));
      req.end();
    });
    const access = await sut.nextAccess();
    const upstream = await httpLog.next();
    assert.equal(access.failure, 'the client closed the connection');
    assert.equal(access.statusCode, 200);
    assert.ok(access.bytesReceived >= 128 * 1024 && access.bytesReceived < 200 * 64 * 1024, `partial download counted (${access.bytesReceived})`);
    assert.equal(access.bytesSent, upstream.bytesRead);
    assert.ok(upstream.bytesWritten >= access.bytesReceived, 'the origin wrote at least what the proxy read');
  });

  test('the proxy listens only on the address it was given', async () => {
    const external = Object.values(networkInterfaces())
      .flat()
      .find((info) => info !== undefined && !info.internal && info.family === 'IPv4');
    if (external === undefined) return;
    const error = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
      const socket = netConnect({ host: external.address, port: sut.port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(null);
      });
      socket.once('error', resolve);
    });
    assert.equal(error?.code, 'ECONNREFUSED', `${external.address}:${sut.port} must not answer`);
  });
});

describe('egress proxy limits', () => {
  const tcp = createNetServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => undefined);
    socket.write('ready\n');
    socket.on('data', (chunk) => socket.write(chunk));
    socket.on('end', () => socket.end());
  });
  // Long enough that the steps run while the first tunnel holds the slot fit inside it on a busy machine.
  const IDLE_MS = 1500;
  const sut = new ProxyUnderTest({ maxConcurrentRelays: 1, idleTimeoutMs: IDLE_MS });
  let tcpPort = 0;

  before(async () => {
    tcpPort = await listen(tcp, '127.0.0.1');
    await sut.start();
  });
  after(async () => {
    await sut.proxy.stop();
    await close(tcp);
  });

  test('an origin that accepts but never answers gets 504 after the idle time', async () => {
    // Reads the request (so it sees the proxy hang up) and never answers.
    const silent = createNetServer((socket) => socket.on('error', () => undefined).resume());
    const silentPort = await listen(silent, '127.0.0.1');
    try {
      const answer = await rawExchange(sut.port, `GET http://git.dev.example:${silentPort}/ HTTP/1.1\r\nHost: git.dev.example:${silentPort}\r\n\r\n`);
      assert.match(answer, new RegExp(`^HTTP/1\\.1 504 Gateway Timeout\r\n[^]*no data for ${IDLE_MS} ms`));
      const access = await sut.nextAccess();
      assert.deepEqual([access.statusCode, access.failure, access.decision], [504, `no data for ${IDLE_MS} ms`, 'allowed']);
      assert.ok(access.bytesSent > 0, 'the request went out');
      assert.equal(access.bytesReceived, 0);
    } finally {
      await close(silent);
    }
  });

  test('one relay at a time: the next gets 503 with the limit named; an idle tunnel is closed and frees the slot; stop() ends a tunnel in flight and reports it', async () => {
    sut.mode = ENFORCE;
    const first = await openTunnel(sut.port, `git.dev.example:${tcpPort}`);
    const openedAt = Date.now();
    assert.equal(first.status, 'HTTP/1.1 200 Connection Established');
    const busy = await rawExchange(sut.port, `CONNECT git.dev.example:${tcpPort} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.match(busy, /^HTTP\/1\.1 503 Service Unavailable\r\n[^]*1 connections already open/);
    const busyAccess = await sut.nextAccess();
    assert.deepEqual([busyAccess.statusCode, busyAccess.failure], [503, 'too many connections']);
    // Blocked destinations need no upstream connection: they still get their 403 at the limit.
    assert.match(await rawExchange(sut.port, `CONNECT other.example:${tcpPort} HTTP/1.1\r\nHost: x\r\n\r\n`), /^HTTP\/1\.1 403 /);
    await sut.nextAccess();

    first.socket.resume();
    // The test's socket is half-open capable: the proxy closing the tunnel shows as 'end'.
    await new Promise((resolve) => first.socket.once('end', resolve));
    first.socket.destroy();
    const idle = await sut.nextAccess();
    assert.equal(idle.failure, `no data for ${IDLE_MS} ms`);
    // The timer started a moment before openedAt (the tunnel's last bytes), hence the margin.
    assert.ok(Date.now() - openedAt >= IDLE_MS / 2, 'closed only after the idle time');
    assert.equal(sut.proxy.activeRelays, 0);

    const second = await openTunnel(sut.port, `git.dev.example:${tcpPort}`);
    assert.equal(second.status, 'HTTP/1.1 200 Connection Established', 'the slot is free again');
    second.socket.resume();
    const secondClosed = new Promise((resolve) => second.socket.once('end', resolve));
    await sut.proxy.stop();
    await secondClosed;
    second.socket.destroy();
    const stopped = await sut.nextAccess();
    assert.equal(stopped.failure, 'proxy stopped');
    assert.equal(stopped.bytesReceived, 'ready\n'.length);
  });
});
