import { createHash } from 'node:crypto';
import { evaluateUsbDevice, type UsbDeviceVerdict } from '../../../../agent/src/core/usb-policy';
import type { UsbDevice as EvaluatorDevice } from '../../../../agent/src/generated/mamori/v1/common';
import type { UsbPolicy as EvaluatorUsbPolicy } from '../../../../agent/src/generated/mamori/v1/policy';
import { toUsbHex } from '../../common/usb-hex';
import type { UsbDevice } from '../../generated/mamori/v1/common';
import type { ValidatedEvent } from '../ingest/event-validation';
import { localDate } from '../ledger/ledger.rules';
import { violationDevice, type ViolationDraft } from '../violations/usb-device.rules';
import type { ViolationDevice, ViolationJudgement } from '../violations/violation.entity';

/**
 * The transfer rules, pure: what a FileTransfer event is as a row of the transfer log, and which
 * violations it raises. The USB standing of the device is decided by the same evaluator the agent
 * enforces with (agent/src/core/usb-policy.ts), like the usb.* rules.
 */
export const TRANSFER_PERSONAL_DATA_RULE = 'transfer.personal_data_unencrypted';
export const TRANSFER_UNREGISTERED_MEDIA_RULE = 'transfer.to_unregistered_media';
export const TRANSFER_DAILY_VOLUME_RULE = 'transfer.daily_volume';
export const TRANSFER_RULES = [TRANSFER_PERSONAL_DATA_RULE, TRANSFER_UNREGISTERED_MEDIA_RULE, TRANSFER_DAILY_VOLUME_RULE] as const;

export const TRANSFER_CHANNELS = ['removable_media', 'upload', 'mail', 'watched_folder', 'unspecified'] as const;
export type TransferChannelName = (typeof TRANSFER_CHANNELS)[number];
export const TRANSFER_OPERATIONS = ['written', 'renamed', 'deleted', 'unspecified'] as const;
export type TransferOperationName = (typeof TRANSFER_OPERATIONS)[number];
export const PERSONAL_DATA_KINDS = ['my_number', 'corporate_number', 'credit_card', 'phone_number', 'postal_code', 'email_address', 'person_name', 'postal_address'] as const;

/** One row of the transfer log, as stored. */
export interface TransferRow {
  id: string;
  agentId: string;
  eventId: string;
  occurredAtMs: number;
  receivedAt: Date;
  /** The collector-local (TZ) calendar day of occurredAtMs, yyyy-mm-dd. */
  localDay: string;
  userName: string;
  channel: TransferChannelName;
  operation: TransferOperationName;
  path: string;
  previousPath: string;
  sizeBytes: number;
  sha256: string;
  destination: string;
  device: UsbDevice | null;
  attachedEventId: string | null;
  /** The plug the file went to (see plugOf); null without a USB device. */
  plugId: string | null;
  deviceNode: string;
  destinationEncrypted: boolean;
  /** Counts per kind (my_number, email_address, …), only kinds with a count above 0. */
  findings: Record<string, number>;
  hasPersonalData: boolean;
  inspectionComplete: boolean;
  inspectionNote: string;
  format: string;
  encryptedEntries: number;
  problem: string;
  processName: string;
  processId: number;
}

/** "TRANSFER_CHANNEL_REMOVABLE_MEDIA" → "removable_media". */
export function channelName(value: unknown): TransferChannelName {
  const name = String(value ?? '').replace('TRANSFER_CHANNEL_', '').toLowerCase();
  return (TRANSFER_CHANNELS as readonly string[]).includes(name) ? (name as TransferChannelName) : 'unspecified';
}

export function operationName(value: unknown): TransferOperationName {
  const name = String(value ?? '').replace('FILE_OPERATION_', '').toLowerCase();
  return (TRANSFER_OPERATIONS as readonly string[]).includes(name) ? (name as TransferOperationName) : 'unspecified';
}

/**
 * The plug a file went to: the attach event the agent named. An agent that names none (an older
 * one, or a volume whose plug it could not tell) still gets one id per device and volume, derived
 * from the agent, the device's identity, the block device and the mount point, so a burst of files
 * to one stick is one plug and not thousands.
 */
export function plugOf(agentId: string, device: UsbDevice | null, attachedEventId: string, deviceNode: string, destination: string): string | null {
  if (device === null) return null;
  if (attachedEventId !== '') return attachedEventId;
  const digest = createHash('sha256')
    .update([agentId, device.vendorId, device.productId, device.serial, device.busPath, deviceNode, destination].join('\u0000'))
    .digest('hex');
  // Shaped as a UUID (version nibble 5, RFC 4122 variant) so it fits the plug columns and cursors.
  return `${digest.slice(0, 8)}-${digest.slice(8, 12)}-5${digest.slice(13, 16)}-${((parseInt(digest[16], 16) & 0x3) | 0x8).toString(16)}${digest.slice(17, 20)}-${digest.slice(20, 32)}`;
}

/** The log row of a validated file_transfer event. */
export function transferRowOf(event: ValidatedEvent, agentId: string, id: string, receivedAt: Date): TransferRow {
  const p = event.payload as {
    channel: string;
    path: string;
    sizeBytes: string;
    sha256: string;
    destination: string;
    usbDevice: UsbDevice | null;
    destinationEncrypted: boolean;
    findings: Array<{ kind: string; count: number }>;
    inspectionComplete: boolean;
    processName: string;
    processId: number;
    userName: string;
    operation: string;
    previousPath: string;
    format: string;
    inspectionNote: string;
    encryptedEntries: number;
    problem: string;
    attachedEventId: string;
    deviceNode: string;
  };
  const findings: Record<string, number> = {};
  for (const finding of p.findings) {
    if (finding.count > 0) findings[finding.kind.replace('PERSONAL_DATA_KIND_', '').toLowerCase()] = finding.count;
  }
  return {
    id,
    agentId,
    eventId: event.eventId,
    occurredAtMs: event.occurredAtMs,
    receivedAt,
    localDay: localDate(new Date(event.occurredAtMs)),
    // The transfer names the session's user; older agents only put it on the event.
    userName: p.userName !== '' ? p.userName : event.userName,
    channel: channelName(p.channel),
    operation: operationName(p.operation),
    path: p.path,
    previousPath: p.previousPath,
    sizeBytes: Number(p.sizeBytes),
    sha256: p.sha256,
    destination: p.destination,
    device: p.usbDevice,
    attachedEventId: p.attachedEventId === '' ? null : p.attachedEventId,
    plugId: plugOf(agentId, p.usbDevice, p.attachedEventId, p.deviceNode, p.destination),
    deviceNode: p.deviceNode,
    destinationEncrypted: p.destinationEncrypted,
    findings,
    hasPersonalData: Object.keys(findings).length > 0,
    inspectionComplete: p.inspectionComplete,
    inspectionNote: p.inspectionNote,
    format: p.format,
    encryptedEntries: p.encryptedEntries,
    problem: p.problem,
    processName: p.processName,
    processId: p.processId,
  };
}

/** Whether a file's content went out: a completed write. Renames and deletes move nothing new out. */
export function isWrite(row: Pick<TransferRow, 'operation'>): boolean {
  return row.operation === 'written';
}

/**
 * transfer.personal_data_unencrypted: a file written with personal-data findings to a destination
 * that is not encrypted. Findings of an archive (zip, an Office file) come only from the entries
 * the agent could open; password-protected entries are counted in encrypted_entries and never
 * read. So a password-protected zip with no findings outside its encrypted entries is fine, and an
 * archive that holds personal data in an unprotected entry is a violation even when other entries
 * are protected. An inspection cut short by its budget that found nothing raises nothing (the row
 * says inspection_complete = false, and the auditor can search for those).
 */
export function breaksPersonalDataRule(row: TransferRow): boolean {
  return isWrite(row) && row.hasPersonalData && !row.destinationEncrypted;
}

/** The outcome of judging the device a file was written to against a policy version. */
export interface MediaStanding {
  /** True when the device is outside the register and no exception held, and the policy does not allow such devices. */
  unregistered: boolean;
  verdict: UsbDeviceVerdict;
}

/**
 * transfer.to_unregistered_media: the device's standing by the agent's evaluator at the file's
 * time. Outside the register means neither a register entry nor an exception that held at that
 * time lets the device in, while the policy's mode for unregistered devices is not allow (in
 * audit mode the file was written; in read-only or block mode it should not have been, which is
 * worse, not better). A device that also presents a HID interface is judged by the storage it
 * presents: the register decides whether that storage is an issued stick (usb.storage_with_hid is
 * raised for the HID part on the plug itself).
 */
export function mediaStanding(device: UsbDevice, usb: EvaluatorUsbPolicy, context: { agentId: string; userName: string; at: Date }): MediaStanding {
  const evaluated = device as unknown as EvaluatorDevice;
  let verdict = evaluateUsbDevice(evaluated, usb, context);
  if (verdict.basis === 'storage_with_hid') {
    verdict = evaluateUsbDevice({ ...evaluated, interfaceClasses: evaluated.interfaceClasses.filter((value) => value !== 3) }, usb, context);
  }
  return { unregistered: verdict.basis === 'unregistered' && verdict.violations.length > 0, verdict };
}

/** What the violations of a transfer show as their subject: the USB device (empty ids for a watched folder) and the file. */
export function transferSubject(row: TransferRow): ViolationDevice & Record<string, unknown> {
  const device: ViolationDevice =
    row.device === null
      ? { vendorId: '', productId: '', serial: '', manufacturer: '', product: '', interfaceClasses: [], busPath: '', serialQuality: 'unspecified' }
      : violationDevice(row.device);
  return {
    ...device,
    transferId: row.id,
    channel: row.channel,
    destination: row.destination,
    path: row.path,
    sha256: row.sha256,
    sizeBytes: row.sizeBytes,
    destinationEncrypted: row.destinationEncrypted,
    findings: row.findings,
    encryptedEntries: row.encryptedEntries,
  };
}

function deviceName(device: UsbDevice | null): string {
  if (device === null) return '';
  const name = [device.manufacturer, device.product].filter((part) => part !== '').join(' ') || 'USB storage device';
  return `${name} (${toUsbHex(device.vendorId)}:${toUsbHex(device.productId)}, ${device.serial === '' ? 'no serial number' : `serial ${device.serial}`})`;
}

function who(row: TransferRow, hostname: string): string {
  return `on ${hostname || 'an unnamed host'} ${row.userName === '' ? 'with nobody logged in' : `by user ${row.userName}`}`;
}

export function findingsText(findings: Record<string, number>): string {
  return Object.entries(findings)
    .map(([kind, count]) => `${kind} ×${count}`)
    .join(', ');
}

/** The draft of transfer.personal_data_unencrypted for one file; each file stands alone (its own event is its plug). */
export function personalDataDraft(row: TransferRow, hostname: string, judgedUnder: ViolationJudgement): ViolationDraft {
  const where = row.device === null ? `${row.channel.replace('_', ' ')} ${row.destination}` : `${deviceName(row.device)} mounted at ${row.destination}`;
  const archive = row.encryptedEntries > 0 ? ` (${row.encryptedEntries} password-protected entr${row.encryptedEntries === 1 ? 'y' : 'ies'} not counted; the findings are in unprotected content)` : '';
  return {
    rule: TRANSFER_PERSONAL_DATA_RULE,
    severity: 'high',
    eventId: row.eventId,
    plugId: row.eventId,
    judgedUnder,
    occurredAtMs: row.occurredAtMs,
    userName: row.userName,
    device: transferSubject(row),
    enforcement: null,
    summary: `File ${row.path} with personal data (${findingsText(row.findings)})${archive} was written unencrypted to ${where} ${who(row, hostname)}.`,
  };
}

/** The draft of transfer.to_unregistered_media; the store keeps one unresolved per agent and plug. */
export function unregisteredMediaDraft(row: TransferRow, hostname: string, judgedUnder: ViolationJudgement, reason: string): ViolationDraft {
  return {
    rule: TRANSFER_UNREGISTERED_MEDIA_RULE,
    severity: 'high',
    eventId: row.eventId,
    plugId: row.plugId ?? row.eventId,
    judgedUnder,
    occurredAtMs: row.occurredAtMs,
    userName: row.userName,
    device: transferSubject(row),
    enforcement: null,
    summary: `Files were written to ${deviceName(row.device)}, which is outside the register (${reason}), ${who(row, hostname)}; the first was ${row.path}.`,
  };
}

/** A user's writes to removable media on one day. */
export interface DailyVolume {
  userName: string;
  day: string;
  files: number;
  bytes: number;
}

export interface DailyLimits {
  dailyFileLimit: number;
  dailyByteLimit: number;
}

/** transfer.daily_volume: more files, or more bytes, than the limit (a limit of 0 is not counted). */
export function exceedsDailyLimits(volume: DailyVolume, limits: DailyLimits): boolean {
  return (limits.dailyFileLimit > 0 && volume.files > limits.dailyFileLimit) || (limits.dailyByteLimit > 0 && volume.bytes > limits.dailyByteLimit);
}

/** One violation per user and day: its condition key. A session without a user counts per agent. */
export function dailyVolumeKey(userName: string, agentId: string, day: string): string {
  return userName === '' ? `${TRANSFER_DAILY_VOLUME_RULE}:agent:${agentId}:nobody:${day}` : `${TRANSFER_DAILY_VOLUME_RULE}:user:${userName}:${day}`;
}

export function dailyVolumeSummary(volume: DailyVolume, limits: DailyLimits): string {
  const limitText = [
    limits.dailyFileLimit > 0 ? `${limits.dailyFileLimit} files` : null,
    limits.dailyByteLimit > 0 ? `${limits.dailyByteLimit} bytes` : null,
  ]
    .filter((part) => part !== null)
    .join(' or ');
  const subject = volume.userName === '' ? 'With nobody logged in, an agent wrote' : `User ${volume.userName} wrote`;
  return `${subject} ${volume.files} files (${volume.bytes} bytes) to removable media on ${volume.day}, more than the daily limit of ${limitText}.`;
}
