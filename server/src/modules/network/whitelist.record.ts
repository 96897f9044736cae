import type { WhitelistProtocolName, ZoneModeName } from '../policy/network-names';
import type { NetworkZoneRow, WhitelistEntryRow } from '../policy/network-settings';

const iso = (value: number | string | null) => (value === null ? null : new Date(Number(value)).toISOString());

/** A zone as REST shows it and the history records it. */
export interface NetworkZoneRecord {
  name: string;
  position: number;
  cidrs: string[];
  dnsSuffixes: string[];
  mode: ZoneModeName;
  createdAt: string;
  updatedAt: string;
}

export function zoneRecord(row: NetworkZoneRow): NetworkZoneRecord {
  return {
    name: row.name,
    position: Number(row.position),
    cidrs: JSON.parse(row.cidrs) as string[],
    dnsSuffixes: JSON.parse(row.dns_suffixes) as string[],
    mode: row.mode,
    createdAt: iso(row.created_at)!,
    updatedAt: iso(row.updated_at)!,
  };
}

/**
 * `expired` is shown for an active entry whose expiry has passed even before the expiry scheduler
 * marked it: agents drop it at that moment by themselves.
 */
export type WhitelistEntryStatus = 'active' | 'expired' | 'revoked';

export interface WhitelistEntryRecord {
  id: string;
  hostPattern: string;
  cidr: string;
  ports: Array<{ first: number; last: number }>;
  protocol: WhitelistProtocolName;
  service: string;
  zone: string;
  justification: string;
  requestedBy: string;
  approvedBy: string;
  expiresAt: string | null;
  status: WhitelistEntryStatus;
  createdAt: string;
  updatedAt: string;
  revokedBy: string | null;
  revokedAt: string | null;
  revocationReason: string | null;
  expiredAt: string | null;
  requestId: string | null;
}

export function entryRecord(row: WhitelistEntryRow, now: Date): WhitelistEntryRecord {
  const ended = row.expires_at !== null && Number(row.expires_at) <= now.getTime();
  return {
    id: row.id,
    hostPattern: row.host_pattern,
    cidr: row.cidr,
    ports: JSON.parse(row.ports) as Array<{ first: number; last: number }>,
    protocol: row.protocol,
    service: row.service,
    zone: row.zone,
    justification: row.justification,
    requestedBy: row.requested_by,
    approvedBy: row.approved_by,
    expiresAt: iso(row.expires_at),
    status: row.status === 'active' && ended ? 'expired' : row.status,
    createdAt: iso(row.created_at)!,
    updatedAt: iso(row.updated_at)!,
    revokedBy: row.revoked_by,
    revokedAt: iso(row.revoked_at),
    revocationReason: row.revocation_reason,
    expiredAt: iso(row.expired_at) ?? (row.status === 'active' && ended ? iso(row.expires_at) : null),
    requestId: row.request_id,
  };
}

export type WhitelistRequestStatus = 'pending' | 'approved' | 'rejected' | 'withdrawn';

/** A whitelist_requests row as SQL hands it back. */
export interface WhitelistRequestRow {
  id: string;
  host_pattern: string;
  cidr: string;
  ports: string;
  protocol: WhitelistProtocolName;
  service: string;
  zone: string;
  justification: string;
  requested_by: string;
  requested_at: number | string;
  requested_expires_at: number | string | null;
  status: WhitelistRequestStatus;
  decided_by: string | null;
  decided_at: number | string | null;
  decision_reason: string | null;
  approved_expires_at: number | string | null;
  entry_id: string | null;
}

export interface WhitelistRequestRecord {
  id: string;
  hostPattern: string;
  cidr: string;
  ports: Array<{ first: number; last: number }>;
  protocol: WhitelistProtocolName;
  service: string;
  zone: string;
  justification: string;
  requestedBy: string;
  requestedAt: string;
  requestedExpiresAt: string | null;
  status: WhitelistRequestStatus;
  decidedBy: string | null;
  decidedAt: string | null;
  decisionReason: string | null;
  approvedExpiresAt: string | null;
  entryId: string | null;
}

export function requestRecord(row: WhitelistRequestRow): WhitelistRequestRecord {
  return {
    id: row.id,
    hostPattern: row.host_pattern,
    cidr: row.cidr,
    ports: JSON.parse(row.ports) as Array<{ first: number; last: number }>,
    protocol: row.protocol,
    service: row.service,
    zone: row.zone,
    justification: row.justification,
    requestedBy: row.requested_by,
    requestedAt: iso(row.requested_at)!,
    requestedExpiresAt: iso(row.requested_expires_at),
    status: row.status,
    decidedBy: row.decided_by,
    decidedAt: iso(row.decided_at),
    decisionReason: row.decision_reason,
    approvedExpiresAt: iso(row.approved_expires_at),
    entryId: row.entry_id,
  };
}
