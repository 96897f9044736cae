import type { AllowElement, AllowElements } from './allowed-elements';

/** The agent's own table. Nothing else in the host's ruleset is ever listed, flushed or deleted. */
export const EGRESS_TABLE_FAMILY = 'inet';
export const EGRESS_TABLE_NAME = 'mamori_egress';
export const EGRESS_TABLE = `${EGRESS_TABLE_FAMILY} ${EGRESS_TABLE_NAME}`;
/**
 * Every table the agent writes carries a comment starting with this marker, so that a later start
 * can tell its own table (left behind by a kill -9) from another program's table of the same name.
 */
export const EGRESS_TABLE_MARKER = 'mamori-agent egress whitelist';
/**
 * The chains that turn tracing on, one per decision. The trace monitor tells the decisions apart by
 * the chain name, which the kernel sends with every trace event: rule text is looked up in `nft
 * monitor`'s own cache, which goes stale when the table is replaced (it then prints "unknown rule
 * handle", or another rule's text when handles collide).
 */
export const OBSERVE_CHAIN_BLOCKED = 'observe_blocked';
export const OBSERVE_CHAIN_AUDITED = 'observe_audited';
/** The dynamic sets that remember which user's socket sent an observed packet (the trace does not show it). */
export const SENDERS_SET_4 = 'senders4';
export const SENDERS_SET_6 = 'senders6';
/** How long the kernel keeps a sender element: long enough for the monitor to read it. */
const SENDERS_TIMEOUT = '1m';
const SENDERS_SIZE = 65536;

export interface EgressRulesetInput {
  mode: 'audit' | 'enforce';
  /** The whitelist's destinations (address rules and the current answers for its host names). */
  allowed: AllowElements;
  /** The collector and the DNS servers: reachable whatever the whitelist says. */
  alwaysAllowed: AllowElements;
  /** Said in the table's comment after the marker (zone, policy version), for whoever lists the ruleset. */
  description: string;
}

/**
 * The nft script that replaces the agent's table in one transaction. It starts by creating the
 * table (a no-op when it exists) and deleting it, so that the script works whether or not an older
 * table is there (nft 1.0.6 has no `destroy`), and the kernel swaps old for new atomically: no
 * packet ever sees a half-built table or no table. Only this table is named; the rest of the
 * ruleset is never flushed.
 */
export function renderEgressTable(input: EgressRulesetInput): string {
  const observeChain = input.mode === 'enforce' ? OBSERVE_CHAIN_BLOCKED : OBSERVE_CHAIN_AUDITED;
  const lines = [
    ...renderTableRemoval(),
    `table ${EGRESS_TABLE} {`,
    `\tcomment ${quote(`${EGRESS_TABLE_MARKER}; ${input.description}`)}`,
    ...renderSet('always4', 'ipv4_addr', input.alwaysAllowed.ipv4),
    ...renderSet('always6', 'ipv6_addr', input.alwaysAllowed.ipv6),
    ...renderSet('allow4', 'ipv4_addr', input.allowed.ipv4),
    ...renderSet('allow6', 'ipv6_addr', input.allowed.ipv6),
    `\tset ${SENDERS_SET_4} {`,
    '\t\ttype ipv4_addr . inet_proto . inet_service . inet_service . uid',
    `\t\tsize ${SENDERS_SIZE}`,
    '\t\tflags dynamic,timeout',
    `\t\ttimeout ${SENDERS_TIMEOUT}`,
    '\t}',
    `\tset ${SENDERS_SET_6} {`,
    '\t\ttype ipv6_addr . inet_proto . inet_service . inet_service . uid',
    `\t\tsize ${SENDERS_SIZE}`,
    '\t\tflags dynamic,timeout',
    `\t\ttimeout ${SENDERS_TIMEOUT}`,
    '\t}',
    '\tchain output {',
    '\t\ttype filter hook output priority filter; policy accept;',
    '\t\toif "lo" accept',
    // Replies and the rest of a connection the table let through once.
    '\t\tct state established,related accept',
    // Without neighbour discovery and MLD the host cannot reach even its allowed IPv6 neighbours.
    '\t\ticmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-report, mld2-listener-report } accept',
    // DHCP lease renewals are unicast UDP from the host's own socket; without them the host loses its address.
    '\t\tudp sport { 68, 546 } udp dport { 67, 547 } accept',
    '\t\tip daddr . meta l4proto . th dport @always4 accept',
    '\t\tip6 daddr . meta l4proto . th dport @always6 accept',
    '\t\tip daddr . meta l4proto . th dport @allow4 accept',
    '\t\tip6 daddr . meta l4proto . th dport @allow6 accept',
    // Only the first packet of a connection (or UDP flow) is observed: one report per attempt.
    `\t\tct state new jump ${observeChain}`,
    ...(input.mode === 'enforce'
      ? ['\t\tmeta l4proto tcp reject with tcp reset', '\t\treject with icmpx type admin-prohibited']
      : []),
    '\t}',
    `\tchain ${observeChain} {`,
    '\t\tmeta nftrace set 1',
    `\t\tmeta nfproto ipv4 meta l4proto { tcp, udp } add @${SENDERS_SET_4} { ip daddr . meta l4proto . th sport . th dport . meta skuid }`,
    `\t\tmeta nfproto ipv6 meta l4proto { tcp, udp } add @${SENDERS_SET_6} { ip6 daddr . meta l4proto . th sport . th dport . meta skuid }`,
    // Tracing stops here: an audited packet must not be traced through every later chain of other tables.
    '\t\tmeta nftrace set 0',
    '\t}',
    '}',
  ];
  return lines.join('\n') + '\n';
}

/** Removes the agent's table if it is there, and nothing else (no error when it is absent). */
export function renderTableRemoval(): string[] {
  return [`table ${EGRESS_TABLE} {}`, `delete table ${EGRESS_TABLE}`];
}

/**
 * Replaces the whitelist's elements in one transaction, leaving the chains, the always-allowed sets
 * and the sender sets alone. Kept as the fallback's shape for tests; the backend sends deltas
 * (renderAllowedDelta) because flushing and refilling a large interval set is slow in the kernel
 * (17 s for 20,000 elements measured, against 0.1 s for a delta and 0.7 s for the whole table).
 */
export function renderAllowedReplacement(allowed: AllowElements): string {
  const lines = [`flush set ${EGRESS_TABLE} allow4`, `flush set ${EGRESS_TABLE} allow6`];
  if (allowed.ipv4.length > 0) lines.push(`add element ${EGRESS_TABLE} allow4 { ${allowed.ipv4.map(elementText).join(', ')} }`);
  if (allowed.ipv6.length > 0) lines.push(`add element ${EGRESS_TABLE} allow6 { ${allowed.ipv6.map(elementText).join(', ')} }`);
  return lines.join('\n') + '\n';
}

/**
 * The change from the installed allow elements to new ones, as one transaction: deletions first,
 * then additions (the kernel checks overlaps against the state after the deletions, so an element
 * may be replaced by an overlapping one). Null when nothing changed.
 */
export function renderAllowedDelta(installed: AllowElements, wanted: AllowElements): string | null {
  const lines: string[] = [];
  for (const [set, before, after] of [['allow4', installed.ipv4, wanted.ipv4], ['allow6', installed.ipv6, wanted.ipv6]] as const) {
    const beforeTexts = new Set(before.map(elementText));
    const afterTexts = new Set(after.map(elementText));
    const removed = [...beforeTexts].filter((text) => !afterTexts.has(text));
    const added = [...afterTexts].filter((text) => !beforeTexts.has(text));
    if (removed.length > 0) lines.unshift(`delete element ${EGRESS_TABLE} ${set} { ${removed.join(', ')} }`);
    if (added.length > 0) lines.push(`add element ${EGRESS_TABLE} ${set} { ${added.join(', ')} }`);
  }
  return lines.length === 0 ? null : lines.join('\n') + '\n';
}

function renderSet(name: string, addressType: 'ipv4_addr' | 'ipv6_addr', elements: readonly AllowElement[]): string[] {
  const lines = [`\tset ${name} {`, `\t\ttype ${addressType} . inet_proto . inet_service`, '\t\tflags interval'];
  if (elements.length > 0) lines.push(`\t\telements = { ${elements.map(elementText).join(',\n\t\t\t')} }`);
  lines.push('\t}');
  return lines;
}

export function elementText(element: AllowElement): string {
  const ports = element.first === element.last ? String(element.first) : `${element.first}-${element.last}`;
  return `${element.cidr} . ${element.protocol} . ${ports}`;
}

/** An nft string literal; the text comes from the agent (zone names, versions), so quotes and newlines are dropped rather than escaped. */
function quote(text: string): string {
  return `"${text.replace(/["\\\n\r]/g, ' ').slice(0, 120)}"`;
}
