/** One packet the kernel remembered in a senders set: where it went, from which local port, and the socket's uid. */
export interface SenderElement {
  destinationAddress: string;
  protocol: string;
  sourcePort: number;
  destinationPort: number;
  uid: number;
}

/**
 * Parses `nft -j list set inet mamori_egress senders4` (or senders6): elements whose value is the
 * concatenation destination . protocol . source port . destination port . uid. Elements of another
 * shape are skipped; text that is not nft JSON throws.
 */
export function parseSendersSetJson(text: string): SenderElement[] {
  const document = JSON.parse(text) as { nftables?: unknown[] };
  if (!Array.isArray(document.nftables)) throw new Error('not nft JSON output: no "nftables" array');
  const out: SenderElement[] = [];
  for (const item of document.nftables) {
    const set = (item as { set?: { elem?: unknown[] } }).set;
    if (set === undefined || !Array.isArray(set.elem)) continue;
    for (const element of set.elem) {
      const concat = concatOf(element);
      if (concat === null || concat.length !== 5) continue;
      const [destinationAddress, protocol, sourcePort, destinationPort, uid] = concat;
      if (typeof destinationAddress !== 'string' || typeof protocol !== 'string') continue;
      if (typeof sourcePort !== 'number' || typeof destinationPort !== 'number' || typeof uid !== 'number') continue;
      out.push({ destinationAddress, protocol, sourcePort, destinationPort, uid });
    }
  }
  return out;
}

/** nft prints an element with a timeout as {"elem": {"val": {"concat": [...]}, "expires": n}}, one without as {"concat": [...]}. */
function concatOf(element: unknown): unknown[] | null {
  if (typeof element !== 'object' || element === null) return null;
  const record = element as { concat?: unknown; elem?: { val?: { concat?: unknown } } };
  if (Array.isArray(record.concat)) return record.concat;
  const nested = record.elem?.val?.concat;
  return Array.isArray(nested) ? nested : null;
}
