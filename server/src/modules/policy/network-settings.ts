import type { SqlExecutor } from '../../database/database.service';
import { protocolToProto, zoneModeToProto, type WhitelistProtocolName, type ZoneModeName } from './network-names';
import type { PolicyNetwork } from './policy-document';

/** A network_zones row as SQL hands it back. */
export interface NetworkZoneRow {
  name: string;
  position: number | string;
  cidrs: string;
  dns_suffixes: string;
  mode: ZoneModeName;
  created_at: number | string;
  updated_at: number | string;
}

/** A whitelist_entries row as SQL hands it back (BIGINT times as numbers or strings). */
export interface WhitelistEntryRow {
  id: string;
  host_pattern: string;
  cidr: string;
  ports: string;
  protocol: WhitelistProtocolName;
  service: string;
  zone: string;
  justification: string;
  requested_by: string;
  approved_by: string;
  expires_at: number | string | null;
  status: 'active' | 'expired' | 'revoked';
  created_at: number | string;
  updated_at: number | string;
  revoked_by: string | null;
  revoked_at: number | string | null;
  revocation_reason: string | null;
  expired_at: number | string | null;
  request_id: string | null;
}

/**
 * The network part of a version published now, read inside the publishing transaction: every
 * zone in order, and the active entries whose expiry has not passed at `now` (an entry whose end
 * passed but that the expiry scheduler has not marked yet is already left out).
 */
export async function networkPolicyWithin(sql: Pick<SqlExecutor, 'query'>, now: Date): Promise<PolicyNetwork> {
  const zones = await sql.query<NetworkZoneRow>('SELECT * FROM network_zones ORDER BY position, name');
  const entries = await sql.query<WhitelistEntryRow>(
    `SELECT * FROM whitelist_entries WHERE status = 'active' AND (expires_at IS NULL OR expires_at > ?) ORDER BY created_at, id`,
    [now],
  );
  return {
    zones: zones.map((zone) => ({
      name: zone.name,
      cidrs: JSON.parse(zone.cidrs) as string[],
      dnsSuffixes: JSON.parse(zone.dns_suffixes) as string[],
      mode: zoneModeToProto(zone.mode),
    })),
    whitelist: entries.map((entry) => ({
      entryId: entry.id,
      hostPattern: entry.host_pattern,
      cidr: entry.cidr,
      ports: JSON.parse(entry.ports) as Array<{ first: number; last: number }>,
      protocol: protocolToProto(entry.protocol),
      service: entry.service,
      zone: entry.zone,
      justification: entry.justification,
      requestedBy: entry.requested_by,
      approvedBy: entry.approved_by,
      expiresAt: entry.expires_at === null ? null : Number(entry.expires_at),
    })),
  };
}
