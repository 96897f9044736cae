/**
 * Headers that describe one hop (client to proxy, or proxy to origin), never the end-to-end
 * message (RFC 9110 7.6.1), plus the proxy's own credentials and the legacy Proxy-Connection.
 * Transfer-Encoding is re-chosen by each hop's writer; Upgrade is refused by the proxy.
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/**
 * Drops the hop-by-hop headers from raw headers (Node's `rawHeaders`: name, value, name, value…),
 * including every header named in a Connection header's tokens. Order, case and repeated headers
 * (Set-Cookie) are kept. Pure.
 */
export function withoutHopByHopHeaders(rawHeaders: readonly string[]): string[] {
  const named = new Set(HOP_BY_HOP);
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    if (name === 'connection' || name === 'proxy-connection') {
      for (const token of rawHeaders[i + 1].split(',')) {
        const header = token.trim().toLowerCase();
        if (header !== '') named.add(header);
      }
    }
  }
  const kept: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (!named.has(rawHeaders[i].toLowerCase())) kept.push(rawHeaders[i], rawHeaders[i + 1]);
  }
  return kept;
}

/** Replaces (or adds) one header in raw headers, putting it first (where Host belongs) and keeping the others. Pure. */
export function withHeader(rawHeaders: readonly string[], name: string, value: string): string[] {
  const kept: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i].toLowerCase() !== name.toLowerCase()) kept.push(rawHeaders[i], rawHeaders[i + 1]);
  }
  return [name, value, ...kept];
}
