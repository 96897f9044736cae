import { TransportProtocol } from '../../generated/mamori/v1/common';
import type { NetworkZone, PortRange, WhitelistEntry } from '../../generated/mamori/v1/policy';
import { DestinationSyntaxError } from './destination-syntax-error';
import { formatHostPattern, normalizeHostName, parseHostPattern, type HostPattern } from './host-name';
import { parseCidrBlock, type CidrBlock } from './ip-address';

export { DestinationSyntaxError };

/** What a destination is for; informational (it does not change matching) but must be one of these. */
export const WHITELIST_SERVICES = ['mail', 'web', 'git', 'any'] as const;
export type WhitelistService = (typeof WHITELIST_SERVICES)[number];

/** A zone name: lower case letters and digits first, then also "-", "_" and "."; 1 to 63 characters. */
export const ZONE_NAME_PATTERN = /^[a-z0-9][a-z0-9\-_.]{0,62}$/;

const PROTOCOLS: readonly string[] = Object.values(TransportProtocol);

/** Throws unless `zone` is a zone name, or empty when `allowEmpty` (an entry for every zone). */
export function validateZoneName(zone: string, field = 'zone', allowEmpty = true): string {
  if (zone === '' && allowEmpty) return zone;
  if (!ZONE_NAME_PATTERN.test(zone)) {
    throw new DestinationSyntaxError(field, `zone name "${zone}" must be 1 to 63 characters of lower-case letters, digits, "-", "_" or ".", starting with a letter or digit${allowEmpty ? ' (or empty for every zone)' : ''}`);
  }
  return zone;
}

/** Port ranges checked (1..65535, first <= last), sorted and with overlapping or adjacent ranges merged. */
export function normalizePortRanges(ports: readonly PortRange[]): PortRange[] {
  const checked = ports.map((range, index) => {
    for (const [side, value] of [['first', range.first], ['last', range.last]] as const) {
      if (!Number.isInteger(value) || value < 1 || value > 65535) {
        throw new DestinationSyntaxError('ports', `ports[${index}].${side} is ${value}: a port is a whole number from 1 to 65535`);
      }
    }
    if (range.first > range.last) throw new DestinationSyntaxError('ports', `ports[${index}] runs from ${range.first} down to ${range.last}: first must not be above last`);
    return { first: range.first, last: range.last };
  });
  checked.sort((a, b) => a.first - b.first || a.last - b.last);
  const merged: PortRange[] = [];
  for (const range of checked) {
    const previous = merged[merged.length - 1];
    if (previous !== undefined && range.first <= previous.last + 1) previous.last = Math.max(previous.last, range.last);
    else merged.push(range);
  }
  return merged;
}

/**
 * Checks an entry and answers its normalized copy (the input is not changed), or throws
 * DestinationSyntaxError naming the field (camelCase, as in the generated type):
 * - exactly one of hostPattern (see parseHostPattern; stored canonical: "*.Example.COM." becomes
 *   "*.example.com", "*.例え.jp" becomes "*.xn--r8jz45g.jp") and cidr (see parseCidrBlock; stored
 *   canonical: "::ffff:10.0.0.0/104" becomes "10.0.0.0/8");
 * - ports each 1..65535 with first <= last, stored sorted and merged; none means every port;
 * - protocol one of TransportProtocol (unspecified allows TCP and UDP);
 * - service one of mail, web, git, any; an unset service ("", the proto default) is stored as "any";
 * - zone a zone name (ZONE_NAME_PATTERN) or empty for every zone;
 * - expiresAt, when set, a valid time.
 * entryId is not checked here (the collector validates a request before it has an id); compileWhitelist requires one.
 */
export function validateWhitelistEntry(entry: WhitelistEntry): WhitelistEntry {
  return checkWhitelistEntry(entry).entry;
}

/** validateWhitelistEntry with the parsed pattern or block, so that compiling does not parse twice. */
export function checkWhitelistEntry(entry: WhitelistEntry): { entry: WhitelistEntry; pattern: HostPattern | null; block: CidrBlock | null } {
  const hostPattern = entry.hostPattern.trim();
  const cidr = entry.cidr.trim();
  if (hostPattern !== '' && cidr !== '') throw new DestinationSyntaxError('hostPattern', `an entry names either a host pattern or a cidr, not both (got "${entry.hostPattern}" and "${entry.cidr}")`);
  if (hostPattern === '' && cidr === '') throw new DestinationSyntaxError('hostPattern', 'an entry needs a host pattern (git.example.com, *.example.com, .example.com) or a cidr (10.0.0.0/8, 2001:db8::/32)');
  const pattern = hostPattern === '' ? null : parseHostPattern(hostPattern);
  const block = cidr === '' ? null : parseCidrBlock(cidr);
  const ports = normalizePortRanges(entry.ports);
  if (!PROTOCOLS.includes(entry.protocol)) throw new DestinationSyntaxError('protocol', `protocol "${String(entry.protocol)}" is not one of ${PROTOCOLS.join(', ')}`);
  const service = entry.service === '' ? 'any' : entry.service;
  if (!(WHITELIST_SERVICES as readonly string[]).includes(service)) throw new DestinationSyntaxError('service', `service "${entry.service}" is not one of ${WHITELIST_SERVICES.join(', ')}`);
  validateZoneName(entry.zone);
  if (entry.expiresAt !== undefined) {
    const seconds = Number(entry.expiresAt.seconds);
    if (!Number.isSafeInteger(seconds) || !Number.isInteger(entry.expiresAt.nanos) || entry.expiresAt.nanos < 0 || entry.expiresAt.nanos > 999_999_999) {
      throw new DestinationSyntaxError('expiresAt', `expiresAt {seconds: ${entry.expiresAt.seconds}, nanos: ${entry.expiresAt.nanos}} is not a valid time`);
    }
  }
  const normalized: WhitelistEntry = {
    ...entry,
    hostPattern: pattern === null ? '' : formatHostPattern(pattern),
    cidr: block === null ? '' : block.text,
    ports,
    service,
    expiresAt: entry.expiresAt === undefined ? undefined : { ...entry.expiresAt },
  };
  return { entry: normalized, pattern, block };
}

/**
 * Checks a zone and answers its normalized copy: a zone name (not empty), each cidr a block as for
 * whitelist entries (stored canonical), each DNS suffix a host name (a leading dot is dropped:
 * ".dev.example.com" and "dev.example.com" mean the same). Throws DestinationSyntaxError with field
 * "name", "cidrs" or "dnsSuffixes". The mode is not checked (its zero value means off).
 */
export function validateNetworkZone(zone: NetworkZone): NetworkZone {
  validateZoneName(zone.name, 'name', false);
  const cidrs = zone.cidrs.map((cidr, index) => {
    try {
      return parseCidrBlock(cidr).text;
    } catch (error) {
      if (error instanceof DestinationSyntaxError) throw new DestinationSyntaxError('cidrs', `cidrs[${index}]: ${error.message}`);
      throw error;
    }
  });
  const dnsSuffixes = zone.dnsSuffixes.map((suffix, index) => {
    try {
      return normalizeHostName(suffix.trim().replace(/^\./, ''));
    } catch (error) {
      if (error instanceof DestinationSyntaxError) throw new DestinationSyntaxError('dnsSuffixes', `dnsSuffixes[${index}]: ${error.message}`);
      throw error;
    }
  });
  return { ...zone, cidrs, dnsSuffixes };
}
