import { isIP } from 'node:net';
import { SerialQuality, TransportProtocol, type UsbDevice } from '../../generated/mamori/v1/common';
import {
  AgentState,
  DestinationDecision,
  DestinationObserver,
  EncryptionScheme,
  FileOperation,
  PersonalDataKind,
  TransferChannel,
  UsbEnforcementAction,
} from '../../generated/mamori/v1/events';
import { UsbEnforcementMode } from '../../generated/mamori/v1/policy';

export const MAX_EVENTS_PER_BATCH = 5000;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const MAX_INT64 = 9_223_372_036_854_775_807n;
/** 9999-12-31T23:59:59Z: later times have no plain ISO-8601 form. */
const MAX_TIMESTAMP_SECONDS = 253_402_300_799;

/** The payload members of Event's oneof, by their proto names. */
export const EVENT_KINDS = {
  usbDeviceAttached: 'usb_device_attached',
  usbDeviceDetached: 'usb_device_detached',
  volumeMounted: 'volume_mounted',
  volumeUnmounted: 'volume_unmounted',
  diskEncryptionStatus: 'disk_encryption_status',
  fileTransfer: 'file_transfer',
  destinationAccess: 'destination_access',
  agentStatus: 'agent_status',
  usbStorageVolumes: 'usb_storage_volumes',
  usbDeviceReevaluated: 'usb_device_reevaluated',
} as const;
export type PayloadField = keyof typeof EVENT_KINDS;
export type EventKind = (typeof EVENT_KINDS)[PayloadField];

/** An event that passed validation, in the shape the store writes. */
export interface ValidatedEvent {
  eventId: string;
  occurredAtMs: number;
  /** uint64 as a decimal string (exact beyond 2^53). */
  sequence: string;
  userName: string;
  kind: EventKind;
  payload: Record<string, unknown>;
}

/**
 * The first problem found in a batch. `path` is in proto field names, e.g.
 * `events[3].usb_device_attached.device.vendor_id`; `eventIndex` is null for batch-level problems.
 */
export class BatchValidationError extends Error {
  override name = 'BatchValidationError';
  constructor(
    readonly path: string,
    readonly problem: string,
    readonly eventIndex: number | null,
  ) {
    super(`${path}: ${problem}`);
  }
}

class FieldError extends Error {
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${path}: ${problem}`);
  }
}

/** Validates a whole UploadEvents request; throws BatchValidationError at the first problem. */
export function validateUploadBatch(request: unknown): { batchId: string; events: ValidatedEvent[] } {
  const body = isRecord(request) ? request : {};
  const batchId = body.batchId;
  if (typeof batchId !== 'string' || !UUID.test(batchId)) {
    throw new BatchValidationError('batch_id', `must be a UUID, got ${describe(batchId)}`, null);
  }
  const events = body.events;
  if (!Array.isArray(events) || events.length === 0) {
    throw new BatchValidationError('events', 'must hold at least one event', null);
  }
  if (events.length > MAX_EVENTS_PER_BATCH) {
    throw new BatchValidationError('events', `must hold at most ${MAX_EVENTS_PER_BATCH} events, got ${events.length}`, null);
  }
  const validated: ValidatedEvent[] = [];
  for (let index = 0; index < events.length; index++) {
    try {
      validated.push(validateEvent(events[index], `events[${index}]`));
    } catch (error) {
      if (error instanceof FieldError) throw new BatchValidationError(error.path, error.problem, index);
      throw error;
    }
  }
  return { batchId: batchId.toLowerCase(), events: validated };
}

function validateEvent(raw: unknown, path: string): ValidatedEvent {
  const event = record(raw, path);
  const eventId = event.eventId;
  if (typeof eventId !== 'string' || !UUID.test(eventId)) throw new FieldError(`${path}.event_id`, `must be a UUID, got ${describe(eventId)}`);
  const occurredAtMs = timestamp(event.occurredAt, `${path}.occurred_at`);
  const sequence = uint64(event.sequence, `${path}.sequence`);
  if (BigInt(sequence) === 0n) throw new FieldError(`${path}.sequence`, 'must be greater than 0');
  if (BigInt(sequence) > MAX_INT64) throw new FieldError(`${path}.sequence`, `must be at most ${MAX_INT64}, got ${sequence}`);
  const userName = text(event.userName, `${path}.user_name`, 256);

  const present = (Object.keys(EVENT_KINDS) as PayloadField[]).filter((field) => event[field] !== undefined && event[field] !== null);
  if (present.length !== 1) {
    throw new FieldError(
      `${path}.payload`,
      present.length === 0 ? 'exactly one payload must be set, got none' : `exactly one payload must be set, got ${present.map((field) => EVENT_KINDS[field]).join(', ')}`,
    );
  }
  const field = present[0];
  const kind = EVENT_KINDS[field];
  const payloadPath = `${path}.${kind}`;
  const payload = PAYLOAD_VALIDATORS[field](record(event[field], payloadPath), payloadPath);
  return { eventId: eventId.toLowerCase(), occurredAtMs, sequence, userName, kind, payload };
}

type PayloadValidator = (payload: Record<string, unknown>, path: string) => Record<string, unknown>;

const PAYLOAD_VALIDATORS: Record<PayloadField, PayloadValidator> = {
  usbDeviceAttached: (p, path) => ({
    device: usbDevice(required(p.device, `${path}.device`), `${path}.device`),
    presentAtStart: bool(p.presentAtStart, `${path}.present_at_start`),
    enforcement: optional(p.enforcement, (e) => enforcementDecision(e, `${path}.enforcement`)),
    continuesAttachedEventId: optionalUuid(p.continuesAttachedEventId, `${path}.continues_attached_event_id`),
  }),
  usbStorageVolumes: (p, path) => ({
    device: usbDevice(required(p.device, `${path}.device`), `${path}.device`),
    blockDevices: list(p.blockDevices, `${path}.block_devices`, 128, (item, itemPath) => blockDevice(item, itemPath)),
    allDataVolumesEncrypted: bool(p.allDataVolumesEncrypted, `${path}.all_data_volumes_encrypted`),
    enforcement: optional(p.enforcement, (e) => enforcementDecision(e, `${path}.enforcement`)),
    attachedEventId: optionalUuid(p.attachedEventId, `${path}.attached_event_id`),
  }),
  usbDeviceReevaluated: (p, path) => ({
    device: usbDevice(required(p.device, `${path}.device`), `${path}.device`),
    enforcement: enforcementDecision(required(p.enforcement, `${path}.enforcement`), `${path}.enforcement`),
    previousAppliedMode: enumValue(p.previousAppliedMode, `${path}.previous_applied_mode`, UsbEnforcementMode),
    previousPolicyVersion: uint64(p.previousPolicyVersion, `${path}.previous_policy_version`),
    attachedEventId: optionalUuid(p.attachedEventId, `${path}.attached_event_id`),
    blockDevices: list(p.blockDevices, `${path}.block_devices`, 128, (item, itemPath) => blockDevice(item, itemPath)),
    allDataVolumesEncrypted: bool(p.allDataVolumesEncrypted, `${path}.all_data_volumes_encrypted`),
    storageEnforcement: optional(p.storageEnforcement, (e) => enforcementDecision(e, `${path}.storage_enforcement`)),
  }),
  usbDeviceDetached: (p, path) => ({
    device: usbDevice(required(p.device, `${path}.device`), `${path}.device`),
    attachedEventId: optionalUuid(p.attachedEventId, `${path}.attached_event_id`),
    leftWhileAgentStopped: bool(p.leftWhileAgentStopped, `${path}.left_while_agent_stopped`),
  }),
  volumeMounted: (p, path) => ({
    deviceNode: text(p.deviceNode, `${path}.device_node`, 1024),
    mountPoint: text(p.mountPoint, `${path}.mount_point`, 4096),
    filesystemType: text(p.filesystemType, `${path}.filesystem_type`, 64),
    label: text(p.label, `${path}.label`, 256),
    sizeBytes: uint64(p.sizeBytes, `${path}.size_bytes`),
    removable: bool(p.removable, `${path}.removable`),
    usbDevice: optional(p.usbDevice, (d) => usbDevice(d, `${path}.usb_device`)),
    encryption: optional(p.encryption, (e) => encryptionState(e, `${path}.encryption`)),
  }),
  volumeUnmounted: (p, path) => ({
    deviceNode: text(p.deviceNode, `${path}.device_node`, 1024),
    mountPoint: text(p.mountPoint, `${path}.mount_point`, 4096),
  }),
  diskEncryptionStatus: (p, path) => ({
    volumes: list(p.volumes, `${path}.volumes`, 256, (volume, itemPath) => {
      const v = record(volume, itemPath);
      return {
        device: text(v.device, `${itemPath}.device`, 1024),
        mountPoint: text(v.mountPoint, `${itemPath}.mount_point`, 4096),
        systemVolume: bool(v.systemVolume, `${itemPath}.system_volume`),
        removable: bool(v.removable, `${itemPath}.removable`),
        encryption: optional(v.encryption, (e) => encryptionState(e, `${itemPath}.encryption`)),
        locked: bool(v.locked, `${itemPath}.locked`),
        method: text(v.method, `${itemPath}.method`, 128),
        sizeBytes: uint64(v.sizeBytes, `${itemPath}.size_bytes`),
        filesystemType: text(v.filesystemType, `${itemPath}.filesystem_type`, 64),
        encryptedBy: text(v.encryptedBy, `${itemPath}.encrypted_by`, 1024),
      };
    }),
    problems: list(p.problems, `${path}.problems`, 64, (problem, itemPath) => text(problem, itemPath, 1024)),
  }),
  fileTransfer: (p, path) => {
    const sha256 = text(p.sha256, `${path}.sha256`, 64);
    if (sha256 !== '' && !SHA256_HEX.test(sha256)) throw new FieldError(`${path}.sha256`, 'must be 64 lower-case hex digits or empty');
    // Stored in a BIGINT column and summed by the daily volume rule.
    const sizeBytes = uint64(p.sizeBytes, `${path}.size_bytes`);
    if (BigInt(sizeBytes) > MAX_INT64) throw new FieldError(`${path}.size_bytes`, `must be at most ${MAX_INT64}, got ${sizeBytes}`);
    const operation = enumValue(p.operation, `${path}.operation`, FileOperation);
    const previousPath = text(p.previousPath, `${path}.previous_path`, 4096);
    if (operation === FileOperation.FILE_OPERATION_RENAMED && previousPath === '') throw new FieldError(`${path}.previous_path`, 'must be set for a rename');
    const seenKinds = new Set<string>();
    return {
      channel: enumValue(p.channel, `${path}.channel`, TransferChannel),
      path: text(p.path, `${path}.path`, 4096),
      sizeBytes,
      sha256,
      destination: text(p.destination, `${path}.destination`, 1024),
      usbDevice: optional(p.usbDevice, (d) => usbDevice(d, `${path}.usb_device`)),
      destinationEncrypted: bool(p.destinationEncrypted, `${path}.destination_encrypted`),
      // One count per kind: a kind listed twice would be counted twice by the rules and the search.
      findings: list(p.findings, `${path}.findings`, 64, (finding, itemPath) => {
        const f = record(finding, itemPath);
        const kind = enumValue(f.kind, `${itemPath}.kind`, PersonalDataKind);
        if (kind === PersonalDataKind.PERSONAL_DATA_KIND_UNSPECIFIED) throw new FieldError(`${itemPath}.kind`, 'must name a kind of personal data');
        if (seenKinds.has(kind)) throw new FieldError(`${itemPath}.kind`, `${kind} is listed more than once`);
        seenKinds.add(kind);
        return { kind, count: uint(f.count, `${itemPath}.count`, 0xffffffff) };
      }),
      inspectionComplete: bool(p.inspectionComplete, `${path}.inspection_complete`),
      processName: text(p.processName, `${path}.process_name`, 1024),
      processId: uint(p.processId, `${path}.process_id`, 0xffffffff),
      userName: text(p.userName, `${path}.user_name`, 256),
      operation,
      previousPath,
      format: text(p.format, `${path}.format`, 32),
      inspectionNote: text(p.inspectionNote, `${path}.inspection_note`, 4096),
      encryptedEntries: uint(p.encryptedEntries, `${path}.encrypted_entries`, 0xffffffff),
      problem: text(p.problem, `${path}.problem`, 4096),
      attachedEventId: optionalUuid(p.attachedEventId, `${path}.attached_event_id`),
      deviceNode: text(p.deviceNode, `${path}.device_node`, 1024),
    };
  },
  destinationAccess: (p, path) => {
    const ipAddress = text(p.ipAddress, `${path}.ip_address`, 64);
    if (ipAddress !== '' && isIP(ipAddress) === 0) throw new FieldError(`${path}.ip_address`, `must be an IPv4 or IPv6 address, got ${describe(ipAddress)}`);
    return {
      host: text(p.host, `${path}.host`, 253),
      ipAddress,
      port: uint(p.port, `${path}.port`, 65535),
      protocol: enumValue(p.protocol, `${path}.protocol`, TransportProtocol),
      decision: enumValue(p.decision, `${path}.decision`, DestinationDecision),
      processName: text(p.processName, `${path}.process_name`, 1024),
      zone: text(p.zone, `${path}.zone`, 128),
      bytesSent: uint64(p.bytesSent, `${path}.bytes_sent`),
      bytesReceived: uint64(p.bytesReceived, `${path}.bytes_received`),
      observer: enumValue(p.observer, `${path}.observer`, DestinationObserver),
      whitelistEntryId: text(p.whitelistEntryId, `${path}.whitelist_entry_id`, 64),
      policyVersion: uint64(p.policyVersion, `${path}.policy_version`),
      policyLineageId: text(p.policyLineageId, `${path}.policy_lineage_id`, 64),
      processId: uint(p.processId, `${path}.process_id`, 0xffffffff),
      attempts: uint(p.attempts, `${path}.attempts`, 0xffffffff),
      sourceAddress: text(p.sourceAddress, `${path}.source_address`, 80),
    };
  },
  agentStatus: (p, path) => ({
    state: enumValue(p.state, `${path}.state`, AgentState),
    droppedEvents: uint64(p.droppedEvents, `${path}.dropped_events`),
    message: text(p.message, `${path}.message`, 4096),
    policyVersion: uint64(p.policyVersion, `${path}.policy_version`),
  }),
};

function usbDevice(raw: unknown, path: string): UsbDevice {
  const d = record(raw, path);
  const descriptorHash = text(d.descriptorHash, `${path}.descriptor_hash`, 64);
  if (descriptorHash !== '' && !SHA256_HEX.test(descriptorHash)) throw new FieldError(`${path}.descriptor_hash`, 'must be 64 lower-case hex digits or empty');
  return {
    vendorId: uint(d.vendorId, `${path}.vendor_id`, 0xffff),
    productId: uint(d.productId, `${path}.product_id`, 0xffff),
    serial: text(d.serial, `${path}.serial`, 256),
    manufacturer: text(d.manufacturer, `${path}.manufacturer`, 256),
    product: text(d.product, `${path}.product`, 256),
    interfaceClasses: list(d.interfaceClasses, `${path}.interface_classes`, 32, (value, itemPath) => uint(value, itemPath, 0xff)),
    busPath: text(d.busPath, `${path}.bus_path`, 64),
    descriptorHash,
    serialQuality: enumValue(d.serialQuality, `${path}.serial_quality`, SerialQuality) as SerialQuality,
  };
}

/** What the agent decided and did about a USB device; the ids it names are checked for shape only (the collector judges on its own). */
function enforcementDecision(raw: unknown, path: string): Record<string, unknown> {
  const e = record(raw, path);
  const registerEntryId = text(e.registerEntryId, `${path}.register_entry_id`, 36);
  if (registerEntryId !== '' && !UUID.test(registerEntryId)) throw new FieldError(`${path}.register_entry_id`, `must be a UUID or empty, got ${describe(registerEntryId)}`);
  const exceptionId = text(e.exceptionId, `${path}.exception_id`, 36);
  if (exceptionId !== '' && !UUID.test(exceptionId)) throw new FieldError(`${path}.exception_id`, `must be a UUID or empty, got ${describe(exceptionId)}`);
  return {
    requestedMode: enumValue(e.requestedMode, `${path}.requested_mode`, UsbEnforcementMode),
    appliedMode: enumValue(e.appliedMode, `${path}.applied_mode`, UsbEnforcementMode),
    action: enumValue(e.action, `${path}.action`, UsbEnforcementAction),
    reason: text(e.reason, `${path}.reason`, 4096),
    registerEntryId: registerEntryId.toLowerCase(),
    exceptionId: exceptionId.toLowerCase(),
    latencyMicros: uint64(e.latencyMicros, `${path}.latency_micros`),
    policyVersion: uint64(e.policyVersion, `${path}.policy_version`),
    policyLineageId: optionalUuid(e.policyLineageId, `${path}.policy_lineage_id`),
  };
}

/** A UUID (stored lower-case) or empty. */
function optionalUuid(value: unknown, path: string): string {
  const id = text(value, path, 36);
  if (id !== '' && !UUID.test(id)) throw new FieldError(path, `must be a UUID or empty, got ${describe(id)}`);
  return id.toLowerCase();
}

function blockDevice(raw: unknown, path: string): Record<string, unknown> {
  const b = record(raw, path);
  const deviceNode = text(b.deviceNode, `${path}.device_node`, 1024);
  if (deviceNode === '') throw new FieldError(`${path}.device_node`, 'must be set');
  return {
    deviceNode,
    parentNode: text(b.parentNode, `${path}.parent_node`, 1024),
    sizeBytes: uint64(b.sizeBytes, `${path}.size_bytes`),
    filesystemType: text(b.filesystemType, `${path}.filesystem_type`, 64),
    label: text(b.label, `${path}.label`, 256),
    mountPoints: list(b.mountPoints, `${path}.mount_points`, 64, (mountPoint, itemPath) => text(mountPoint, itemPath, 4096)),
    encryption: optional(b.encryption, (e) => encryptionState(e, `${path}.encryption`)),
    readOnly: bool(b.readOnly, `${path}.read_only`),
  };
}

function encryptionState(raw: unknown, path: string): Record<string, unknown> {
  const e = record(raw, path);
  return {
    scheme: enumValue(e.scheme, `${path}.scheme`, EncryptionScheme),
    fullyEncrypted: bool(e.fullyEncrypted, `${path}.fully_encrypted`),
    percentEncrypted: uint(e.percentEncrypted, `${path}.percent_encrypted`, 100),
    protectionOn: bool(e.protectionOn, `${path}.protection_on`),
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function record(value: unknown, path: string): Record<string, unknown> {
  if (!isRecord(value)) throw new FieldError(path, `must be a message, got ${describe(value)}`);
  return value;
}

function required(value: unknown, path: string): unknown {
  if (value === undefined || value === null) throw new FieldError(path, 'must be set');
  return value;
}

function optional<T>(value: unknown, validate: (value: unknown) => T): T | null {
  return value === undefined || value === null ? null : validate(value);
}

function text(value: unknown, path: string, maxLength: number): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw new FieldError(path, `must be a string, got ${describe(value)}`);
  if (value.length > maxLength) throw new FieldError(path, `must be at most ${maxLength} characters, got ${value.length}`);
  return value;
}

function bool(value: unknown, path: string): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') throw new FieldError(path, `must be true or false, got ${describe(value)}`);
  return value;
}

function uint(value: unknown, path: string, max: number): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw new FieldError(path, `must be 0..${max}, got ${describe(value)}`);
  }
  return value;
}

function uint64(value: unknown, path: string): string {
  if (value === undefined || value === null) return '0';
  const textValue = typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : value;
  if (typeof textValue !== 'string' || !/^\d{1,20}$/.test(textValue) || BigInt(textValue) > 18_446_744_073_709_551_615n) {
    throw new FieldError(path, `must be an unsigned 64-bit integer, got ${describe(value)}`);
  }
  return BigInt(textValue).toString();
}

function timestamp(value: unknown, path: string): number {
  if (value === undefined || value === null) throw new FieldError(path, 'must be set');
  const t = record(value, path);
  const seconds = typeof t.seconds === 'number' ? String(t.seconds) : t.seconds;
  if (typeof seconds !== 'string' || !/^-?\d{1,20}$/.test(seconds)) throw new FieldError(`${path}.seconds`, `must be an integer, got ${describe(t.seconds)}`);
  const secondsValue = Number(seconds);
  if (secondsValue <= 0 || secondsValue > MAX_TIMESTAMP_SECONDS) {
    throw new FieldError(path, `must be between 1970-01-01T00:00:01Z and 9999-12-31T23:59:59Z, got ${seconds} seconds`);
  }
  const nanos = t.nanos ?? 0;
  if (typeof nanos !== 'number' || !Number.isInteger(nanos) || nanos < 0 || nanos > 999_999_999) {
    throw new FieldError(`${path}.nanos`, `must be 0..999999999, got ${describe(nanos)}`);
  }
  return secondsValue * 1000 + Math.floor(nanos / 1_000_000);
}

function enumValue(value: unknown, path: string, values: Record<string, string>): string {
  if (value === undefined || value === null) return Object.values(values)[0];
  if (typeof value !== 'string' || !Object.values(values).includes(value)) throw new FieldError(path, `is not a known value, got ${describe(value)}`);
  return value;
}

function list<T>(value: unknown, path: string, maxItems: number, validate: (item: unknown, itemPath: string) => T): T[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new FieldError(path, `must be a list, got ${describe(value)}`);
  if (value.length > maxItems) throw new FieldError(path, `must hold at most ${maxItems} items, got ${value.length}`);
  return value.map((item, index) => validate(item, `${path}[${index}]`));
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return value.length > 64 ? JSON.stringify(value.slice(0, 64) + '…') : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) return 'a list';
  return 'a message';
}
