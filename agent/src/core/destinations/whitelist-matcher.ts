import { TransportProtocol } from '../../generated/mamori/v1/common';
import type { PortRange, WhitelistEntry } from '../../generated/mamori/v1/policy';
import { fromTimestamp } from '../timestamps';
import { DestinationSyntaxError } from './destination-syntax-error';
import { normalizeHostNameOrNull, type HostPatternKind } from './host-name';
import { readIpAddress, type CidrBlock, type IpFamily } from './ip-address';
import { checkWhitelistEntry } from './whitelist-entry';

/** One connection (or attempt) to judge. `host` and `ip` are both optional; with neither nothing matches. */
export interface DestinationQuery {
  /** The name the client asked for (SNI, CONNECT host, DNS cache); any case, a trailing dot, Unicode or punycode. */
  host?: string;
  /** The peer address; IPv4-mapped IPv6 counts as IPv4, a zone id ("%eth0") and brackets are dropped. */
  ip?: string;
  port: number;
  protocol: TransportProtocol;
  /** The zone the host is in now ('' when in none: only entries for every zone apply). */
  zone: string;
}

export interface DestinationVerdict {
  allowed: boolean;
  /** The most specific entry that allows the destination; '' when none does. */
  entryId: string;
}

export interface SkippedWhitelistEntry {
  entryId: string;
  field: string;
  message: string;
}

export interface AddressRule {
  cidr: string;
  family: IpFamily;
  ports: PortRange[];
  protocol: TransportProtocol;
  entryId: string;
}

export interface CompiledWhitelist {
  /**
   * Allowed when ANY compiled entry (for this zone or for every zone) matches the host OR the ip,
   * and the port and protocol. The verdict names the most specific of the matching entries (see
   * compileWhitelist). Never throws: a host or ip that cannot be read just matches nothing.
   */
  decide(query: DestinationQuery): DestinationVerdict;
  /** Entries compiled (valid, not expired). */
  readonly entryCount: number;
  /** The earliest expiresAt still in the future at compile time: compile again then. */
  readonly nextExpiry: Date | null;
  /** Invalid entries, left out, with the field and the reason. */
  readonly skipped: readonly SkippedWhitelistEntry[];
  /** Entries left out because they had expired at compile time. */
  readonly expiredEntryIds: readonly string[];
  /**
   * The names a firewall must resolve to allow this zone's named destinations: exact names and the
   * base name of ".example.com" (a firewall cannot enumerate "*.example.com"). Sorted by name.
   */
  exactHostNames(zone: string): Array<{ name: string; entryIds: string[] }>;
  /** The zone's CIDR entries, in entry order, for a firewall. */
  addressRules(zone: string): AddressRule[];
  /** The zone's compiled entries (normalized copies), in entry order. */
  entriesForZone(zone: string): WhitelistEntry[];
}

/** What an entry requires besides the destination itself; kept on the trie node the destination leads to. */
interface Constraint {
  entryId: string;
  /** '' for every zone. */
  zone: string;
  /** Flattened inclusive ranges [first0, last0, first1, last1, ...]; empty for every port. */
  ports: number[];
  protocol: TransportProtocol;
}

interface CompiledEntry {
  entry: WhitelistEntry;
  constraint: Constraint;
  pattern: { kind: HostPatternKind; name: string } | null;
  block: CidrBlock | null;
}

function satisfies(c: Constraint, query: DestinationQuery): boolean {
  if (c.zone !== '' && c.zone !== query.zone) return false;
  if (c.protocol !== TransportProtocol.TRANSPORT_PROTOCOL_UNSPECIFIED && c.protocol !== query.protocol) return false;
  const ports = c.ports;
  if (ports.length === 0) return true;
  const port = query.port;
  for (let i = 0; i < ports.length; i += 2) if (port >= ports[i]! && port <= ports[i + 1]!) return true;
  return false;
}

function firstSatisfied(list: Constraint[] | null, query: DestinationQuery): Constraint | null {
  if (list === null) return null;
  for (let i = 0; i < list.length; i++) if (satisfies(list[i]!, query)) return list[i]!;
  return null;
}

/**
 * Among entries on the same trie node (same name and kind, or same block): zone-specific before
 * every-zone, a port list before every port, a protocol before either, then the smaller entry id
 * (code-unit order) so that the verdict does not depend on the order entries arrive in.
 */
function compareConstraints(a: Constraint, b: Constraint): number {
  const zone = Number(b.zone !== '') - Number(a.zone !== '');
  if (zone !== 0) return zone;
  const ports = Number(b.ports.length > 0) - Number(a.ports.length > 0);
  if (ports !== 0) return ports;
  const unspecified = TransportProtocol.TRANSPORT_PROTOCOL_UNSPECIFIED;
  const protocol = Number(b.protocol !== unspecified) - Number(a.protocol !== unspecified);
  if (protocol !== 0) return protocol;
  return a.entryId < b.entryId ? -1 : a.entryId > b.entryId ? 1 : 0;
}

/**
 * A node of the reversed-label suffix trie: the node for "example.com" is root → "com" → "example".
 * Children are found by a hash of the label's characters and confirmed by comparing the label in
 * place, so walking a query name allocates no substrings.
 */
class NameNode {
  /** Children by labelHash; nodes whose labels share a hash are chained through sameHash. */
  children: Map<number, NameNode> | null = null;
  sameHash: NameNode | null = null;
  /** "git.example.com": this name only. */
  exact: Constraint[] | null = null;
  /** "*.example.com": names strictly below this one. */
  subdomains: Constraint[] | null = null;
  /** ".example.com": this name and names below it. */
  domain: Constraint[] | null = null;

  constructor(readonly label: string) {}

  /** The child for the label name[start, end) whose labelHash is `hash`, or null. */
  child(name: string, start: number, end: number, hash: number): NameNode | null {
    if (this.children === null) return null;
    let node = this.children.get(hash) ?? null;
    const length = end - start;
    while (node !== null && !(node.label.length === length && name.startsWith(node.label, start))) node = node.sameHash;
    return node;
  }

  addChild(label: string): NameNode {
    const hash = labelHash(label, 0, label.length);
    const existing = this.child(label, 0, label.length, hash);
    if (existing !== null) return existing;
    const node = new NameNode(label);
    this.children ??= new Map();
    node.sameHash = this.children.get(hash) ?? null;
    this.children.set(hash, node);
    return node;
  }
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/**
 * FNV-1a over name[start, end) taken from the last character back (the query walk reads names
 * right to left), kept within V8's small-integer range so that Map keys stay unboxed.
 */
function labelHash(name: string, start: number, end: number): number {
  let hash = FNV_OFFSET;
  for (let i = end - 1; i >= start; i--) hash = Math.imul(hash ^ name.charCodeAt(i), FNV_PRIME);
  return hash & 0x3fffffff;
}

/**
 * A binary prefix trie in flat typed arrays (one cache line holds several nodes, unlike one object
 * per node): node n's children are children[2n] (bit 0) and children[2n + 1] (bit 1), 0 meaning
 * none (the root, node 0, is nobody's child); lists[n] - 1 indexes the constraints of the blocks
 * whose prefix ends at n.
 */
class PrefixTrie {
  private children = new Int32Array(2 * 1024);
  private lists = new Int32Array(1024);
  private readonly constraintLists: Constraint[][] = [];
  private size = 1;
  private jumpNode = new Int32Array(0);
  private jumpStart = new Int32Array(0);
  private jumpEnd = new Int32Array(0);
  private jumpLists = new Int32Array(0);
  /** The lists met on the current walk, deepest last (at most width + 1). */
  private readonly path: Int32Array;

  constructor(private readonly width: 32 | 128) {
    this.path = new Int32Array(width + 1);
  }

  private newNode(): number {
    if (this.size === this.lists.length) {
      const children = new Int32Array(this.children.length * 2);
      children.set(this.children);
      this.children = children;
      const lists = new Int32Array(this.lists.length * 2);
      lists.set(this.lists);
      this.lists = lists;
    }
    return this.size++;
  }

  insert(words: ArrayLike<number>, prefixLength: number, constraint: Constraint): void {
    let node = 0;
    for (let depth = 0; depth < prefixLength; depth++) {
      const slot = 2 * node + bitAt(words, depth);
      let next = this.children[slot]!;
      if (next === 0) {
        next = this.newNode();
        this.children[slot] = next;
      }
      node = next;
    }
    if (this.lists[node] === 0) {
      this.constraintLists.push([]);
      this.lists[node] = this.constraintLists.length;
    }
    const list = this.constraintLists[this.lists[node]! - 1]!;
    list.push(constraint);
    list.sort(compareConstraints);
  }

  /**
   * After the last insert: a table indexed by the address's first 16 bits that gives the node
   * reached at depth 16 (0 when the path ends sooner) and the lists met on the way there, so that a
   * walk starts at depth 16 instead of taking 16 dependent steps through memory. Values whose paths
   * meet the same lists share one run of jumpLists.
   */
  seal(): void {
    const count = 1 << JUMP_BITS;
    this.jumpNode = new Int32Array(count);
    this.jumpStart = new Int32Array(count);
    this.jumpEnd = new Int32Array(count);
    const runs: number[] = [];
    const met: number[] = [];
    const fill = (from: number, to: number, node: number) => {
      const start = runs.length;
      runs.push(...met);
      this.jumpNode.fill(node, from, to);
      this.jumpStart.fill(start, from, to);
      this.jumpEnd.fill(runs.length, from, to);
    };
    const visit = (node: number, depth: number, value: number) => {
      const pushed = this.lists[node] !== 0;
      if (pushed) met.push(this.lists[node]!);
      if (depth === JUMP_BITS) fill(value, value + 1, node);
      else {
        for (let bit = 0; bit < 2; bit++) {
          const child = this.children[2 * node + bit]!;
          const prefix = value * 2 + bit;
          const span = 1 << (JUMP_BITS - depth - 1);
          if (child === 0) fill(prefix * span, (prefix + 1) * span, 0);
          else visit(child, depth + 1, prefix);
        }
      }
      if (pushed) met.pop();
    };
    visit(0, 0, 0);
    this.jumpLists = Int32Array.from(runs);
  }

  /** The most specific satisfied constraint on the address's path: the longest prefix first. */
  match(words: ArrayLike<number>, query: DestinationQuery): Constraint | null {
    const children = this.children;
    const lists = this.lists;
    const path = this.path;
    let found = 0;
    const first = words[0]! >>> (32 - JUMP_BITS);
    for (let k = this.jumpStart[first]!, end = this.jumpEnd[first]!; k < end; k++) path[found++] = this.jumpLists[k]!;
    let node = this.jumpNode[first]!;
    for (let depth = JUMP_BITS; node !== 0 && depth < this.width; depth++) {
      node = children[2 * node + ((words[depth >>> 5]! >>> (31 - (depth & 31))) & 1)]!;
      if (node === 0) break;
      if (lists[node] !== 0) path[found++] = lists[node]!;
    }
    while (found > 0) {
      const hit = firstSatisfied(this.constraintLists[path[--found]! - 1]!, query);
      if (hit !== null) return hit;
    }
    return null;
  }
}

function pushSorted(list: Constraint[] | null, constraint: Constraint): Constraint[] {
  const target = list ?? [];
  target.push(constraint);
  target.sort(compareConstraints);
  return target;
}

function bitAt(words: ArrayLike<number>, index: number): number {
  return (words[index >>> 5]! >>> (31 - (index & 31))) & 1;
}

const DOT = 0x2e;
/** How many leading address bits the prefix tries resolve with one table look-up. */
const JUMP_BITS = 16;
/** Scratch space for the address of the query being decided (decide runs to completion; it never re-enters). */
const queryWords = new Uint32Array(4);

class CompiledDestinationWhitelist implements CompiledWhitelist {
  private readonly names = new NameNode('');
  private readonly prefixes: { 4: PrefixTrie; 6: PrefixTrie } = { 4: new PrefixTrie(32), 6: new PrefixTrie(128) };

  constructor(
    private readonly compiled: readonly CompiledEntry[],
    readonly nextExpiry: Date | null,
    readonly skipped: readonly SkippedWhitelistEntry[],
    readonly expiredEntryIds: readonly string[],
  ) {
    for (const item of compiled) {
      if (item.pattern !== null) this.insertName(item.pattern.kind, item.pattern.name, item.constraint);
      else this.prefixes[item.block!.family].insert(item.block!.words, item.block!.prefixLength, item.constraint);
    }
    this.prefixes[4].seal();
    this.prefixes[6].seal();
  }

  get entryCount(): number {
    return this.compiled.length;
  }

  private insertName(kind: HostPatternKind, name: string, constraint: Constraint): void {
    let node = this.names;
    const labels = name.split('.');
    for (let i = labels.length - 1; i >= 0; i--) node = node.addChild(labels[i]!);
    if (kind === 'exact') node.exact = pushSorted(node.exact, constraint);
    else if (kind === 'subdomains') node.subdomains = pushSorted(node.subdomains, constraint);
    else node.domain = pushSorted(node.domain, constraint);
  }

  /**
   * Walks the labels from the right; a node that offers a satisfied entry replaces what a shallower
   * one offered (the longer name wins). The whole name's node offers exact then ".x" entries, a node
   * above it "*.x" then ".x" entries.
   */
  private matchName(host: string, query: DestinationQuery): Constraint | null {
    let node = this.names;
    let best: Constraint | null = null;
    let end = host.length;
    while (end > 0) {
      // One backward pass finds the label's start and hashes it (String#lastIndexOf is a runtime call).
      let hash = FNV_OFFSET;
      let start = end - 1;
      for (; start >= 0; start--) {
        const code = host.charCodeAt(start);
        if (code === DOT) break;
        hash = Math.imul(hash ^ code, FNV_PRIME);
      }
      const child = node.child(host, start + 1, end, hash & 0x3fffffff);
      if (child === null) break;
      node = child;
      if (node.exact !== null || node.subdomains !== null || node.domain !== null) {
        const found = start === -1 ? (firstSatisfied(node.exact, query) ?? firstSatisfied(node.domain, query)) : (firstSatisfied(node.subdomains, query) ?? firstSatisfied(node.domain, query));
        if (found !== null) best = found;
      }
      end = start;
    }
    return best;
  }

  decide(query: DestinationQuery): DestinationVerdict {
    const host = query.host;
    let ipText = query.ip;
    if (host !== undefined && host !== '') {
      const last = host.charCodeAt(host.length - 1);
      // A CONNECT or SNI "host" may be an address literal: judge it as an address when no ip came with it.
      if ((last >= 0x30 && last <= 0x39) || last === 0x5d || host.includes(':')) {
        if ((ipText === undefined || ipText === '') && readIpAddress(host, queryWords, true) !== 0) ipText = host;
      }
      const name = normalizeHostNameOrNull(host);
      if (name !== null) {
        const found = this.matchName(name, query);
        if (found !== null) return { allowed: true, entryId: found.entryId };
      }
    }
    if (ipText !== undefined && ipText !== '') {
      const family = readIpAddress(ipText, queryWords, true);
      if (family !== 0) {
        const found = this.prefixes[family].match(queryWords, query);
        if (found !== null) return { allowed: true, entryId: found.entryId };
      }
    }
    return { allowed: false, entryId: '' };
  }

  private forZone(zone: string): CompiledEntry[] {
    return this.compiled.filter((item) => item.constraint.zone === '' || item.constraint.zone === zone);
  }

  exactHostNames(zone: string): Array<{ name: string; entryIds: string[] }> {
    const byName = new Map<string, string[]>();
    for (const item of this.forZone(zone)) {
      if (item.pattern === null || item.pattern.kind === 'subdomains') continue;
      const ids = byName.get(item.pattern.name) ?? [];
      if (!ids.includes(item.constraint.entryId)) ids.push(item.constraint.entryId);
      byName.set(item.pattern.name, ids);
    }
    return [...byName.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, entryIds]) => ({ name, entryIds }));
  }

  addressRules(zone: string): AddressRule[] {
    return this.forZone(zone)
      .filter((item) => item.block !== null)
      .map((item) => ({ cidr: item.block!.text, family: item.block!.family, ports: item.entry.ports.map((r) => ({ ...r })), protocol: item.entry.protocol, entryId: item.constraint.entryId }));
  }

  entriesForZone(zone: string): WhitelistEntry[] {
    return this.forZone(zone).map((item) => ({ ...item.entry, ports: item.entry.ports.map((r) => ({ ...r })) }));
  }
}

/**
 * Compiles entries into a matcher: a reversed-label suffix trie for host patterns and a binary
 * prefix trie per address family for blocks, each node holding the (zone, ports, protocol, entry)
 * constraints of the entries that end there, so that a decision costs one walk down each trie
 * whatever the number of entries.
 *
 * Left out: entries whose expiresAt is at or before `now` (listed in expiredEntryIds; nextExpiry is
 * the earliest later one), and invalid entries (validateWhitelistEntry, or no entryId; listed in
 * skipped). Entries are normalized first, so "*.Example.COM." and "*.example.com" are one pattern.
 *
 * Overlapping entries: any matching entry allows. The verdict names the most specific one:
 * a host-name match before an address match; the longer name (more labels) or the longer prefix;
 * at the same name, exact before "*.example.com" before ".example.com"; then zone-specific before
 * every-zone, a port list before every port, a protocol before either, then the smaller entry id.
 */
export function compileWhitelist(entries: readonly WhitelistEntry[], now: Date): CompiledWhitelist {
  const compiled: CompiledEntry[] = [];
  const skipped: SkippedWhitelistEntry[] = [];
  const expired: string[] = [];
  let nextExpiry: number | null = null;
  const nowMs = now.getTime();
  for (const raw of entries) {
    let checked: ReturnType<typeof checkWhitelistEntry>;
    try {
      if (raw.entryId === '') throw new DestinationSyntaxError('entryId', 'an entry without an id cannot be named in a verdict');
      checked = checkWhitelistEntry(raw);
    } catch (error) {
      if (!(error instanceof DestinationSyntaxError)) throw error;
      skipped.push({ entryId: raw.entryId, field: error.field, message: error.message });
      continue;
    }
    const { entry, pattern, block } = checked;
    const expiresAt = fromTimestamp(entry.expiresAt)?.getTime();
    if (expiresAt !== undefined) {
      if (expiresAt <= nowMs) {
        expired.push(entry.entryId);
        continue;
      }
      if (nextExpiry === null || expiresAt < nextExpiry) nextExpiry = expiresAt;
    }
    const constraint: Constraint = { entryId: entry.entryId, zone: entry.zone, ports: entry.ports.flatMap((r) => [r.first, r.last]), protocol: entry.protocol };
    compiled.push({ entry, constraint, pattern, block });
  }
  return new CompiledDestinationWhitelist(compiled, nextExpiry === null ? null : new Date(nextExpiry), skipped, expired);
}
