import { BadRequestException } from '@nestjs/common';
import { normalizeHostName } from '../../../../agent/src/core/destinations/host-name';
import { parseCidr } from '../../../../agent/src/core/destinations/ip-address';
import { DestinationSyntaxError, validateWhitelistEntry } from '../../../../agent/src/core/destinations/whitelist-entry';
import { TransportProtocol as MatcherProtocol } from '../../../../agent/src/generated/mamori/v1/common';
import type { WhitelistEntry as MatcherEntry } from '../../../../agent/src/generated/mamori/v1/policy';
import { toTimestamp } from '../../common/protobuf-time';
import { protocolToProto, type WhitelistProtocolName } from '../policy/network-names';
import type { PolicyWhitelistEntry } from '../policy/policy-document';

/**
 * The collector's side of the shared matcher (agent/src/core/destinations): the same parsing the
 * agents enforce with decides what the collector accepts, so an entry stored here is never one an
 * agent skips. Syntax errors become 400s that name the REST field.
 */

/** A destination as REST bodies give it, before normalization. */
export interface DestinationInput {
  hostPattern?: string;
  cidr?: string;
  ports?: Array<string | number>;
  protocol?: WhitelistProtocolName;
}

/** A destination as stored: normalized pattern or block, port ranges, protocol name. */
export interface NormalizedDestination {
  hostPattern: string;
  cidr: string;
  ports: Array<{ first: number; last: number }>;
  protocol: WhitelistProtocolName;
}

/** "host_pattern" (the matcher's proto field names) → "hostPattern" (the REST body's). */
export function restFieldName(field: string): string {
  return field.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

/** A 400 naming the field, whatever form the matcher's message takes. */
export function badField(field: string, message: string): BadRequestException {
  const name = restFieldName(field);
  const text = message.startsWith(field) || message.startsWith(name) ? message.replace(field, name) : `${name}: ${message}`;
  return new BadRequestException(text);
}

/** Runs `work`, turning the matcher's DestinationSyntaxError into a 400; `prefix` names the list the field is in. */
export function withFieldErrors<T>(work: () => T, prefix = ''): T {
  try {
    return work();
  } catch (error) {
    if (error instanceof DestinationSyntaxError) throw badField(`${prefix}${error.field}`, error.message);
    throw error;
  }
}

/** "443", 443 or "8000-8100" → {first, last}; 400 naming ports[i] for anything else. */
export function parsePorts(ports: ReadonlyArray<string | number> | undefined): Array<{ first: number; last: number }> {
  const ranges = (ports ?? []).map((port, index) => {
    const text = String(port).trim();
    const match = /^(\d{1,5})(?:\s*-\s*(\d{1,5}))?$/.exec(text);
    const first = match === null ? NaN : Number(match[1]);
    const last = match === null ? NaN : Number(match[2] ?? match[1]);
    if (!(first >= 1 && first <= 65535 && last >= first && last <= 65535)) {
      throw new BadRequestException(`ports[${index}] must be a port from 1 to 65535 or a range "first-last" with first <= last, got ${JSON.stringify(port)}`);
    }
    return { first, last };
  });
  return ranges.sort((a, b) => a.first - b.first || a.last - b.last);
}

/**
 * Normalizes a destination with the matcher: exactly one of hostPattern and cidr, the pattern in
 * lower-case punycode without a trailing dot, the block in canonical form (an IPv4-mapped IPv6
 * address is its IPv4 address).
 */
export function normalizeDestination(input: DestinationInput, context: { service: string; zone: string }): NormalizedDestination {
  const hostPattern = (input.hostPattern ?? '').trim();
  const cidr = (input.cidr ?? '').trim();
  if (hostPattern === '' && cidr === '') throw new BadRequestException('hostPattern: give a host name pattern or a cidr');
  if (hostPattern !== '' && cidr !== '') throw new BadRequestException('hostPattern: give either a host name pattern or a cidr, not both (make two entries)');
  const protocol = input.protocol ?? 'any';
  const ports = parsePorts(input.ports);
  const normalized = withFieldErrors(() => validateWhitelistEntry(matcherEntry({ entryId: '', hostPattern, cidr, ports, protocol, service: context.service, zone: context.zone })));
  return { hostPattern: normalized.hostPattern, cidr: normalized.cidr, ports: normalized.ports.map((range) => ({ first: range.first, last: range.last })), protocol };
}

/** A zone's CIDR blocks, canonical; 400 naming cidrs[i]. */
export function normalizeZoneCidrs(cidrs: readonly string[]): string[] {
  return unique(cidrs.map((text, index) => withFieldErrors(() => parseCidr(text.trim()).text, `cidrs[${index}].`)));
}

/** A zone's DNS suffixes, normalized like host names (a leading dot is allowed and dropped); 400 naming dnsSuffixes[i]. */
export function normalizeZoneSuffixes(suffixes: readonly string[]): string[] {
  return unique(suffixes.map((text, index) => withFieldErrors(() => normalizeHostName(text.trim().replace(/^\./, '')), `dnsSuffixes[${index}].`)));
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

/** A stored entry as the matcher reads it (the agent's generated types: the same wire shape as the collector's). */
export function matcherEntry(entry: Omit<PolicyWhitelistEntry, 'protocol' | 'justification' | 'requestedBy' | 'approvedBy' | 'expiresAt'> & {
  protocol: WhitelistProtocolName;
  justification?: string;
  requestedBy?: string;
  approvedBy?: string;
  expiresAt?: number | null;
}): MatcherEntry {
  return {
    entryId: entry.entryId,
    hostPattern: entry.hostPattern,
    cidr: entry.cidr,
    ports: entry.ports.map((range) => ({ first: range.first, last: range.last })),
    protocol: MatcherProtocol[protocolToProto(entry.protocol) as keyof typeof MatcherProtocol],
    service: entry.service,
    zone: entry.zone,
    justification: entry.justification ?? '',
    requestedBy: entry.requestedBy ?? '',
    approvedBy: entry.approvedBy ?? '',
    expiresAt: entry.expiresAt === null || entry.expiresAt === undefined ? undefined : toTimestamp(new Date(entry.expiresAt)),
  };
}
