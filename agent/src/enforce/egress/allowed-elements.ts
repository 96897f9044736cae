import { isIPv4, isIPv6 } from 'node:net';
import { TransportProtocol } from '../../generated/mamori/v1/common';
import type { PortRange } from '../../generated/mamori/v1/policy';

/** One destination rule for the firewall: an address block, ports (empty = every port) and protocol (unspecified = TCP and UDP). */
export interface AllowRule {
  cidr: string;
  ports: readonly PortRange[];
  protocol: TransportProtocol;
}

/** One element of the kernel's allow set: a block, a protocol and an inclusive port range. */
export interface AllowElement {
  /** Network address with prefix ("10.0.0.0/8"), or a bare address for a single host. */
  cidr: string;
  protocol: 'tcp' | 'udp';
  first: number;
  last: number;
}

export interface AllowElements {
  ipv4: AllowElement[];
  ipv6: AllowElement[];
}

export const NO_ELEMENTS: AllowElements = { ipv4: [], ipv6: [] };

const ALL_PORTS: readonly PortRange[] = [{ first: 0, last: 65535 }];

/** An address block as numbers: the network address (host bits cleared) and the prefix length. */
interface Block {
  network: bigint;
  prefixLength: number;
}

/**
 * Turns rules into elements that do not overlap. nftables refuses ("File exists") to hold two
 * elements of one interval set where one covers the start of the other, and whitelists overlap all
 * the time (10.0.0.0/8 port 443 and a host inside it on 400-500). Address blocks are either nested
 * or disjoint, so walking them in address order with a stack of the enclosing blocks lets each block
 * keep only the ports its ancestors do not already allow: the result covers exactly the union of the
 * rules, with no two elements overlapping. Rules whose address does not parse are skipped (the
 * matcher validated them already; this is the last line of defence against a bad script).
 */
export function disjointAllowElements(rules: readonly AllowRule[]): AllowElements {
  const byKey = new Map<string, { family: 4 | 6; block: Block; protocol: 'tcp' | 'udp'; ranges: Array<[number, number]> }>();
  for (const rule of rules) {
    const parsed = parseBlock(rule.cidr);
    if (parsed === null) continue;
    const protocols: Array<'tcp' | 'udp'> =
      rule.protocol === TransportProtocol.TRANSPORT_PROTOCOL_TCP ? ['tcp'] : rule.protocol === TransportProtocol.TRANSPORT_PROTOCOL_UDP ? ['udp'] : ['tcp', 'udp'];
    const ports = rule.ports.length === 0 ? ALL_PORTS : rule.ports;
    for (const protocol of protocols) {
      const key = `${parsed.family}|${protocol}|${parsed.block.network}|${parsed.block.prefixLength}`;
      let group = byKey.get(key);
      if (group === undefined) {
        group = { family: parsed.family, block: parsed.block, protocol, ranges: [] };
        byKey.set(key, group);
      }
      for (const range of ports) {
        const first = Math.max(0, Math.min(range.first, range.last));
        const last = Math.min(65535, Math.max(range.first, range.last));
        group.ranges.push([first, last]);
      }
    }
  }
  const result: AllowElements = { ipv4: [], ipv6: [] };
  for (const family of [4, 6] as const) {
    for (const protocol of ['tcp', 'udp'] as const) {
      const groups = [...byKey.values()]
        .filter((g) => g.family === family && g.protocol === protocol)
        .sort((a, b) => (a.block.network < b.block.network ? -1 : a.block.network > b.block.network ? 1 : a.block.prefixLength - b.block.prefixLength));
      const width = family === 4 ? 32 : 128;
      const stack: Array<{ block: Block; covered: Array<[number, number]> }> = [];
      for (const group of groups) {
        while (stack.length > 0 && !contains(stack[stack.length - 1].block, group.block, width)) stack.pop();
        const inherited = stack.length > 0 ? stack[stack.length - 1].covered : [];
        const own = unionRanges(group.ranges);
        for (const [first, last] of subtractRanges(own, inherited)) {
          (family === 4 ? result.ipv4 : result.ipv6).push({ cidr: blockText(group.block, family), protocol, first, last });
        }
        stack.push({ block: group.block, covered: unionRanges([...inherited, ...own]) });
      }
    }
  }
  return result;
}

/** Sorted, merged ranges (adjacent ranges join: 80 and 81 become 80-81). */
export function unionRanges(ranges: ReadonlyArray<readonly [number, number]>): Array<[number, number]> {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const merged: Array<[number, number]> = [];
  for (const [first, last] of sorted) {
    const previous = merged[merged.length - 1];
    if (previous !== undefined && first <= previous[1] + 1) previous[1] = Math.max(previous[1], last);
    else merged.push([first, last]);
  }
  return merged;
}

/** `from` minus `remove`; both sorted and merged. */
function subtractRanges(from: ReadonlyArray<[number, number]>, remove: ReadonlyArray<[number, number]>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const [first, last] of from) {
    let start = first;
    for (const [rFirst, rLast] of remove) {
      if (rLast < start || rFirst > last) continue;
      if (rFirst > start) out.push([start, rFirst - 1]);
      start = Math.max(start, rLast + 1);
      if (start > last) break;
    }
    if (start <= last) out.push([start, last]);
  }
  return out;
}

function contains(outer: Block, inner: Block, width: number): boolean {
  if (outer.prefixLength > inner.prefixLength) return false;
  const shift = BigInt(width - outer.prefixLength);
  return inner.network >> shift === outer.network >> shift;
}

/** Parses "10.0.0.0/8", "10.1.2.3", "2001:db8::/32", "::ffff:10.0.0.1" (IPv4-mapped counts as IPv4). Null when it is not an address. */
export function parseBlock(text: string): { family: 4 | 6; block: Block } | null {
  const slash = text.indexOf('/');
  const address = (slash < 0 ? text : text.slice(0, slash)).trim();
  const prefixText = slash < 0 ? null : text.slice(slash + 1).trim();
  let family: 4 | 6;
  let value: bigint;
  let prefixOffset = 0;
  if (isIPv4(address)) {
    family = 4;
    value = ipv4ToBigInt(address);
  } else if (isIPv6(address)) {
    const full = ipv6ToBigInt(address);
    if (full >> 32n === 0xffffn) {
      family = 4;
      value = full & 0xffffffffn;
      prefixOffset = 96;
    } else {
      family = 6;
      value = full;
    }
  } else {
    return null;
  }
  const width = family === 4 ? 32 : 128;
  let prefixLength = width;
  if (prefixText !== null) {
    if (!/^\d{1,3}$/.test(prefixText)) return null;
    prefixLength = Number(prefixText) - prefixOffset;
    if (prefixLength < 0 || prefixLength > width) return null;
  }
  const hostBits = BigInt(width - prefixLength);
  return { family, block: { network: (value >> hostBits) << hostBits, prefixLength } };
}

/** The canonical text of an address ("::ffff:10.0.0.1" is "10.0.0.1", IPv6 per RFC 5952); null when it is not one. */
export function canonicalIp(text: string): string | null {
  if (text.includes('/')) return null;
  const parsed = parseBlock(text);
  return parsed === null ? null : blockText(parsed.block, parsed.family);
}

function ipv4ToBigInt(address: string): bigint {
  return address.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function ipv6ToBigInt(address: string): bigint {
  let text = address.toLowerCase();
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  // A dotted IPv4 tail ("::ffff:10.0.0.1") stands for the last two groups.
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = ipv4ToBigInt(tail);
    text = `${text.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head, rest] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const restGroups = rest === undefined ? [] : rest === '' ? [] : rest.split(':');
  const missing = 8 - headGroups.length - restGroups.length;
  const groups = rest === undefined ? headGroups : [...headGroups, ...new Array<string>(missing).fill('0'), ...restGroups];
  return groups.reduce((acc, group) => (acc << 16n) | BigInt(parseInt(group, 16)), 0n);
}

function blockText(block: Block, family: 4 | 6): string {
  const width = family === 4 ? 32 : 128;
  const address = family === 4 ? bigIntToIpv4(block.network) : bigIntToIpv6(block.network);
  return block.prefixLength === width ? address : `${address}/${block.prefixLength}`;
}

function bigIntToIpv4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
}

/** RFC 5952 text: lower case, the longest run of two or more zero groups shortened to "::". */
function bigIntToIpv6(value: bigint): string {
  const groups = Array.from({ length: 8 }, (_, i) => Number((value >> BigInt((7 - i) * 16)) & 0xffffn));
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength && j - i >= 2) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}
