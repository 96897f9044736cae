import { normalizeHostNameOrNull } from '../../core/destinations/host-name';
import { normalizeIpAddress } from '../../core/destinations/ip-address';

/**
 * Where a proxied request wants to go. `kind` says how it was written: a host name is decided on
 * the name and on the address it resolves to; an IP literal only as an address.
 */
export type ProxyTarget =
  | { kind: 'name'; host: string; port: number; /** true when the name is not a valid DNS name (e.g. has "_"): it can match no name entry */ unmatchableName: boolean }
  | { kind: 'ip'; ip: string; port: number };

/** A request the proxy cannot serve, with the HTTP status to answer and why. */
export class ProxyRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ProxyRequestError';
  }
}

/** "host:port" as written in a target, IPv6 in brackets; for logs and answers. */
export function targetText(target: ProxyTarget): string {
  const host = target.kind === 'ip' ? target.ip : target.host;
  return `${host.includes(':') ? `[${host}]` : host}:${target.port}`;
}

function portOf(text: string, what: string): number {
  if (!/^\d{1,5}$/.test(text)) throw new ProxyRequestError(400, `${what} needs a port number, got "${text}"`);
  const port = Number(text);
  if (port < 1 || port > 65_535) throw new ProxyRequestError(400, `${what} port must be between 1 and 65535, got ${port}`);
  return port;
}

/**
 * Classifies a host as the WHATWG URL parser (what browsers and most clients use) canonicalized
 * it: "0x7f.1" was already turned into "127.0.0.1" there, so odd IPv4 spellings cannot pass as
 * names. A name that is not valid DNS syntax is kept, lower-cased, as an unmatchable name: it is
 * still relayed where the zone lets everything through, and decided on its address elsewhere.
 */
function classify(hostname: string, port: number): ProxyTarget {
  const bare = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  if (bare === '') throw new ProxyRequestError(400, 'the request names no host');
  const ip = normalizeIpAddress(bare);
  if (ip !== null) return { kind: 'ip', ip, port };
  const host = normalizeHostNameOrNull(bare);
  if (host !== null) return { kind: 'name', host, port, unmatchableName: false };
  return { kind: 'name', host: bare.toLowerCase().replace(/\.$/, ''), port, unmatchableName: true };
}

/**
 * The target of a CONNECT request: "host:port" or "[v6]:port". The port is required (a tunnel
 * has no default port). Throws ProxyRequestError(400) naming the problem.
 */
export function parseConnectTarget(authority: string): ProxyTarget {
  const match = /^(\[[^\]]*\]|[^:\[\]/?#@\s]+):([^:]*)$/.exec(authority);
  if (match === null) throw new ProxyRequestError(400, `CONNECT needs "host:port", got "${authority.slice(0, 200)}"`);
  const port = portOf(match[2], 'CONNECT');
  let url: URL;
  try {
    url = new URL(`http://${match[1]}/`);
  } catch {
    throw new ProxyRequestError(400, `CONNECT names an invalid host "${match[1].slice(0, 200)}"`);
  }
  return classify(url.hostname, port);
}

/** A plain-HTTP proxy request: where it goes and the origin-form path to send upstream. */
export interface AbsoluteRequestTarget {
  target: ProxyTarget;
  /** "/path?query" as sent to the origin server. */
  path: string;
  /** The Host header the origin server gets: the URI's authority, whatever Host the client sent. */
  hostHeader: string;
}

/**
 * The absolute URI of a plain-HTTP proxy request ("http://host[:port]/path"). An origin-form
 * path ("/path") is not a proxy request, and "https://" URIs must come through CONNECT (this proxy
 * does not speak TLS to origins on a client's behalf). Throws ProxyRequestError(400).
 */
export function parseAbsoluteTarget(requestTarget: string): AbsoluteRequestTarget {
  if (!/^http:\/\//i.test(requestTarget)) {
    if (/^https:\/\//i.test(requestTarget)) throw new ProxyRequestError(400, 'https:// URIs go through CONNECT; set the client\'s https proxy to this proxy');
    throw new ProxyRequestError(400, `a proxy request needs an absolute http:// URI, got "${requestTarget.slice(0, 200)}"`);
  }
  let url: URL;
  try {
    url = new URL(requestTarget);
  } catch {
    throw new ProxyRequestError(400, `invalid URI "${requestTarget.slice(0, 200)}"`);
  }
  const port = url.port === '' ? 80 : portOf(url.port, 'the URI');
  const target = classify(url.hostname, port);
  return { target, path: `${url.pathname}${url.search}`, hostHeader: url.host };
}
