import type { DiskEncryptionState, DiskPosture, LedgerStatus, MatchedBy } from './ledger.rules';

/** The loan fields of a ledger row, as stored (the CSV's columns and what people edit). */
export interface LedgerLoanFields {
  assetTag: string | null;
  hardwareSerial: string;
  hostname: string;
  department: string;
  holder: string;
  loanedSince: string | null;
  dueBack: string | null;
  /** null: not in the ledger (a machine discovered by its agent). */
  status: LedgerStatus | null;
  note: string;
}

/** A ledger row joined with the agent it is matched to, as the services read it. */
export interface LedgerDeviceRecord extends LedgerLoanFields {
  id: string;
  matchedBy: MatchedBy | null;
  createdAt: Date;
  updatedAt: Date;
  agent: LedgerAgentFacts | null;
}

export interface LedgerAgentFacts {
  id: string;
  status: 'enrolled' | 'revoked';
  hostname: string;
  osFamily: string;
  osVersion: string;
  architecture: string;
  agentVersion: string;
  hardwareSerial: string;
  hardwareModel: string;
  hardwareVendor: string;
  loggedInUsers: string[];
  networkInterfaces: Array<{ name: string; macAddress: string; addresses: string[] }>;
  enrolledAt: Date;
  lastSeenAt: Date | null;
  diskEncryption: (DiskPosture & { findings: string[]; source: 'heartbeat' | 'event' }) | null;
  diskEncryptionState: DiskEncryptionState;
  diskEncryptionAt: Date | null;
  /** The network zone the device must be in (network.wrong_zone), null for none. */
  requiredZone: string | null;
}

export const LEDGER_DEVICE_SELECT = `SELECT d.id, d.asset_tag, d.hardware_serial, d.hostname, d.department, d.holder, d.loaned_since, d.due_back,
  d.status, d.note, d.matched_by, d.created_at, d.updated_at,
  a.id AS agent_id, a.status AS agent_status, a.hostname AS agent_hostname, a.os_family, a.os_version, a.architecture, a.agent_version,
  a.hardware_serial AS agent_hardware_serial, a.hardware_model, a.hardware_vendor, a.logged_in_users, a.network_interfaces,
  a.enrolled_at, a.last_seen_at, a.disk_encryption, a.disk_encryption_state, a.disk_encryption_at, a.required_zone
FROM ledger_devices d LEFT JOIN agents a ON a.id = d.agent_id`;

type Row = Record<string, unknown>;

const time = (value: unknown): Date | null => (value === null || value === undefined ? null : new Date(Number(value)));
const json = <T>(value: unknown, fallback: T): T => (typeof value === 'string' ? (JSON.parse(value) as T) : fallback);

export function ledgerDeviceRecord(row: Row): LedgerDeviceRecord {
  return {
    id: String(row.id),
    assetTag: row.asset_tag === null ? null : String(row.asset_tag),
    hardwareSerial: String(row.hardware_serial),
    hostname: String(row.hostname),
    department: String(row.department),
    holder: String(row.holder),
    loanedSince: (row.loaned_since as string | null) ?? null,
    dueBack: (row.due_back as string | null) ?? null,
    status: (row.status as LedgerStatus | null) ?? null,
    note: String(row.note),
    matchedBy: (row.matched_by as MatchedBy | null) ?? null,
    createdAt: time(row.created_at) as Date,
    updatedAt: time(row.updated_at) as Date,
    agent:
      row.agent_id === null || row.agent_id === undefined
        ? null
        : {
            id: String(row.agent_id),
            status: row.agent_status as 'enrolled' | 'revoked',
            hostname: String(row.agent_hostname),
            osFamily: String(row.os_family),
            osVersion: String(row.os_version),
            architecture: String(row.architecture),
            agentVersion: String(row.agent_version),
            hardwareSerial: String(row.agent_hardware_serial),
            hardwareModel: String(row.hardware_model),
            hardwareVendor: String(row.hardware_vendor),
            loggedInUsers: json(row.logged_in_users, []),
            networkInterfaces: json(row.network_interfaces, []),
            enrolledAt: time(row.enrolled_at) as Date,
            lastSeenAt: time(row.last_seen_at),
            diskEncryption: json(row.disk_encryption, null),
            diskEncryptionState: (row.disk_encryption_state as DiskEncryptionState | null) ?? 'unknown',
            diskEncryptionAt: time(row.disk_encryption_at),
            requiredZone: (row.required_zone as string | null | undefined) ?? null,
          },
  };
}

/** The machine a condition violation is about, as its `device` shows it. */
export function violationSubject(record: Pick<LedgerDeviceRecord, 'id' | 'assetTag' | 'hardwareSerial' | 'hostname' | 'department' | 'holder' | 'status'> | null, agent: { hostname: string; hardwareSerial: string } | null) {
  return {
    kind: 'machine',
    ledgerDeviceId: record?.id ?? null,
    assetTag: record?.assetTag ?? null,
    hostname: agent?.hostname || record?.hostname || '',
    hardwareSerial: agent?.hardwareSerial || record?.hardwareSerial || '',
    department: record?.department ?? '',
    holder: record?.holder ?? '',
    ledgerStatus: record?.status ?? null,
  };
}
