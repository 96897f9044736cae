import { sqlBoolean } from '../policy/policy.service';
import type { UsbDevice } from '../../generated/mamori/v1/common';
import type { TransferChannelName, TransferOperationName, TransferRow } from './transfers.rules';

/** A transfers row joined with its agent's host name, as the read side uses it: the stored row with its time as a Date. */
export interface TransferRecord extends Omit<TransferRow, 'occurredAtMs'> {
  hostname: string;
  occurredAt: Date;
}

export const TRANSFER_SELECT = `SELECT t.*, a.hostname AS agent_hostname FROM transfers t LEFT JOIN agents a ON a.id = t.agent_id`;

type Row = Record<string, unknown>;

export function transferRecord(row: Row): TransferRecord {
  return {
    id: String(row.id),
    agentId: String(row.agent_id),
    hostname: row.agent_hostname === null || row.agent_hostname === undefined ? '' : String(row.agent_hostname),
    eventId: String(row.event_id),
    occurredAt: new Date(Number(row.occurred_at)),
    receivedAt: new Date(Number(row.received_at)),
    localDay: String(row.local_day),
    userName: String(row.user_name),
    channel: String(row.channel) as TransferChannelName,
    operation: String(row.operation) as TransferOperationName,
    path: String(row.path),
    previousPath: String(row.previous_path),
    sizeBytes: Number(row.size_bytes),
    sha256: String(row.sha256),
    destination: String(row.destination),
    device: typeof row.device === 'string' ? (JSON.parse(row.device) as UsbDevice) : null,
    attachedEventId: row.attached_event_id === null ? null : String(row.attached_event_id),
    plugId: row.plug_id === null ? null : String(row.plug_id),
    deviceNode: String(row.device_node),
    destinationEncrypted: sqlBoolean(row.destination_encrypted as boolean | number),
    hasPersonalData: sqlBoolean(row.has_personal_data as boolean | number),
    findings: JSON.parse(String(row.findings)) as Record<string, number>,
    inspectionComplete: sqlBoolean(row.inspection_complete as boolean | number),
    inspectionNote: String(row.inspection_note),
    format: String(row.format),
    encryptedEntries: Number(row.encrypted_entries),
    problem: String(row.problem),
    processName: String(row.process_name),
    processId: Number(row.process_id),
  };
}
