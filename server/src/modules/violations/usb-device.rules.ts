import { evaluateUsbDevice, evaluateUsbStorage, isDataVolume, isEncrypted, type UsbDeviceVerdict, type UsbRuleName } from '../../../../agent/src/core/usb-policy';
import type { UsbDevice as EvaluatorDevice } from '../../../../agent/src/generated/mamori/v1/common';
import type { BlockDevice as EvaluatorBlockDevice } from '../../../../agent/src/generated/mamori/v1/events';
import { UsbEnforcementMode as EvaluatorMode, type UsbPolicy as EvaluatorUsbPolicy } from '../../../../agent/src/generated/mamori/v1/policy';
import { toTimestamp } from '../../common/protobuf-time';
import { toUsbHex } from '../../common/usb-hex';
import type { UsbDevice } from '../../generated/mamori/v1/common';
import type { PolicyDocument } from '../policy/policy-document';
import { usbModeName, usbModeToProto, type UsbExceptionModeName } from '../policy/usb-modes';
import type { SerialQualityName, ViolationDevice, ViolationEnforcement, ViolationSeverity } from './violation.entity';

/**
 * The USB rules, decided by the same pure evaluator the agent enforces with
 * (agent/src/core/usb-policy.ts), so the collector never disagrees with the agent about what a
 * device is; this file only turns verdicts into violations.
 */
export const USB_UNREGISTERED_DEVICE_RULE = 'usb.unregistered_device';
export const USB_STORAGE_WITH_HID_RULE = 'usb.storage_with_hid';
export const USB_UNENCRYPTED_MEDIA_RULE = 'usb.unencrypted_media';

export const USB_RULE_SEVERITY: Record<UsbRuleName, ViolationSeverity> = {
  'usb.unregistered_device': 'high',
  'usb.storage_with_hid': 'critical',
  'usb.unencrypted_media': 'high',
};

/** What a rule needs to know about one newly stored event. */
export interface RuleEvent {
  eventId: string;
  kind: string;
  occurredAtMs: number;
  userName: string;
  payload: Record<string, unknown>;
}

/** A violation before it has an id and a detection time. */
export interface ViolationDraft {
  rule: string;
  severity: ViolationSeverity;
  eventId: string;
  occurredAtMs: number;
  userName: string;
  device: ViolationDevice;
  enforcement: ViolationEnforcement | null;
  summary: string;
}

/** Where the event came from. */
export interface RuleContext {
  agentId: string;
  hostname: string;
}

/** An approved exception as the rules see it: the window in which it really held. */
export interface EvaluationException {
  exceptionId: string;
  vendorId: number;
  productId: number;
  serial: string;
  agentId: string;
  userName: string;
  /** The later of its not_before and its approval: before it was approved, nobody had it. */
  heldFromMs: number;
  /** The earlier of its not_after and its revocation. */
  heldUntilMs: number;
  approvedBy: string;
  mode: UsbExceptionModeName;
}

/** The outcome for one event: its violations, and the exception that let the device in, if any. */
export interface UsbRuleOutcome {
  drafts: ViolationDraft[];
  exceptionId: string | null;
}

/**
 * The evaluator's UsbPolicy from a stored policy document and the exceptions that held at some
 * time. The agent's and the collector's generated types come from the same proto with string
 * enums, so the mode values are the same strings; TypeScript only sees two distinct enums.
 */
export function evaluatorPolicy(document: PolicyDocument, exceptions: readonly EvaluationException[]): EvaluatorUsbPolicy {
  const mode = (value: string) => value as EvaluatorMode;
  const usb = document.usb;
  return {
    unregisteredDeviceMode: mode(usb.unregisteredDeviceMode),
    registeredDeviceMode: mode(usb.registeredDeviceMode),
    requireEncryptedMedia: usb.requireEncryptedMedia,
    unencryptedMediaMode: mode(usb.unencryptedMediaMode),
    storageWithHidMode: mode(usb.storageWithHidMode),
    registeredDevices: usb.registeredDevices.map((entry) => ({ ...entry })),
    exceptions: exceptions.map((exception) => ({
      exceptionId: exception.exceptionId,
      vendorId: exception.vendorId,
      productId: exception.productId,
      serial: exception.serial,
      agentId: exception.agentId,
      userName: exception.userName,
      notBefore: toTimestamp(new Date(exception.heldFromMs)),
      notAfter: toTimestamp(new Date(exception.heldUntilMs)),
      justification: '',
      approvedBy: exception.approvedBy,
      mode: mode(usbModeToProto(exception.mode)),
    })),
  };
}

/**
 * usb.unregistered_device (high) and usb.storage_with_hid (critical) from UsbDeviceAttached;
 * usb.unencrypted_media (high) from UsbStorageVolumes. Exception windows are judged at the
 * event's own time (occurred_at), so a use inside the window uploaded after it ended is no
 * violation, and a plug after the end is one.
 */
export function evaluateUsbEvent(event: RuleEvent, context: RuleContext, usb: EvaluatorUsbPolicy): UsbRuleOutcome {
  if (event.kind !== 'usb_device_attached' && event.kind !== 'usb_storage_volumes') return { drafts: [], exceptionId: null };
  const device = event.payload.device as UsbDevice | undefined | null;
  if (device === undefined || device === null) return { drafts: [], exceptionId: null };
  const evaluated = evaluatorDevice(device);
  let verdict = evaluateUsbDevice(evaluated, usb, { agentId: context.agentId, userName: event.userName, at: new Date(event.occurredAtMs) });
  // The attach raises the device rules; the volumes event only adds what its block devices tell.
  let rules: UsbRuleName[] = verdict.violations;
  let blockDevices: EvaluatorBlockDevice[] = [];
  if (event.kind === 'usb_storage_volumes') {
    blockDevices = (event.payload.blockDevices ?? []) as EvaluatorBlockDevice[];
    verdict = evaluateUsbStorage(verdict, blockDevices, usb);
    rules = verdict.violations.filter((rule) => rule === 'usb.unencrypted_media');
  }
  const enforcement = enforcementOf(event.payload.enforcement);
  return {
    drafts: rules.map((rule) => ({
      rule,
      severity: USB_RULE_SEVERITY[rule],
      eventId: event.eventId,
      occurredAtMs: event.occurredAtMs,
      userName: event.userName,
      device: violationDevice(device),
      enforcement,
      summary: summaryOf(rule, device, event.userName, context.hostname, verdict, blockDevices),
    })),
    exceptionId: event.kind === 'usb_device_attached' && verdict.basis === 'exception' ? verdict.exceptionId : null,
  };
}

/** The exception the agent says it let the device in under, empty when none. */
export function reportedExceptionId(event: RuleEvent): string {
  const enforcement = event.payload.enforcement as { exceptionId?: unknown } | null | undefined;
  return typeof enforcement?.exceptionId === 'string' ? enforcement.exceptionId : '';
}

function evaluatorDevice(device: UsbDevice): EvaluatorDevice {
  // Same proto, same string enum values (see evaluatorPolicy).
  return device as unknown as EvaluatorDevice;
}

export function violationDevice(device: UsbDevice): ViolationDevice {
  return {
    vendorId: toUsbHex(device.vendorId),
    productId: toUsbHex(device.productId),
    serial: device.serial,
    manufacturer: device.manufacturer,
    product: device.product,
    interfaceClasses: [...device.interfaceClasses],
    busPath: device.busPath,
    serialQuality: serialQualityName(device.serialQuality),
  };
}

function serialQualityName(quality: string | undefined): SerialQualityName {
  const name = String(quality ?? '').replace('SERIAL_QUALITY_', '').toLowerCase();
  return name === 'present' || name === 'empty' || name === 'duplicated' ? name : 'unspecified';
}

function enforcementOf(raw: unknown): ViolationEnforcement | null {
  if (raw === undefined || raw === null || typeof raw !== 'object') return null;
  const e = raw as Record<string, string>;
  return {
    requestedMode: usbModeName(e.requestedMode),
    appliedMode: usbModeName(e.appliedMode),
    action: String(e.action ?? '').replace('USB_ENFORCEMENT_ACTION_', '').toLowerCase(),
    reason: e.reason ?? '',
    registerEntryId: e.registerEntryId === '' ? null : (e.registerEntryId ?? null),
    exceptionId: e.exceptionId === '' ? null : (e.exceptionId ?? null),
    policyVersion: e.policyVersion ?? '0',
    latencyMicros: e.latencyMicros ?? '0',
  };
}

function summaryOf(rule: UsbRuleName, device: UsbDevice, userName: string, hostname: string, verdict: UsbDeviceVerdict, blockDevices: EvaluatorBlockDevice[]): string {
  const name = [device.manufacturer, device.product].filter((part) => part !== '').join(' ') || 'USB mass-storage device';
  const id = `${toUsbHex(device.vendorId)}:${toUsbHex(device.productId)}, ${device.serial === '' ? 'no serial number' : `serial ${device.serial}`}`;
  const where = `on ${hostname || 'an unnamed host'} ${userName === '' ? 'with nobody logged in' : `by user ${userName}`}`;
  switch (rule) {
    case 'usb.unregistered_device':
      return `Unregistered USB storage device ${name} (${id}) was attached ${where}.`;
    case 'usb.storage_with_hid':
      return `USB device ${name} (${id}) presenting mass storage together with a keyboard or other HID interface (possible BadUSB) was attached ${where}.`;
    case 'usb.unencrypted_media': {
      const plain = blockDevices.filter((volume) => isDataVolume(volume, blockDevices) && !isEncrypted(volume)).map((volume) => volume.deviceNode);
      const what = plain.length > 0 ? `unencrypted data volume${plain.length === 1 ? '' : 's'} ${plain.join(', ')}` : 'no encrypted data volume';
      return `USB storage device ${name} (${id}) with ${what} was used ${where} while encrypted media is required (${verdict.basis === 'registered' ? 'registered stick' : verdict.basis}).`;
    }
  }
}
