import { TransportProtocol } from '../../agent/src/generated/mamori/v1/common';
import type { WhitelistEntry } from '../../agent/src/generated/mamori/v1/policy';
import { isAtOrBelow, normalizeHostNameOrNull, parseHostPattern, type HostPattern } from '../../agent/src/core/destinations/host-name';
import { blockContains, formatIpAddress, parseCidrBlock, readIpAddress, type CidrBlock } from '../../agent/src/core/destinations/ip-address';
import { DestinationSyntaxError, validateWhitelistEntry } from '../../agent/src/core/destinations/whitelist-entry';
import type { DestinationQuery, DestinationVerdict } from '../../agent/src/core/destinations/whitelist-matcher';
import { fromTimestamp, toTimestamp } from '../../agent/src/core/timestamps';
import { seededRandom } from '../bench/loadgen/event-mix';

/** A whitelist entry with every field at its proto default except those given. */
export function whitelistEntry(fields: Partial<WhitelistEntry> & { entryId: string }): WhitelistEntry {
  return {
    hostPattern: '',
    cidr: '',
    ports: [],
    protocol: TransportProtocol.TRANSPORT_PROTOCOL_UNSPECIFIED,
    service: 'any',
    zone: '',
    justification: '',
    requestedBy: '',
    approvedBy: '',
    expiresAt: undefined,
    ...fields,
  };
}

interface PreparedEntry {
  entry: WhitelistEntry;
  pattern: HostPattern | null;
  block: CidrBlock | null;
}

/**
 * The naive reference for CompiledWhitelist.decide: every entry checked in turn, written from the
 * documented rules rather than from the tries, so that the two can be compared on random queries.
 * The benchmark's baseline is the same scan.
 */
export class LinearWhitelist {
  private readonly prepared: PreparedEntry[] = [];

  constructor(entries: readonly WhitelistEntry[], now: Date) {
    for (const raw of entries) {
      if (raw.entryId === '') continue;
      let entry: WhitelistEntry;
      try {
        entry = validateWhitelistEntry(raw);
      } catch (error) {
        if (error instanceof DestinationSyntaxError) continue;
        throw error;
      }
      const expiresAt = fromTimestamp(entry.expiresAt);
      if (expiresAt !== undefined && expiresAt.getTime() <= now.getTime()) continue;
      this.prepared.push({ entry, pattern: entry.hostPattern === '' ? null : parseHostPattern(entry.hostPattern), block: entry.cidr === '' ? null : parseCidrBlock(entry.cidr) });
    }
  }

  get entryCount(): number {
    return this.prepared.length;
  }

  decide(query: DestinationQuery): DestinationVerdict {
    const name = query.host === undefined || query.host === '' ? null : normalizeHostNameOrNull(query.host);
    let ipText = query.ip ?? '';
    const scratch = new Uint32Array(4);
    if (ipText === '' && query.host !== undefined && query.host !== '' && readIpAddress(query.host, scratch, true) !== 0) ipText = query.host;
    const words = new Uint32Array(4);
    const family = ipText === '' ? 0 : readIpAddress(ipText, words, true);
    let best: { rank: number[]; entryId: string } | null = null;
    for (const { entry, pattern, block } of this.prepared) {
      if (entry.zone !== '' && entry.zone !== query.zone) continue;
      if (entry.protocol !== TransportProtocol.TRANSPORT_PROTOCOL_UNSPECIFIED && entry.protocol !== query.protocol) continue;
      if (entry.ports.length > 0 && !entry.ports.some((r) => query.port >= r.first && query.port <= r.last)) continue;
      let source: number;
      let length: number;
      let kind = 0;
      if (pattern !== null) {
        if (name === null) continue;
        const matches =
          pattern.kind === 'exact' ? name === pattern.name : pattern.kind === 'subdomains' ? name !== pattern.name && isAtOrBelow(name, pattern.name) : isAtOrBelow(name, pattern.name);
        if (!matches) continue;
        source = 1;
        length = pattern.name.split('.').length;
        kind = pattern.kind === 'exact' ? 2 : pattern.kind === 'subdomains' ? 1 : 0;
      } else {
        if (family === 0 || !blockContains(block!, family, words)) continue;
        source = 0;
        length = block!.prefixLength;
      }
      const rank = [source, length, kind, Number(entry.zone !== ''), Number(entry.ports.length > 0), Number(entry.protocol !== TransportProtocol.TRANSPORT_PROTOCOL_UNSPECIFIED)];
      if (best === null || compareRanks(rank, entry.entryId, best.rank, best.entryId) > 0) best = { rank, entryId: entry.entryId };
    }
    return best === null ? { allowed: false, entryId: '' } : { allowed: true, entryId: best.entryId };
  }
}

/** Positive when (a, aId) is more specific than (b, bId); equal ranks go to the smaller id. */
function compareRanks(a: number[], aId: string, b: number[], bId: string): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return aId < bId ? 1 : aId > bId ? -1 : 0;
}

/**
 * The text as a program receives it from the network or a file (one flat string), not the rope of
 * pieces a template literal builds: V8 reads a rope's characters far more slowly, which would
 * measure the generator rather than the matcher.
 */
function asReceived(text: string): string {
  return Buffer.from(text, 'utf8').toString('utf8');
}

export interface WhitelistWorkload {
  entries: WhitelistEntry[];
  queries: DestinationQuery[];
  now: Date;
}

const WORDS = ['git', 'mail', 'api', 'cdn', 'build', 'wiki', 'docs', 'repo', 'ci', 'smtp', 'imap', 'proxy', 'static', 'auth', 'login', 'files', 'pkg', 'mirror', 'jira', 'chat'];
const TLDS = ['com', 'net', 'org', 'jp', 'co.jp', 'io', 'dev'];
const ZONES = ['', '', '', 'dev-lan', 'dev-lan', 'office-lan'];

/**
 * A deterministic whitelist of `entryCount` entries and `queryCount` queries for `seed`: about 60 %
 * host patterns (exact, "*.", ".") over a few thousand company domains and 40 % blocks (IPv4 and
 * IPv6, /8 to single addresses), some with ports, a protocol or a zone, a few expired and a few
 * invalid; about half the queries are built to hit an entry (a name below a pattern, an address
 * inside a block; written in upper case, with a trailing dot or IPv4-mapped now and then) and half
 * are random names and addresses that mostly miss.
 */
export function makeWhitelistWorkload(seed: number, entryCount: number, queryCount: number): WhitelistWorkload {
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const int = (low: number, high: number): number => low + Math.floor(random() * (high - low + 1));
  const now = new Date('2026-11-28T00:00:00Z');
  const domainCount = Math.max(10, Math.floor(entryCount / 4));
  const domains = Array.from({ length: domainCount }, (_, i) => `${pick(WORDS)}${i}.example${i % 97}.${pick(TLDS)}`);
  const entries: WhitelistEntry[] = [];
  for (let i = 0; i < entryCount; i++) {
    const roll = random();
    const fields: Partial<WhitelistEntry> = {};
    if (roll < 0.6) {
      const domain = pick(domains);
      const shape = random();
      fields.hostPattern = shape < 0.4 ? `${pick(WORDS)}.${domain}` : shape < 0.55 ? domain : shape < 0.8 ? `*.${domain}` : `.${domain}`;
    } else if (roll < 0.9) {
      const prefix = pick([12, 16, 20, 24, 24, 28, 32, 32, 32, 32]);
      const address = (int(0, 0xffffffff) & (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0)) >>> 0;
      fields.cidr = `${formatIpAddress(4, [address])}/${prefix}`;
    } else {
      const prefix = pick([32, 48, 56, 64, 64, 128]);
      const words = [0x20010db8, int(0, 0xffffffff), int(0, 0xffffffff), int(0, 0xffffffff)];
      for (let w = 0; w < 4; w++) {
        const keep = Math.max(0, Math.min(32, prefix - 32 * w));
        words[w] = keep === 0 ? 0 : keep === 32 ? words[w]! : (words[w]! & (0xffffffff << (32 - keep))) >>> 0;
      }
      fields.cidr = `${formatIpAddress(6, words)}/${prefix}`;
    }
    const portRoll = random();
    if (portRoll < 0.2) fields.ports = [{ first: 443, last: 443 }];
    else if (portRoll < 0.3) fields.ports = [{ first: 25, last: 25 }, { first: 587, last: 587 }];
    else if (portRoll < 0.35) fields.ports = [{ first: 8000, last: 8999 }];
    const protocolRoll = random();
    fields.protocol = protocolRoll < 0.15 ? TransportProtocol.TRANSPORT_PROTOCOL_TCP : protocolRoll < 0.2 ? TransportProtocol.TRANSPORT_PROTOCOL_UDP : TransportProtocol.TRANSPORT_PROTOCOL_UNSPECIFIED;
    fields.zone = pick(ZONES);
    const expiryRoll = random();
    if (expiryRoll < 0.05) fields.expiresAt = toTimestamp(new Date(now.getTime() - int(0, 86_400_000)));
    else if (expiryRoll < 0.2) fields.expiresAt = toTimestamp(new Date(now.getTime() + int(1, 30 * 86_400_000)));
    // About 1 % invalid: both a name and a block, or a block with host bits set.
    if (random() < 0.01) fields.cidr = fields.hostPattern === undefined ? '10.0.0.5/8' : '10.0.0.0/8';
    entries.push(whitelistEntry({ entryId: `e${String(i).padStart(5, '0')}`, ...fields }));
  }
  const bases = entries.filter((entry) => {
    try {
      validateWhitelistEntry(entry);
      return true;
    } catch {
      return false;
    }
  });
  const queries: DestinationQuery[] = [];
  for (let i = 0; i < queryCount; i++) {
    const query: DestinationQuery = {
      port: pick([443, 443, 80, 25, 587, 22, 8080, 8443, 53]),
      protocol: random() < 0.85 ? TransportProtocol.TRANSPORT_PROTOCOL_TCP : TransportProtocol.TRANSPORT_PROTOCOL_UDP,
      zone: pick(['dev-lan', 'dev-lan', 'office-lan', '']),
    };
    const basis = pick(bases);
    if (random() < 0.5) {
      if (basis.hostPattern !== '') {
        const base = basis.hostPattern.replace(/^\*?\./, '');
        let host = basis.hostPattern.startsWith('*') || (basis.hostPattern.startsWith('.') && random() < 0.5) ? `${pick(WORDS)}.${base}` : base;
        if (random() < 0.1) host = host.toUpperCase();
        if (random() < 0.1) host += '.';
        query.host = host;
      } else {
        const block = parseCidrBlock(basis.cidr);
        const words = Array.from(block.words);
        const last = block.family === 4 ? 0 : 3;
        if (block.prefixLength < (block.family === 4 ? 32 : 128)) words[last] = (words[last]! | (int(0, 255) & ((1 << Math.min(8, (block.family === 4 ? 32 : 128) - block.prefixLength)) - 1))) >>> 0;
        const text = formatIpAddress(block.family, words);
        query.ip = block.family === 4 && random() < 0.2 ? `::ffff:${text}` : text;
      }
      const range = basis.ports[0];
      if (range !== undefined && random() < 0.8) query.port = range.first;
    } else if (random() < 0.6) {
      query.host = `${pick(WORDS)}.${pick(WORDS)}${int(0, domainCount * 2)}.example${int(0, 120)}.${pick(TLDS)}`;
      if (random() < 0.5) query.ip = formatIpAddress(4, [int(0, 0xffffffff)]);
    } else {
      query.ip = random() < 0.8 ? formatIpAddress(4, [int(0, 0xffffffff)]) : formatIpAddress(6, [0x20010db8, int(0, 0xffffffff), int(0, 0xffffffff), int(0, 0xffffffff)]);
    }
    if (query.host !== undefined) query.host = asReceived(query.host);
    if (query.ip !== undefined) query.ip = asReceived(query.ip);
    queries.push(query);
  }
  return { entries, queries, now };
}
