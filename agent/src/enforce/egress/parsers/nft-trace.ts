/**
 * Pure parsers for `nft monitor trace` text output (nftables 1.0.x). A traced packet prints one
 * `packet:` line (the headers, printed with the first event of that trace id) and one line per rule
 * it went through while tracing was on:
 *
 *   trace id d2820de1 inet mamori_egress observe packet: oif "veth-c" ip saddr 10.99.0.1 ip daddr 10.99.0.2 ... tcp sport 53162 tcp dport 9090 ...
 *   trace id d2820de1 inet mamori_egress observe rule meta nftrace set 1 comment "mamori:blocked" (verdict continue)
 */

/** The headers of a traced packet that an attempt report needs. */
export interface TracedPacket {
  family: 4 | 6 | null;
  sourceAddress: string;
  destinationAddress: string;
  /** "tcp", "udp", "icmp", ... as nft names the transport; '' when not shown. */
  protocol: string;
  sourcePort: number | null;
  destinationPort: number | null;
  outputInterface: string;
}

export type NftTraceLine =
  | { kind: 'packet'; traceId: string; family: string; table: string; chain: string; packet: TracedPacket }
  | { kind: 'rule'; traceId: string; family: string; table: string; chain: string; rule: string; comment: string | null; verdict: string }
  | { kind: 'verdict'; traceId: string; family: string; table: string; chain: string; text: string };

const PREFIX = /^trace id ([0-9a-f]+) (\S+) (\S+) (\S+) (packet: |rule |unknown rule handle |verdict |policy )(.*)$/;

/** One line of trace output, or null for anything else (blank lines, nft's own errors). */
export function parseNftTraceLine(line: string): NftTraceLine | null {
  const match = PREFIX.exec(line.trimEnd());
  if (match === null) return null;
  const [, traceId, family, table, chain, kind, rest] = match;
  if (kind === 'packet: ') return { kind: 'packet', traceId, family, table, chain, packet: parsePacketFields(rest) };
  if (kind === 'rule ' || kind === 'unknown rule handle ') {
    const verdictMatch = /^(.*) \(verdict ([^)]*)\)$/.exec(rest);
    const rule = verdictMatch === null ? rest : verdictMatch[1];
    const comment = /\bcomment "((?:[^"\\]|\\.)*)"/.exec(rule);
    return { kind: 'rule', traceId, family, table, chain, rule, comment: comment === null ? null : comment[1], verdict: verdictMatch === null ? '' : verdictMatch[2] };
  }
  return { kind: 'verdict', traceId, family, table, chain, text: `${kind.trim()} ${rest}` };
}

/** Reads the header fields nft prints as "<protocol> <field> <value>" pairs. */
export function parsePacketFields(text: string): TracedPacket {
  const tokens = text.match(/"[^"]*"|\S+/g) ?? [];
  const packet: TracedPacket = { family: null, sourceAddress: '', destinationAddress: '', protocol: '', sourcePort: null, destinationPort: null, outputInterface: '' };
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    const next = tokens[i + 1];
    const value = tokens[i + 2];
    if (token === 'oif' && next !== undefined) packet.outputInterface = next.replace(/"/g, '');
    if ((token === 'ip' || token === 'ip6') && value !== undefined) {
      if (next === 'saddr') packet.sourceAddress = value;
      if (next === 'daddr') {
        packet.destinationAddress = value;
        packet.family = token === 'ip' ? 4 : 6;
      }
      if (next === 'protocol' || next === 'nexthdr') packet.protocol = value;
    }
    if ((token === 'tcp' || token === 'udp' || token === 'sctp' || token === 'dccp') && value !== undefined && /^\d+$/.test(value)) {
      if (next === 'sport') packet.sourcePort = Number(value);
      if (next === 'dport') packet.destinationPort = Number(value);
      if (packet.protocol === '') packet.protocol = token;
    }
  }
  return packet;
}

/** A packet one of the agent's observe chains traced, with the chain (and so the decision) it was traced in. */
export interface TracedAttempt {
  traceId: string;
  chain: string;
  packet: TracedPacket;
}

/**
 * Joins `packet:` lines with the first event of the same trace id in one of the agent's observe
 * chains. Only the table and chain names count, never the rule text: both come from the kernel with
 * each event, while the rule text comes from `nft monitor`'s cache, which is stale after the table
 * was replaced. Other programs may trace packets too and their lines arrive on the same stream; the
 * packet line can even come from another table (the first to trace that packet), so packets are kept
 * by trace id whatever table printed them, the newest `memory` of them.
 */
export class NftTraceAssembler {
  private readonly packets = new Map<string, TracedPacket>();
  private readonly reported = new Set<string>();

  constructor(
    private readonly table: { family: string; name: string },
    private readonly chains: readonly string[],
    private readonly memory = 1024,
  ) {}

  /** Feeds one line; returns the attempt when this line completes one. */
  push(line: string): TracedAttempt | null {
    const parsed = parseNftTraceLine(line);
    if (parsed === null) return null;
    if (parsed.kind === 'packet') {
      this.packets.delete(parsed.traceId);
      this.packets.set(parsed.traceId, parsed.packet);
      this.reported.delete(parsed.traceId);
      while (this.packets.size > this.memory) {
        const oldest = this.packets.keys().next().value as string;
        this.packets.delete(oldest);
        this.reported.delete(oldest);
      }
    }
    if (parsed.family !== this.table.family || parsed.table !== this.table.name || !this.chains.includes(parsed.chain)) return null;
    const packet = this.packets.get(parsed.traceId);
    // A trace id is random per packet; later events of it are the same packet.
    if (packet === undefined || this.reported.has(parsed.traceId)) return null;
    this.reported.add(parsed.traceId);
    return { traceId: parsed.traceId, chain: parsed.chain, packet };
  }
}

/** Splits a byte stream into lines, keeping an unfinished last line for the next chunk. */
export class LineSplitter {
  private rest = '';

  push(chunk: string): string[] {
    const lines = (this.rest + chunk).split('\n');
    this.rest = lines.pop() ?? '';
    return lines;
  }
}
