import { normalizeIpAddress } from '../../../core/destinations/ip-address';
import type { HostNetworkView } from '../../../core/destinations/zone-classifier';

/**
 * The fake network backend's file (MAMORI_AGENT_FAKE_NETWORK_FILE):
 *
 *   { "addresses": ["10.20.0.15/24", "fd00:20::15/64"], "dnsSuffixes": ["dev.example.co.jp"] }
 *
 * The same shape as HostNetworkView: interface addresses with or without a prefix length, and
 * the DNS domain and search domains. Both fields are required lists of strings (an empty list is
 * fine); unknown fields are refused, so a typo does not silently put the host in no zone. Throws
 * an Error naming the problem. Pure.
 */
export function parseFakeNetworkFile(text: string): HostNetworkView {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new Error(`not JSON: ${(error as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error('the file must hold an object with "addresses" and "dnsSuffixes"');
  const root = doc as Record<string, unknown>;
  for (const key of Object.keys(root)) {
    if (key !== 'addresses' && key !== 'dnsSuffixes') throw new Error(`${key} is not a field (expected addresses, dnsSuffixes)`);
  }
  const addresses = stringList(root, 'addresses');
  addresses.forEach((address, index) => {
    const [ip, prefix, extra] = address.split('/');
    if (normalizeIpAddress(ip) === null || extra !== undefined || (prefix !== undefined && !/^\d{1,3}$/.test(prefix))) {
      throw new Error(`addresses[${index}] must be an IP address with an optional "/prefix", got "${address}"`);
    }
  });
  return { addresses, dnsSuffixes: stringList(root, 'dnsSuffixes') };
}

function stringList(root: Record<string, unknown>, key: string): string[] {
  const value = root[key];
  if (!Array.isArray(value)) throw new Error(`"${key}" must be a list of strings`);
  return value.map((item, index) => {
    if (typeof item !== 'string' || item.trim() === '') throw new Error(`${key}[${index}] must be a non-empty string, got ${JSON.stringify(item)}`);
    return item.trim();
  });
}
