import { lookup } from 'node:dns/promises';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { normalizeIpAddress } from '../../core/destinations/ip-address';
import type { DestinationQuery, DestinationVerdict } from '../../core/destinations/whitelist-matcher';
import { TransportProtocol } from '../../generated/mamori/v1/common';
import { ZoneEnforcementMode } from '../../generated/mamori/v1/policy';
import type { Logger } from '../../logging/logger';
import { withHeader, withoutHopByHopHeaders } from './hop-by-hop';
import { parseAbsoluteTarget, parseConnectTarget, ProxyRequestError, targetText, type ProxyTarget } from './proxy-target';

/** What the proxy asks about a destination: the zone is the decider's business, not the proxy's. */
export type ProxyDestinationQuery = Omit<DestinationQuery, 'zone'>;
/** The matcher's verdict with the zone the host is in and that zone's mode. */
export type ProxyVerdict = DestinationVerdict & { zone: string; mode: ZoneEnforcementMode };
export type ProxyDecision = 'allowed' | 'blocked' | 'audited';

/** One proxied request or tunnel, reported once when it has ended. */
export interface ProxyAccess {
  /** The host name as asked (normalized); '' when the client asked for an IP literal. */
  host: string;
  /** The address connected to (or, when no connection was made, the first one decided on); '' when the name did not resolve. */
  ip: string;
  port: number;
  decision: ProxyDecision;
  /** Bytes written to the destination (request line and headers included for plain HTTP; the tunnel payload for CONNECT). */
  bytesSent: number;
  /** Bytes read from the destination, counted the same way. */
  bytesReceived: number;
  /** The whitelist entry that allowed it; '' when none did or the zone's mode is off. */
  entryId: string;
  zone: string;
  startedAt: Date;
  endedAt: Date;
  /** The proxy client's address (normally 127.0.0.1 or ::1). */
  clientAddress: string;
  /** "CONNECT" for a tunnel, the HTTP method otherwise. */
  method: string;
  /** What the client got: the origin's status, 200 for an established tunnel, or the proxy's own 403/502/503/504; 0 when the client left first. */
  statusCode: number;
  /** Why the exchange failed or was cut short ('' when it ended normally). */
  failure: string;
}

export interface EgressProxyLimits {
  /** Tunnels and plain-HTTP exchanges holding an upstream connection at once; more get 503. */
  maxConcurrentRelays: number;
  /** Largest request line plus headers; larger gets 431. */
  maxHeaderBytes: number;
  /** A tunnel or exchange with no data either way for this long is closed (504 if nothing was answered yet). */
  idleTimeoutMs: number;
  /** Connecting to one address of the destination; past it the next address is tried, then 504. */
  connectTimeoutMs: number;
  /** Resolving a host name; past it the name counts as unresolved (502, or 403 when only the name was decided on and refused). */
  resolveTimeoutMs: number;
}

export const DEFAULT_EGRESS_PROXY_LIMITS: EgressProxyLimits = {
  maxConcurrentRelays: 256,
  maxHeaderBytes: 16 * 1024,
  idleTimeoutMs: 300_000,
  connectTimeoutMs: 10_000,
  resolveTimeoutMs: 5_000,
};

/** Resolves a host name to its addresses, in the order to try them. */
export type HostResolver = (hostName: string) => Promise<string[]>;

export interface EgressProxyOptions {
  /** Where to listen; only this address (normally 127.0.0.1). Port 0 picks a free port. */
  listen: { host: string; port: number };
  /** The whitelist decision for the current zone; called once per candidate address. Must not throw. */
  decide: (query: ProxyDestinationQuery) => ProxyVerdict;
  /** Called once per request or tunnel when it has ended. Exceptions are logged and ignored. */
  onAccess: (access: ProxyAccess) => void;
  /** Defaults to the system resolver (getaddrinfo, as the client itself would have resolved). */
  resolve?: HostResolver;
  limits?: Partial<EgressProxyLimits>;
  logger?: Logger;
}

/** The getaddrinfo answer, every address, in the system's preferred order. */
export const systemResolver: HostResolver = async (hostName) => (await lookup(hostName, { all: true, verbatim: true })).map((answer) => answer.address);

/**
 * Maps a verdict to what the proxy does: a zone whose mode is off (or unset) lets everything
 * through as allowed without naming an entry; audit lets a non-whitelisted destination through as
 * audited; enforce refuses it. Pure.
 */
export function decisionOf(verdict: ProxyVerdict): { decision: ProxyDecision; entryId: string; zone: string } {
  switch (verdict.mode) {
    case ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_AUDIT:
      return verdict.allowed ? { decision: 'allowed', entryId: verdict.entryId, zone: verdict.zone } : { decision: 'audited', entryId: '', zone: verdict.zone };
    case ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_ENFORCE:
      return verdict.allowed ? { decision: 'allowed', entryId: verdict.entryId, zone: verdict.zone } : { decision: 'blocked', entryId: '', zone: verdict.zone };
    default:
      return { decision: 'allowed', entryId: '', zone: verdict.zone };
  }
}

/** The verdict for one request and the addresses it may be connected to, in order. */
interface Route {
  decision: ProxyDecision;
  entryId: string;
  zone: string;
  addresses: string[];
  /** The address reported when no connection is made. */
  firstIp: string;
  /** Why the name did not resolve ('' when it did, or for an IP literal). */
  resolveFailure: string;
}

/** A failed upstream connection with the status the client gets (502, or 504 on a timeout). */
class UpstreamError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** A request or tunnel in flight, so that stop() can end it and wait for its report. */
interface ActiveRelay {
  abort(reason: string): void;
  readonly done: Promise<void>;
  /** True once it holds (or is opening) an upstream connection: what the concurrency limit counts. */
  upstream: boolean;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

function reasonOf(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  return e?.code ? `${e.code}${e.message && !e.message.startsWith(e.code) ? ` (${e.message})` : ''}` : String(e?.message ?? error);
}

/** A whole HTTP/1.1 answer as raw bytes, for sockets that are no longer an HTTP response (CONNECT, client errors). */
function rawAnswer(status: number, body: string): string {
  const text = `${body}\n`;
  return `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`;
}

function blockedText(target: ProxyTarget, zone: string): string {
  return `mamori: ${targetText(target)} is not on the development LAN whitelist${zone ? ` (zone ${zone})` : ''}; the connection was refused. Ask for the destination to be whitelisted.`;
}

/**
 * A local HTTP forward proxy that applies the destination whitelist to applications configured to
 * use a proxy: the portable enforcement path where the agent does not program the host firewall.
 *
 * - `CONNECT host:port` opens a TCP tunnel (HTTPS and anything else tunnelled); plain-HTTP
 *   requests with an absolute URI (`GET http://host/…`) are relayed with hop-by-hop headers removed
 *   and Host set to the URI's authority.
 * - A host name is resolved by the proxy, decided on the name and each address (allowed when
 *   either is whitelisted), and connected only to an address that was decided on, so DNS cannot
 *   change between the decision and the connection. An IP literal is decided as an address only:
 *   a whitelisted name that resolves to it does not allow it (the client named no host, and a
 *   shared address serves other names too).
 * - Every plain-HTTP exchange uses a fresh upstream connection (closed after the response), so
 *   each is decided against the current policy and its bytes are counted exactly; the client's
 *   connection to the proxy is kept alive between requests (answers of the proxy's own close it).
 *
 * Contract: start() rejects when the address cannot be bound; stop() closes the listener, ends every
 * request and tunnel in flight (each still reported once, failure "proxy stopped") and resolves
 * when all are reported. Malformed requests get 400 and never reach `decide` or `onAccess`.
 */
export class EgressProxy {
  private readonly limits: EgressProxyLimits;
  private readonly resolve: HostResolver;
  private readonly active = new Set<ActiveRelay>();
  private server: Server | null = null;
  private stopping = false;

  constructor(private readonly options: EgressProxyOptions) {
    this.limits = { ...DEFAULT_EGRESS_PROXY_LIMITS, ...options.limits };
    this.resolve = options.resolve ?? systemResolver;
  }

  /** The address it listens on, as configured. */
  get host(): string {
    return this.options.listen.host;
  }

  /** Relays in flight (tunnels and exchanges holding an upstream connection). */
  get activeRelays(): number {
    let count = 0;
    for (const relay of this.active) if (relay.upstream) count++;
    return count;
  }

  async start(): Promise<{ port: number }> {
    if (this.server !== null) throw new Error('the egress proxy is already started');
    this.stopping = false;
    const server = createServer({ maxHeaderSize: this.limits.maxHeaderBytes, requireHostHeader: true });
    // An upload may take longer than any fixed bound; the idle timeout catches stalls instead.
    server.requestTimeout = 0;
    server.headersTimeout = Math.min(this.limits.idleTimeoutMs, 60_000);
    // A little past the upstream idle timeout, so that a stalled origin gets its 504 first.
    server.timeout = this.limits.idleTimeoutMs + 5_000;
    server.on('request', (req, res) => this.handleRequest(req, res));
    server.on('connect', (req, socket, head) => this.handleConnect(req, socket, head));
    server.on('upgrade', (_req, socket) => {
      socket.on('error', () => undefined);
      socket.end(rawAnswer(501, 'mamori egress proxy: Upgrade over a plain-HTTP proxy request is not supported; clients tunnel WebSockets with CONNECT'));
    });
    server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => this.handleClientError(error, socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.listen.port, this.options.listen.host, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
    server.on('error', (error) => this.options.logger?.error('egress proxy listener failed', { error }));
    this.server = server;
    const address = server.address();
    return { port: typeof address === 'object' && address !== null ? address.port : this.options.listen.port };
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === null) return;
    this.server = null;
    this.stopping = true;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const relay of this.active) relay.abort('proxy stopped');
    server.closeAllConnections();
    await Promise.all([...this.active].map((relay) => relay.done));
    await closed;
  }

  private handleClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
    socket.on('error', () => undefined);
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    let status = 400;
    let text = `mamori egress proxy: malformed request (${error.code ?? 'parse error'}: ${error.message})`;
    if (error.code === 'HPE_HEADER_OVERFLOW') {
      status = 431;
      text = `mamori egress proxy: request line and headers exceed ${this.limits.maxHeaderBytes} bytes`;
    } else if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      status = 408;
      text = 'mamori egress proxy: the request headers did not arrive in time';
    }
    socket.end(rawAnswer(status, text));
  }

  private emit(access: ProxyAccess): void {
    try {
      this.options.onAccess(access);
    } catch (error) {
      this.options.logger?.warn('egress proxy access listener threw', { error });
    }
  }

  /** Resolves a name within the resolve timeout; the addresses normalized, duplicates dropped. */
  private async resolveName(host: string): Promise<string[]> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.limits.resolveTimeoutMs} ms`)), this.limits.resolveTimeoutMs);
      timer.unref();
    });
    try {
      const answers = await Promise.race([this.resolve(host), timeout]);
      const seen = new Set<string>();
      for (const answer of answers) {
        const ip = normalizeIpAddress(answer);
        if (ip !== null) seen.add(ip);
      }
      return [...seen];
    } finally {
      clearTimeout(timer);
    }
  }

  private async route(target: ProxyTarget): Promise<Route> {
    const protocol = TransportProtocol.TRANSPORT_PROTOCOL_TCP;
    if (target.kind === 'ip') {
      const decided = decisionOf(this.options.decide({ ip: target.ip, port: target.port, protocol }));
      return { ...decided, addresses: decided.decision === 'blocked' ? [] : [target.ip], firstIp: target.ip, resolveFailure: '' };
    }
    // A name that is not valid DNS syntax can match no name entry: it is decided on its addresses only.
    const host = target.unmatchableName ? undefined : target.host;
    let addresses: string[] = [];
    let resolveFailure = '';
    try {
      addresses = await this.resolveName(target.host);
      if (addresses.length === 0) resolveFailure = 'no addresses';
    } catch (error) {
      resolveFailure = reasonOf(error);
    }
    if (addresses.length === 0) {
      const decided = decisionOf(this.options.decide({ host, port: target.port, protocol }));
      return { ...decided, addresses: [], firstIp: '', resolveFailure };
    }
    const judged = addresses.map((ip) => ({ ip, verdict: this.options.decide({ host, ip, port: target.port, protocol }) }));
    const allowed = judged.filter((candidate) => candidate.verdict.allowed);
    const chosen = allowed.length > 0 ? allowed : judged;
    const decided = decisionOf(chosen[0].verdict);
    return {
      ...decided,
      // Only addresses that were decided on, and only the whitelisted ones when there are any.
      addresses: decided.decision === 'blocked' ? [] : chosen.map((candidate) => candidate.ip),
      firstIp: chosen[0].ip,
      resolveFailure: '',
    };
  }

  private connectOne(ip: string, port: number): Promise<Socket> {
    return new Promise((resolve, reject) => {
      // Half-open: a client that finishes sending (FIN) still gets the rest of the answer.
      const socket = netConnect({ host: ip, port, allowHalfOpen: true });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new UpstreamError(504, `no connection to ${ip.includes(':') ? `[${ip}]` : ip}:${port} within ${this.limits.connectTimeoutMs} ms`));
      }, this.limits.connectTimeoutMs);
      const onError = (error: Error) => {
        clearTimeout(timer);
        reject(new UpstreamError(502, `cannot connect to ${ip.includes(':') ? `[${ip}]` : ip}:${port}: ${reasonOf(error)}`));
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeListener('error', onError);
        resolve(socket);
      });
    });
  }

  /** Connects to the first address that answers; throws the last UpstreamError when none does. */
  private async connectUpstream(addresses: string[], port: number, abandoned: () => boolean): Promise<{ socket: Socket; ip: string }> {
    let last: UpstreamError = new UpstreamError(502, 'no address to connect to');
    for (const ip of addresses) {
      if (abandoned()) break;
      try {
        const socket = await this.connectOne(ip, port);
        if (abandoned()) {
          socket.destroy();
          break;
        }
        return { socket, ip };
      } catch (error) {
        last = error instanceof UpstreamError ? error : new UpstreamError(502, reasonOf(error));
      }
    }
    throw last;
  }

  /** Registers a relay; `settle` must be called exactly once when its report has been emitted. */
  private track(abort: (reason: string) => void): { relay: ActiveRelay; settle: () => void } {
    let settle!: () => void;
    const done = new Promise<void>((resolve) => (settle = resolve));
    const relay: ActiveRelay = { abort, done, upstream: false };
    this.active.add(relay);
    return {
      relay,
      settle: () => {
        this.active.delete(relay);
        settle();
      },
    };
  }

  private atCapacity(): boolean {
    return this.activeRelays >= this.limits.maxConcurrentRelays;
  }

  private busyText(): string {
    return `mamori egress proxy: ${this.limits.maxConcurrentRelays} connections already open (the limit); try again later`;
  }

  // ---- plain HTTP ---------------------------------------------------------------------------

  private handleRequest(req: IncomingMessage, res: ServerResponse): void {
    this.relayHttp(req, res).catch((error) => {
      this.options.logger?.error('egress proxy request failed', { error });
      if (!res.headersSent) this.answer(res, 500, `mamori egress proxy: internal error (${reasonOf(error)})`);
      else res.destroy();
    });
  }

  /** The proxy's own answer; it closes the client connection so an unread request body is never relayed or drained. */
  private answer(res: ServerResponse, status: number, text: string): void {
    const body = `${text}\n`;
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), Connection: 'close' });
    res.end(body);
  }

  private async relayHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let parsed;
    try {
      parsed = parseAbsoluteTarget(req.url ?? '');
    } catch (error) {
      if (!(error instanceof ProxyRequestError)) throw error;
      this.answer(res, error.status, `mamori egress proxy: ${error.message}`);
      return;
    }
    const startedAt = new Date();
    const target = parsed.target;
    let clientGone = false;
    let upstreamSocket: Socket | null = null;
    let failure = '';
    const { relay, settle } = this.track((reason) => {
      failure ||= reason;
      clientGone = true;
      upstreamSocket?.destroy();
      res.destroy();
    });
    res.once('close', () => {
      if (!res.writableFinished) {
        clientGone = true;
        failure ||= 'the client closed the connection';
        upstreamSocket?.destroy();
      }
    });
    const report = (route: Route | null, ip: string, statusCode: number, sent: number, received: number) => {
      this.emit({
        host: target.kind === 'name' ? target.host : '',
        ip,
        port: target.port,
        decision: route?.decision ?? 'allowed',
        bytesSent: sent,
        bytesReceived: received,
        entryId: route?.entryId ?? '',
        zone: route?.zone ?? '',
        startedAt,
        endedAt: new Date(),
        clientAddress: normalizeIpAddress(req.socket.remoteAddress ?? '') ?? req.socket.remoteAddress ?? '',
        method: req.method ?? '',
        statusCode,
        failure,
      });
      settle();
    };

    const route = await this.route(target);
    if (clientGone) return report(route, route.firstIp, 0, 0, 0);
    if (route.decision === 'blocked') {
      this.answer(res, 403, blockedText(target, route.zone));
      return report(route, route.firstIp, 403, 0, 0);
    }
    if (route.addresses.length === 0) {
      failure = `cannot resolve ${target.kind === 'name' ? target.host : ''}: ${route.resolveFailure}`;
      this.answer(res, 502, `mamori egress proxy: ${failure}`);
      return report(route, '', 502, 0, 0);
    }
    if (this.atCapacity()) {
      failure = 'too many connections';
      this.answer(res, 503, this.busyText());
      return report(route, route.firstIp, 503, 0, 0);
    }
    relay.upstream = true;
    let connected: { socket: Socket; ip: string };
    try {
      connected = await this.connectUpstream(route.addresses, target.port, () => clientGone);
    } catch (error) {
      const status = error instanceof UpstreamError ? error.status : 502;
      failure ||= reasonOf(error);
      if (!clientGone) this.answer(res, status, `mamori egress proxy: ${failure}`);
      return report(route, route.firstIp, clientGone ? 0 : status, 0, 0);
    }
    const upstream = connected.socket;
    upstreamSocket = upstream;
    if (clientGone) {
      upstream.destroy();
      return report(route, connected.ip, 0, 0, 0);
    }
    let statusCode = 0;
    let pending = 2; // the upstream socket and the client response must both be closed
    const closedOne = () => {
      if (--pending === 0) report(route, connected.ip, statusCode, upstream.bytesWritten, upstream.bytesRead);
    };
    upstream.once('close', closedOne);
    if (res.closed) closedOne();
    else res.once('close', closedOne);
    upstream.setTimeout(this.limits.idleTimeoutMs, () => upstream.destroy(new Error(`no data for ${this.limits.idleTimeoutMs} ms`)));

    const headers = withHeader(withoutHopByHopHeaders(req.rawHeaders), 'Host', parsed.hostHeader);
    // No agent: one connection per exchange, closed after it (Node sends "Connection: close").
    const upstreamRequest = httpRequest({
      method: req.method,
      path: parsed.path,
      headers: headers as unknown as Record<string, string>,
      setHost: false,
      createConnection: () => upstream,
    });
    upstreamRequest.on('response', (upstreamResponse) => {
      statusCode = upstreamResponse.statusCode ?? 502;
      res.writeHead(statusCode, upstreamResponse.statusMessage, withoutHopByHopHeaders(upstreamResponse.rawHeaders));
      upstreamResponse.pipe(res);
      upstreamResponse.once('aborted', () => {
        failure ||= 'the destination closed the connection mid-response';
        res.destroy();
      });
      upstreamResponse.once('error', (error) => {
        failure ||= reasonOf(error);
        res.destroy();
      });
    });
    upstreamRequest.on('error', (error) => {
      failure ||= error.message.startsWith('no data for') ? error.message : `the destination failed: ${reasonOf(error)}`;
      upstream.destroy();
      if (!res.headersSent && !clientGone) {
        statusCode = error.message.startsWith('no data for') ? 504 : 502;
        this.answer(res, statusCode, `mamori egress proxy: ${failure}`);
      } else {
        res.destroy();
      }
    });
    req.pipe(upstreamRequest);
  }

  // ---- CONNECT tunnels ----------------------------------------------------------------------

  private handleConnect(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const client = socket as Socket;
    // Failures surface as 'close' and are reported there; an unhandled 'error' would end the agent.
    client.on('error', () => undefined);
    this.relayTunnel(req, client, head).catch((error) => {
      this.options.logger?.error('egress proxy tunnel failed', { error });
      client.destroy();
    });
  }

  private async relayTunnel(req: IncomingMessage, client: Socket, head: Buffer): Promise<void> {
    let target: ProxyTarget;
    try {
      target = parseConnectTarget(req.url ?? '');
    } catch (error) {
      if (!(error instanceof ProxyRequestError)) throw error;
      client.end(rawAnswer(error.status, `mamori egress proxy: ${error.message}`));
      return;
    }
    const startedAt = new Date();
    let clientGone = false;
    let upstreamSocket: Socket | null = null;
    let failure = '';
    const clientAddress = normalizeIpAddress(client.remoteAddress ?? '') ?? client.remoteAddress ?? '';
    const { relay, settle } = this.track((reason) => {
      failure ||= reason;
      clientGone = true;
      client.destroy();
      upstreamSocket?.destroy();
    });
    client.once('close', () => {
      clientGone = true;
      if (upstreamSocket === null) failure ||= 'the client closed the connection';
    });
    const report = (route: Route, ip: string, statusCode: number, sent: number, received: number) => {
      this.emit({
        host: target.kind === 'name' ? target.host : '',
        ip,
        port: target.port,
        decision: route.decision,
        bytesSent: sent,
        bytesReceived: received,
        entryId: route.entryId,
        zone: route.zone,
        startedAt,
        endedAt: new Date(),
        clientAddress,
        method: 'CONNECT',
        statusCode,
        failure,
      });
      settle();
    };
    const refuse = (route: Route, ip: string, status: number, text: string) => {
      client.end(rawAnswer(status, text));
      report(route, ip, status, 0, 0);
    };

    const route = await this.route(target);
    if (clientGone) return report(route, route.firstIp, 0, 0, 0);
    if (route.decision === 'blocked') return refuse(route, route.firstIp, 403, blockedText(target, route.zone));
    if (route.addresses.length === 0) {
      failure = `cannot resolve ${target.kind === 'name' ? target.host : ''}: ${route.resolveFailure}`;
      return refuse(route, '', 502, `mamori egress proxy: ${failure}`);
    }
    if (this.atCapacity()) {
      failure = 'too many connections';
      return refuse(route, route.firstIp, 503, this.busyText());
    }
    relay.upstream = true;
    let connected: { socket: Socket; ip: string };
    try {
      connected = await this.connectUpstream(route.addresses, target.port, () => clientGone);
    } catch (error) {
      const status = error instanceof UpstreamError ? error.status : 502;
      failure ||= reasonOf(error);
      if (clientGone) return report(route, route.firstIp, 0, 0, 0);
      return refuse(route, route.firstIp, status, `mamori egress proxy: ${failure}`);
    }
    const upstream = connected.socket;
    upstreamSocket = upstream;
    if (clientGone) {
      upstream.destroy();
      return report(route, connected.ip, 0, 0, 0);
    }

    let pending = 2;
    const closedOne = () => {
      if (--pending === 0) report(route, connected.ip, 200, upstream.bytesWritten, upstream.bytesRead);
    };
    upstream.once('close', (hadError) => {
      // The client still gets what was already relayed; a reset destination resets the tunnel.
      if (hadError) client.destroy();
      else client.end();
      closedOne();
    });
    if (client.destroyed) closedOne();
    else client.once('close', () => {
      upstream.destroy();
      closedOne();
    });
    let destinationFinished = false;
    upstream.once('end', () => (destinationFinished = true));
    upstream.on('error', (error) => {
      failure ||= `the destination failed: ${reasonOf(error)}`;
    });
    client.on('error', (error: NodeJS.ErrnoException) => {
      // Many TLS clients (curl among them) close their socket without reading the destination's
      // closing bytes (TLS close_notify), so their kernel answers those with a reset. Once the
      // destination has finished, nothing the client sends could still reach it: that reset is
      // how the exchange ended, not a failure of it.
      if (destinationFinished && (error.code === 'ECONNRESET' || error.code === 'EPIPE')) return;
      failure ||= `the client failed: ${reasonOf(error)}`;
    });
    // Both sockets carry the same bytes, so the client side's inactivity is the tunnel's.
    client.setTimeout(this.limits.idleTimeoutMs, () => {
      failure ||= `no data for ${this.limits.idleTimeoutMs} ms`;
      client.destroy();
      upstream.destroy();
    });
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) upstream.write(head);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
