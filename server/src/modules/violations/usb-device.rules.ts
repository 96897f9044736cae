import { evaluateUsbDevice, evaluateUsbStorage, isDataVolume, isEncrypted, type UsbDeviceVerdict, type UsbRuleName } from '../../../../agent/src/core/usb-policy';
import type { UsbDevice as EvaluatorDevice } from '../../../../agent/src/generated/mamori/v1/common';
import type { BlockDevice as EvaluatorBlockDevice } from '../../../../agent/src/generated/mamori/v1/events';
import { UsbEnforcementMode as EvaluatorMode, type UsbPolicy as EvaluatorUsbPolicy } from '../../../../agent/src/generated/mamori/v1/policy';
import { toTimestamp } from '../../common/protobuf-time';
import { toUsbHex } from '../../common/usb-hex';
import type { UsbDevice } from '../../generated/mamori/v1/common';
import type { PolicyDocument } from '../policy/policy-document';
import { usbModeName, usbModeToProto, type UsbExceptionModeName } from '../policy/usb-modes';
import type { SerialQualityName, ViolationDevice, ViolationEnforcement, ViolationJudgement, ViolationSeverity } from './violation.entity';

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

/** The event kinds the USB rules judge. */
export const USB_RULE_EVENT_KINDS: readonly string[] = ['usb_device_attached', 'usb_storage_volumes', 'usb_device_reevaluated'];

/** A violation before it has an id and a detection time. */
export interface ViolationDraft {
  rule: string;
  severity: ViolationSeverity;
  eventId: string;
  /** The plug it belongs to: the event id of the device's UsbDeviceAttached; each rule counts once per plug. */
  plugId: string;
  judgedUnder: ViolationJudgement;
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
export function evaluatorPolicy(document: Pick<PolicyDocument, 'usb'>, exceptions: readonly EvaluationException[]): EvaluatorUsbPolicy {
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

/** The policy version the agent says it decided under, as its event reports it. */
export interface ReportedPolicy {
  version: string;
  lineageId: string;
}

/** Which stored policy version judges an event, and why when it is not the agent's own. */
export interface PolicyChoice {
  /** The version to judge by; null means the newest. */
  version: number | null;
  /** Empty when the agent's version is used; otherwise why the newest is used instead. */
  note: string;
}

/** The policy version and lineage named by the event's decision ('0' and '' when it names none). */
export function reportedPolicyOf(event: RuleEvent): ReportedPolicy {
  const enforcement = event.payload.enforcement as { policyVersion?: unknown; policyLineageId?: unknown } | null | undefined;
  return {
    version: typeof enforcement?.policyVersion === 'string' ? enforcement.policyVersion : '0',
    lineageId: typeof enforcement?.policyLineageId === 'string' ? enforcement.policyLineageId : '',
  };
}

/**
 * An event is judged by the policy in force when the agent decided: the version its decision
 * names, if this database published it. A version of 0, one from another lineage (a recreated
 * or foreign database numbers from 1 again) or one this database never published cannot be
 * trusted, and the newest version judges instead, with the reason. An empty lineage (agents
 * before lineages were reported) is taken as this database's.
 */
export function choosePolicyVersion(reported: ReportedPolicy, collectorLineageId: string, isPublished: (version: number) => boolean): PolicyChoice {
  const version = Number(reported.version);
  if (!Number.isSafeInteger(version) || version <= 0) return { version: null, note: 'the agent named no policy version for its decision, so the newest version judged it' };
  if (reported.lineageId !== '' && reported.lineageId !== collectorLineageId) {
    return { version: null, note: `the agent decided under version ${version} of another policy lineage (${reported.lineageId}), so the newest version judged it` };
  }
  if (!isPublished(version)) return { version: null, note: `the agent decided under version ${version}, which this collector never published, so the newest version judged it` };
  return { version, note: '' };
}

/**
 * The plug an event belongs to: a UsbDeviceAttached is the plug itself, unless it continues an
 * earlier one (the agent restarted while the device stayed attached: it names the attach that
 * began the plug); storage and re-evaluation events name their attach (older agents do not:
 * then the event stands alone).
 */
export function plugIdOf(event: RuleEvent): string {
  const named = event.kind === 'usb_device_attached' ? event.payload.continuesAttachedEventId : event.payload.attachedEventId;
  return typeof named === 'string' && named !== '' ? named : event.eventId;
}

/** True for the attach a restarted agent reports for a device that stayed attached. */
function continuesPlug(event: RuleEvent): boolean {
  const named = event.payload.continuesAttachedEventId;
  return event.kind === 'usb_device_attached' && typeof named === 'string' && named !== '';
}

/**
 * usb.unregistered_device (high) and usb.storage_with_hid (critical) from UsbDeviceAttached;
 * usb.unencrypted_media (high) from UsbStorageVolumes; from UsbDeviceReevaluated (a policy change
 * while the device stayed attached) every rule the device breaks under the new version. `usb` is
 * the policy the event is judged by (see choosePolicyVersion), `judgedUnder` says which it was.
 * Exception windows are judged at the event's own time (occurred_at), so a use inside the window
 * uploaded after it ended is no violation, and a plug after the end is one. Each draft names its
 * plug; the store keeps one unresolved violation per rule and plug.
 */
export function evaluateUsbEvent(event: RuleEvent, context: RuleContext, usb: EvaluatorUsbPolicy, judgedUnder: ViolationJudgement = NEWEST_UNKNOWN): UsbRuleOutcome {
  if (!USB_RULE_EVENT_KINDS.includes(event.kind)) return { drafts: [], exceptionId: null };
  const device = event.payload.device as UsbDevice | undefined | null;
  if (device === undefined || device === null) return { drafts: [], exceptionId: null };
  const evaluated = evaluatorDevice(device);
  let verdict = evaluateUsbDevice(evaluated, usb, { agentId: context.agentId, userName: event.userName, at: new Date(event.occurredAtMs) });
  // The attach raises the device rules; the volumes event only adds what its block devices tell;
  // a re-evaluation raises whatever the device breaks now (the store drops what this plug already has).
  let rules: UsbRuleName[] = verdict.violations;
  const blockDevices = (event.payload.blockDevices ?? []) as EvaluatorBlockDevice[];
  if (event.kind === 'usb_storage_volumes') {
    verdict = evaluateUsbStorage(verdict, blockDevices, usb);
    rules = verdict.violations.filter((rule) => rule === 'usb.unencrypted_media');
  } else if (event.kind === 'usb_device_reevaluated' && blockDevices.length > 0) {
    verdict = evaluateUsbStorage(verdict, blockDevices, usb);
    rules = verdict.violations;
  }
  const enforcement = enforcementOf(event.payload.enforcement);
  const plugId = plugIdOf(event);
  return {
    drafts: rules.map((rule) => ({
      rule,
      severity: USB_RULE_SEVERITY[rule],
      eventId: event.eventId,
      plugId,
      judgedUnder,
      occurredAtMs: event.occurredAtMs,
      userName: event.userName,
      device: violationDevice(device),
      enforcement,
      summary: summaryOf(rule, device, event.userName, context.hostname, verdict, blockDevices, event.kind === 'usb_device_reevaluated' ? judgedUnder.policyVersion : null, continuesPlug(event)),
    })),
    exceptionId: event.kind !== 'usb_storage_volumes' && verdict.basis === 'exception' ? verdict.exceptionId : null,
  };
}

const NEWEST_UNKNOWN: ViolationJudgement = { policyVersion: 0, source: 'newest', note: '' };

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
    policyLineageId: e.policyLineageId ?? '',
  };
}

function summaryOf(
  rule: UsbRuleName,
  device: UsbDevice,
  userName: string,
  hostname: string,
  verdict: UsbDeviceVerdict,
  blockDevices: EvaluatorBlockDevice[],
  reevaluatedUnder: number | null,
  continued: boolean,
): string {
  const text = plugSummary(rule, device, userName, hostname, verdict, blockDevices);
  if (reevaluatedUnder !== null) return `${text.slice(0, -1)}; it was still attached when policy version ${reevaluatedUnder} took effect.`;
  return continued ? `${text.slice(0, -1)}; it was still attached when the agent restarted.` : text;
}

function plugSummary(rule: UsbRuleName, device: UsbDevice, userName: string, hostname: string, verdict: UsbDeviceVerdict, blockDevices: EvaluatorBlockDevice[]): string {
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
