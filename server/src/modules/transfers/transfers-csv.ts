import { toUsbHex } from '../../common/usb-hex';
import { csvField } from '../ledger/csv';
import type { ViolationEntity } from '../violations/violation.entity';
import type { TransferRecord } from './transfer.record';

/**
 * The auditor's export: one row per transfer, oldest first, written by the ledger's CSV writer
 * (UTF-8 with BOM, CRLF, cells that a spreadsheet would read as a formula prefixed with an
 * apostrophe). Times are ISO-8601 UTC; local_day is the collector's calendar day the daily volume
 * rule counted the file on. findings is `kind=count` pairs separated by `;` (empty: none found).
 * violations names the rules of the violations the transfer raised or counts toward, `;`-separated.
 */
export const TRANSFER_CSV_COLUMNS = [
  'transfer_id',
  'occurred_at',
  'local_day',
  'agent_id',
  'hostname',
  'user_name',
  'channel',
  'operation',
  'path',
  'previous_path',
  'destination',
  'size_bytes',
  'sha256',
  'device_vendor_id',
  'device_product_id',
  'device_serial',
  'device_manufacturer',
  'device_product',
  'attached_event_id',
  'device_node',
  'destination_encrypted',
  'has_personal_data',
  'findings',
  'inspection_complete',
  'inspection_note',
  'format',
  'encrypted_entries',
  'problem',
  'process_name',
  'process_id',
  'violations',
  'event_id',
] as const;

export function transferCsvRow(transfer: TransferRecord, violations: ViolationEntity[]): string[] {
  const device = transfer.device;
  return [
    transfer.id,
    transfer.occurredAt.toISOString(),
    transfer.localDay,
    transfer.agentId,
    transfer.hostname,
    transfer.userName,
    transfer.channel,
    transfer.operation,
    transfer.path,
    transfer.previousPath,
    transfer.destination,
    String(transfer.sizeBytes),
    transfer.sha256,
    device === null ? '' : toUsbHex(device.vendorId),
    device === null ? '' : toUsbHex(device.productId),
    device?.serial ?? '',
    device?.manufacturer ?? '',
    device?.product ?? '',
    transfer.attachedEventId ?? '',
    transfer.deviceNode,
    String(transfer.destinationEncrypted),
    String(transfer.hasPersonalData),
    Object.entries(transfer.findings)
      .map(([kind, count]) => `${kind}=${count}`)
      .join(';'),
    String(transfer.inspectionComplete),
    transfer.inspectionNote,
    transfer.format,
    String(transfer.encryptedEntries),
    transfer.problem,
    transfer.processName,
    transfer.processId === 0 ? '' : String(transfer.processId),
    [...new Set(violations.map((violation) => violation.rule))].sort().join(';'),
    transfer.eventId,
  ];
}

/** One CSV line (CRLF-terminated) through the ledger's field writer. */
export function csvLine(fields: readonly string[]): string {
  return `${fields.map(csvField).join(',')}\r\n`;
}
