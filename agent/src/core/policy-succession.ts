/** The two facts that order policies: the collector database that numbered them, and the number. */
export interface PolicyStamp {
  version: string;
  lineageId: string;
}

export type PolicySuccession =
  | { take: false }
  /** `lineageChanged`: the offered policy was numbered by another collector database than the running one. */
  | { take: true; lineageChanged: boolean };

/**
 * Whether an offered policy replaces the running one. Version numbers only compare within one
 * lineage: a collector whose database was recreated or restored from a backup numbers again
 * from 1 under a new lineage id, and its policy is the collector's current truth even when its
 * number is lower than the cached one. Within one lineage only a strictly higher version wins,
 * so a stale push that arrives late never rolls the agent back.
 */
export function decidePolicySuccession(running: PolicyStamp | null, offered: PolicyStamp): PolicySuccession {
  if (running === null) return { take: true, lineageChanged: false };
  if (offered.lineageId !== running.lineageId) return { take: true, lineageChanged: true };
  return BigInt(offered.version) > BigInt(running.version) ? { take: true, lineageChanged: false } : { take: false };
}
