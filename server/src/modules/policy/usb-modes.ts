import { UsbEnforcementMode } from '../../generated/mamori/v1/policy';

/** The USB modes as REST and the settings table spell them. */
export const USB_MODE_NAMES = ['allow', 'audit', 'read_only', 'block'] as const;
export type UsbModeName = (typeof USB_MODE_NAMES)[number];

/** The modes a time-boxed exception may grant: it lets a device in, it never restricts one. */
export const USB_EXCEPTION_MODE_NAMES = ['allow', 'read_only'] as const;
export type UsbExceptionModeName = (typeof USB_EXCEPTION_MODE_NAMES)[number];

const TO_PROTO: Record<UsbModeName, UsbEnforcementMode> = {
  allow: UsbEnforcementMode.USB_ENFORCEMENT_MODE_ALLOW,
  audit: UsbEnforcementMode.USB_ENFORCEMENT_MODE_AUDIT,
  read_only: UsbEnforcementMode.USB_ENFORCEMENT_MODE_READ_ONLY,
  block: UsbEnforcementMode.USB_ENFORCEMENT_MODE_BLOCK,
};

export function isUsbModeName(value: unknown): value is UsbModeName {
  return typeof value === 'string' && (USB_MODE_NAMES as readonly string[]).includes(value);
}

export function usbModeToProto(name: UsbModeName): UsbEnforcementMode {
  return TO_PROTO[name];
}

/** "USB_ENFORCEMENT_MODE_READ_ONLY" → "read_only"; UNSPECIFIED (never stored, but agents may send it) → "unspecified". */
export function usbModeName(mode: string | undefined | null): UsbModeName | 'unspecified' {
  const name = String(mode ?? '').replace('USB_ENFORCEMENT_MODE_', '').toLowerCase();
  return isUsbModeName(name) ? name : 'unspecified';
}
