import type { UsbDevice } from '../generated/mamori/v1/common';
import { UsbEnforcementAction, type BlockDevice, type UsbEnforcementDecision } from '../generated/mamori/v1/events';
import { UsbEnforcementMode, type UsbPolicy } from '../generated/mamori/v1/policy';
import type { AgentCapability } from '../generated/mamori/v1/telemetry';
import type { UsbDeviceVerdict } from '../core/usb-policy';

/** One verdict to carry out on one device, with the moment the agent learned of the device. */
export interface UsbEnforcementRequest {
  device: UsbDevice;
  verdict: UsbDeviceVerdict;
  /** When the source observed the device; the decision's latency is measured from here. */
  observedAt: Date;
  policyVersion: bigint;
  /** The lineage of that version (Policy.lineage_id); empty when the agent has no policy yet. */
  policyLineageId?: string;
}

export interface UsbStorageEnforcementRequest extends UsbEnforcementRequest {
  /** The device's whole disk and partitions, as the source reported them. */
  blockDevices: readonly BlockDevice[];
}

/**
 * The USB enforcement port (after USBGuard's device manager): carries out the policy's verdicts
 * on the host. Contract:
 * - `reveal(device)` completes what blocking at birth hides from the source (see below).
 * - `configure(usb)` is called at start and on every policy change, before the attached devices
 *   are re-evaluated; it arms or disarms blocking at birth. It never rejects: a host where
 *   arming fails keeps running and says so through `capabilities()` and the later decisions.
 * - `enforceDevice` / `enforceStorage` never reject either: every outcome, including "could not",
 *   is a UsbEnforcementDecision. When the verdict asks for more than the backend can do, the
 *   decision's applied_mode is AUDIT and its action NOT_POSSIBLE with the reason — never silent.
 * - A verdict that no longer asks for read-only undoes the read-only this enforcer applied
 *   earlier to that device (and only that): enforceStorage then reports SET_READ_WRITE.
 * - `released(device)` is called when a device left the bus: what was done to it is forgotten.
 * - `stop()` undoes what `configure` changed on the host (previous root-hub defaults).
 * - `capabilities()` names usb.block and usb.read_only, available or not with the reason.
 */
export interface UsbEnforcer {
  readonly name: string;
  /**
   * A device born unauthorized (blocking at birth) has no active configuration, so a source that
   * reads interfaces from sysfs sees none and would take a stick for a harmless device. Returns the
   * device with its interface classes read from its raw descriptors when the source reported
   * none; otherwise (or when they cannot be read) the device unchanged. Never rejects.
   */
  reveal(device: UsbDevice): Promise<UsbDevice>;
  configure(usb: UsbPolicy | undefined): Promise<void>;
  enforceDevice(request: UsbEnforcementRequest): Promise<UsbEnforcementDecision>;
  enforceStorage(request: UsbStorageEnforcementRequest): Promise<UsbEnforcementDecision>;
  /** The device left the bus. Never rejects. */
  released(device: UsbDevice): Promise<void>;
  stop(): Promise<void>;
  capabilities(): AgentCapability[];
}

export const CAPABILITY_BLOCK = 'usb.block';
export const CAPABILITY_READ_ONLY = 'usb.read_only';

const ENFORCING_MODES = new Set<UsbEnforcementMode>([UsbEnforcementMode.USB_ENFORCEMENT_MODE_BLOCK, UsbEnforcementMode.USB_ENFORCEMENT_MODE_READ_ONLY]);

/**
 * True when some rule of the policy can ask to block a stick or make it read-only. Then every new
 * device must be born unauthorized, so that the agent decides before the kernel binds a driver;
 * read-only counts too, or a stick would be writable between its arrival and the read-only switch.
 */
export function needsBlockAtBirth(usb: UsbPolicy | undefined): boolean {
  if (usb === undefined) return false;
  const modes = [usb.unregisteredDeviceMode, usb.registeredDeviceMode, usb.storageWithHidMode, ...usb.exceptions.map((e) => e.mode)];
  if (usb.requireEncryptedMedia) modes.push(usb.unencryptedMediaMode);
  return modes.some((mode) => ENFORCING_MODES.has(mode));
}

/** Microseconds from `observedAt` to now, never negative (the wall clock may step). */
export function latencyMicros(observedAt: Date): string {
  const nowMicros = Math.round((performance.timeOrigin + performance.now()) * 1000);
  return String(Math.max(0, nowMicros - observedAt.getTime() * 1000));
}

export function modeName(mode: UsbEnforcementMode): string {
  return mode.replace('USB_ENFORCEMENT_MODE_', '').toLowerCase();
}

/** A decision that took no action on the host: the mode stands as the verdict asked. */
export function noActionDecision(request: UsbEnforcementRequest, reason = request.verdict.reason): UsbEnforcementDecision {
  return decision(request, request.verdict.mode, UsbEnforcementAction.USB_ENFORCEMENT_ACTION_NONE, reason);
}

/** The verdict could not be carried out: applied mode drops to audit and the reason says why. */
export function notPossibleDecision(request: UsbEnforcementRequest, why: string): UsbEnforcementDecision {
  return decision(
    request,
    UsbEnforcementMode.USB_ENFORCEMENT_MODE_AUDIT,
    UsbEnforcementAction.USB_ENFORCEMENT_ACTION_NOT_POSSIBLE,
    `${request.verdict.reason}; ${modeName(request.verdict.mode)} requested but not possible: ${why}`,
  );
}

export function decision(
  request: UsbEnforcementRequest,
  applied: UsbEnforcementMode,
  action: UsbEnforcementAction,
  reason: string,
): UsbEnforcementDecision {
  return {
    requestedMode: request.verdict.mode,
    appliedMode: applied,
    action,
    reason,
    registerEntryId: request.verdict.registerEntryId,
    exceptionId: request.verdict.exceptionId,
    latencyMicros: latencyMicros(request.observedAt),
    policyVersion: request.policyVersion.toString(),
    policyLineageId: request.policyLineageId ?? '',
  };
}

/** True for the modes that need the host to act (block, read-only). */
export function isEnforcingMode(mode: UsbEnforcementMode): boolean {
  return ENFORCING_MODES.has(mode);
}

/**
 * The capabilities a heartbeat reports: the source's (detection) and the enforcer's; where both
 * name the same capability the enforcer's word wins, since enforcing is its job.
 */
export function mergeCapabilities(source: readonly AgentCapability[], enforcer: readonly AgentCapability[]): AgentCapability[] {
  const enforced = new Set(enforcer.map((c) => c.name));
  return [...source.filter((c) => !enforced.has(c.name)), ...enforcer];
}
