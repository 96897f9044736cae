import type { NetworkZone } from '../../generated/mamori/v1/policy';
import { isAtOrBelow, normalizeHostNameOrNull } from './host-name';
import { blockContains, parseCidrBlock, readIpAddress, type CidrBlock, type IpFamily } from './ip-address';

/** What the host knows about its own network: interface addresses and DNS domains. */
export interface HostNetworkView {
  /** Interface addresses, with or without a prefix length ("10.0.0.5/24", "10.0.0.5", "fe80::1%eth0"). */
  addresses: string[];
  /** The DNS domain and search domains ("dev.example.co.jp"). */
  dnsSuffixes: string[];
}

function blockOrNull(text: string): CidrBlock | null {
  try {
    return parseCidrBlock(text);
  } catch {
    return null;
  }
}

/**
 * The first zone, in the order given, that has one of the host's addresses inside one of its
 * cidrs, or whose DNS suffix the host's DNS domain equals or ends in at a label boundary
 * ("build.dev.example.com" is in "dev.example.com"; "notdev.example.com" is not). The prefix length
 * a host address carries is ignored (the address itself must be inside the zone). Names are
 * compared normalized (case, trailing dot, punycode), a leading dot on a zone suffix is ignored.
 * A zone cidr or suffix that cannot be read is skipped here (the collector refuses it on write:
 * validateNetworkZone). Null when no zone matches.
 */
export function classifyZone(zones: readonly NetworkZone[], host: HostNetworkView): NetworkZone | null {
  const addresses: Array<{ family: IpFamily; words: Uint32Array }> = [];
  for (const text of host.addresses) {
    const slash = text.indexOf('/');
    const words = new Uint32Array(4);
    const family = readIpAddress((slash === -1 ? text : text.slice(0, slash)).trim(), words, true);
    if (family !== 0) addresses.push({ family, words });
  }
  const suffixes = host.dnsSuffixes.map((s) => normalizeHostNameOrNull(s.trim())).filter((s): s is string => s !== null);
  for (const zone of zones) {
    for (const cidr of zone.cidrs) {
      const block = blockOrNull(cidr);
      if (block !== null && addresses.some((a) => blockContains(block, a.family, a.words))) return zone;
    }
    for (const zoneSuffix of zone.dnsSuffixes) {
      const normalized = normalizeHostNameOrNull(zoneSuffix.trim().replace(/^\./, ''));
      if (normalized !== null && suffixes.some((s) => isAtOrBelow(s, normalized))) return zone;
    }
  }
  return null;
}
