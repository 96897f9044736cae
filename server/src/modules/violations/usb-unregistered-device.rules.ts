import { toUsbHex } from '../../common/usb-hex';
import type { UsbDevice } from '../../generated/mamori/v1/common';
import type { ViolationDevice, ViolationSeverity } from './violation.entity';

export const USB_UNREGISTERED_DEVICE_RULE = 'usb.unregistered_device';
export const USB_MASS_STORAGE_CLASS = 8;

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
  summary: string;
}

/** The identity the register matches on. The serial is compared exactly, case included. */
export function registerKey(vendorId: number, productId: number, serial: string): string {
  return `${vendorId}:${productId}:${serial}`;
}

/** The attached USB mass-storage device of an event, or null when the event is anything else. */
export function attachedMassStorageDevice(event: RuleEvent): UsbDevice | null {
  if (event.kind !== 'usb_device_attached') return null;
  const device = event.payload.device as UsbDevice | undefined;
  if (device === undefined || device === null) return null;
  return device.interfaceClasses.includes(USB_MASS_STORAGE_CLASS) ? device : null;
}

/**
 * usb.unregistered_device (high): a USB mass-storage device (an interface of class 8) was
 * attached whose (vendor id, product id, serial) is not in the register of issued sticks.
 * A device without a serial can never be told apart from its siblings, so it never matches.
 */
export function evaluateUnregisteredDevice(
  event: RuleEvent,
  hostname: string,
  isRegistered: (key: string) => boolean,
): ViolationDraft | null {
  const device = attachedMassStorageDevice(event);
  if (device === null) return null;
  if (device.serial !== '' && isRegistered(registerKey(device.vendorId, device.productId, device.serial))) return null;
  const reported: ViolationDevice = {
    vendorId: toUsbHex(device.vendorId),
    productId: toUsbHex(device.productId),
    serial: device.serial,
    manufacturer: device.manufacturer,
    product: device.product,
    interfaceClasses: [...device.interfaceClasses],
    busPath: device.busPath,
  };
  const name = [device.manufacturer, device.product].filter((part) => part !== '').join(' ') || 'USB mass-storage device';
  const serial = device.serial === '' ? 'no serial number' : `serial ${device.serial}`;
  const who = event.userName === '' ? 'with nobody logged in' : `by user ${event.userName}`;
  return {
    rule: USB_UNREGISTERED_DEVICE_RULE,
    severity: 'high',
    eventId: event.eventId,
    occurredAtMs: event.occurredAtMs,
    userName: event.userName,
    device: reported,
    summary: `Unregistered USB storage device ${name} (${reported.vendorId}:${reported.productId}, ${serial}) was attached on ${hostname || 'an unnamed host'} ${who}.`,
  };
}
