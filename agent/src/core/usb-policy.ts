import type { UsbDevice } from '../generated/mamori/v1/common';
import { EncryptionScheme, type BlockDevice } from '../generated/mamori/v1/events';
import { UsbEnforcementMode, type UsbException, type UsbPolicy, type UsbRegisterEntry } from '../generated/mamori/v1/policy';

/**
 * The USB policy as one pure function pair, shared by the agent (which enforces the verdict)
 * and the collector (which raises the violations), so both always agree on what a device is.
 *
 * Matching follows USBGuard where the two overlap: every attribute an entry names must match
 * (vendor:product with `*` wildcards, the serial exactly, the descriptor hash when given), and
 * the first decisive rule wins, in this order:
 *   1. not mass storage (hubs, keyboards, mice, …)                    → allow
 *   2. mass storage together with a HID interface ("BadUSB")          → storage_with_hid_mode, whatever the register says
 *   3. an approved exception for this device, agent (and user), now   → the exception's mode
 *   4. a register entry                                               → registered_device_mode
 *   5. anything else                                                  → unregistered_device_mode
 * Then, once the block devices are known: with require_encrypted_media, a device that is not
 * blocked and has an unencrypted data volume gets the stricter of its mode and
 * unencrypted_media_mode.
 */

export type UsbRuleName = 'usb.unregistered_device' | 'usb.storage_with_hid' | 'usb.unencrypted_media';
export type UsbVerdictBasis = 'not_storage' | 'storage_with_hid' | 'exception' | 'registered' | 'unregistered';

export interface UsbDeviceVerdict {
  /** ALLOW, AUDIT, READ_ONLY or BLOCK; never UNSPECIFIED. */
  mode: UsbEnforcementMode;
  basis: UsbVerdictBasis;
  /** The violations this device raises; empty when it is allowed. */
  violations: UsbRuleName[];
  registerEntryId: string;
  exceptionId: string;
  /** One sentence for people: which rule decided and why. */
  reason: string;
}

export interface UsbVerdictContext {
  agentId: string;
  userName: string;
  /** When the device was seen: exceptions hold for a window of time. */
  at: Date;
}

const USB_CLASS_HID = 3;
const USB_CLASS_MASS_STORAGE = 8;

/** How restrictive each mode is; combining two rules takes the stricter. */
const STRICTNESS: Record<string, number> = {
  [UsbEnforcementMode.USB_ENFORCEMENT_MODE_ALLOW]: 0,
  [UsbEnforcementMode.USB_ENFORCEMENT_MODE_AUDIT]: 1,
  [UsbEnforcementMode.USB_ENFORCEMENT_MODE_READ_ONLY]: 2,
  [UsbEnforcementMode.USB_ENFORCEMENT_MODE_BLOCK]: 3,
};

export function isMassStorage(device: UsbDevice): boolean {
  return device.interfaceClasses.includes(USB_CLASS_MASS_STORAGE);
}

export function hasHidInterface(device: UsbDevice): boolean {
  return device.interfaceClasses.includes(USB_CLASS_HID);
}

/** The stricter of two modes (UNSPECIFIED counts as `fallback`). */
export function stricterMode(a: UsbEnforcementMode, b: UsbEnforcementMode): UsbEnforcementMode {
  return (STRICTNESS[a] ?? 1) >= (STRICTNESS[b] ?? 1) ? a : b;
}

/**
 * True when the entry names this device: vendor and product equal (or wildcarded), the serial
 * equal exactly and not empty (a stick without a serial cannot be told apart from its model,
 * so it never matches), and the descriptor hash equal when the entry gives one.
 */
export function matchesRegisterEntry(device: UsbDevice, entry: UsbRegisterEntry): boolean {
  if (device.serial.trim() === '' || entry.serial === '') return false;
  if (!entry.anyVendor && entry.vendorId !== device.vendorId) return false;
  if (!entry.anyProduct && entry.productId !== device.productId) return false;
  if (entry.serial !== device.serial) return false;
  if (entry.descriptorHash !== '' && entry.descriptorHash !== device.descriptorHash) return false;
  return true;
}

/** True when the exception covers this device on this agent, for this user, at this time. */
export function exceptionApplies(device: UsbDevice, exception: UsbException, context: UsbVerdictContext): boolean {
  if (device.serial.trim() === '' || exception.serial !== device.serial) return false;
  if (exception.vendorId !== device.vendorId || exception.productId !== device.productId) return false;
  if (exception.agentId !== context.agentId) return false;
  if (exception.userName !== '' && exception.userName !== context.userName) return false;
  const at = context.at.getTime();
  const from = timestampMillis(exception.notBefore);
  const until = timestampMillis(exception.notAfter);
  if (from !== null && at < from) return false;
  // An exception without an end would be a permanent registration in disguise: it never applies.
  if (until === null || at >= until) return false;
  return true;
}

export function evaluateUsbDevice(device: UsbDevice, usb: UsbPolicy | undefined, context: UsbVerdictContext): UsbDeviceVerdict {
  const none = { registerEntryId: '', exceptionId: '' };
  if (!isMassStorage(device)) {
    return { mode: UsbEnforcementMode.USB_ENFORCEMENT_MODE_ALLOW, basis: 'not_storage', violations: [], ...none, reason: 'not a mass-storage device' };
  }
  if (hasHidInterface(device)) {
    const mode = modeOr(usb?.storageWithHidMode, UsbEnforcementMode.USB_ENFORCEMENT_MODE_AUDIT);
    return {
      mode,
      basis: 'storage_with_hid',
      violations: mode === UsbEnforcementMode.USB_ENFORCEMENT_MODE_ALLOW ? [] : ['usb.storage_with_hid'],
      ...none,
      reason: 'mass storage together with a keyboard or other HID interface (possible BadUSB), whatever the register says',
    };
  }
  const exception = (usb?.exceptions ?? []).find((candidate) => exceptionApplies(device, candidate, context));
  if (exception !== undefined) {
    return {
      mode: modeOr(exception.mode, UsbEnforcementMode.USB_ENFORCEMENT_MODE_ALLOW),
      basis: 'exception',
      violations: [],
      registerEntryId: '',
      exceptionId: exception.exceptionId,
      reason: `time-boxed exception ${exception.exceptionId} approved by ${exception.approvedBy || 'an approver'}`,
    };
  }
  const entry = (usb?.registeredDevices ?? []).find((candidate) => matchesRegisterEntry(device, candidate));
  if (entry !== undefined) {
    return {
      mode: modeOr(usb?.registeredDeviceMode, UsbEnforcementMode.USB_ENFORCEMENT_MODE_ALLOW),
      basis: 'registered',
      violations: [],
      registerEntryId: entry.entryId,
      exceptionId: '',
      reason: `registered stick${entry.label ? ` "${entry.label}"` : ''}${entry.holder ? ` held by ${entry.holder}` : ''}`,
    };
  }
  const mode = modeOr(usb?.unregisteredDeviceMode, UsbEnforcementMode.USB_ENFORCEMENT_MODE_AUDIT);
  return {
    mode,
    basis: 'unregistered',
    violations: mode === UsbEnforcementMode.USB_ENFORCEMENT_MODE_ALLOW ? [] : ['usb.unregistered_device'],
    ...none,
    reason: device.serial.trim() === '' ? 'not in the register (the device has no serial number, so no entry can name it)' : 'not in the register of issued sticks',
  };
}

/** A volume that holds data: a partition, or a whole disk without partitions, with a file system or an encryption container. */
export function isDataVolume(volume: BlockDevice, all: readonly BlockDevice[]): boolean {
  const isWholeDisk = volume.parentNode === '';
  if (isWholeDisk && all.some((other) => other.parentNode === volume.deviceNode)) return false;
  return volume.filesystemType !== '' || isEncrypted(volume);
}

/**
 * Encrypted and protected: a recognised scheme whose protection is on. A BitLocker volume with
 * suspended protection (a clear key on the volume opens it without a password) does not count.
 */
export function isEncrypted(volume: BlockDevice): boolean {
  const scheme = volume.encryption?.scheme;
  if (scheme === undefined || scheme === EncryptionScheme.ENCRYPTION_SCHEME_NONE || scheme === EncryptionScheme.ENCRYPTION_SCHEME_UNSPECIFIED) return false;
  return volume.encryption?.protectionOn === true;
}

/** True when the device has at least one data volume and every one of them is encrypted. */
export function allDataVolumesEncrypted(volumes: readonly BlockDevice[]): boolean {
  const data = volumes.filter((volume) => isDataVolume(volume, volumes));
  return data.length > 0 && data.every(isEncrypted);
}

export function evaluateUsbStorage(verdict: UsbDeviceVerdict, volumes: readonly BlockDevice[], usb: UsbPolicy | undefined): UsbDeviceVerdict {
  if (verdict.basis === 'not_storage' || !usb?.requireEncryptedMedia) return verdict;
  if (verdict.mode === UsbEnforcementMode.USB_ENFORCEMENT_MODE_BLOCK) return verdict;
  if (allDataVolumesEncrypted(volumes)) return verdict;
  const required = modeOr(usb.unencryptedMediaMode, UsbEnforcementMode.USB_ENFORCEMENT_MODE_AUDIT);
  const plain = volumes.filter((volume) => isDataVolume(volume, volumes) && !isEncrypted(volume)).map((volume) => volume.deviceNode);
  return {
    ...verdict,
    mode: stricterMode(verdict.mode, required),
    violations: [...verdict.violations, 'usb.unencrypted_media'],
    reason:
      plain.length > 0
        ? `${verdict.reason}; encrypted media required, but ${plain.join(', ')} ${plain.length === 1 ? 'is' : 'are'} not encrypted`
        : `${verdict.reason}; encrypted media required, but no encrypted data volume was found`,
  };
}

function modeOr(mode: UsbEnforcementMode | undefined, fallback: UsbEnforcementMode): UsbEnforcementMode {
  return mode === undefined || mode === UsbEnforcementMode.USB_ENFORCEMENT_MODE_UNSPECIFIED ? fallback : mode;
}

function timestampMillis(timestamp: { seconds: string; nanos: number } | undefined): number | null {
  if (timestamp === undefined || timestamp === null) return null;
  const seconds = Number(timestamp.seconds);
  if (!Number.isFinite(seconds)) return null;
  return seconds * 1000 + Math.floor((timestamp.nanos ?? 0) / 1e6);
}
