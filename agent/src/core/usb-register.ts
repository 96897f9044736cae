import type { UsbDevice } from '../generated/mamori/v1/common';
import type { Policy, UsbRegisterEntry } from '../generated/mamori/v1/policy';
import type { PostureSummary } from '../generated/mamori/v1/telemetry';

const MASS_STORAGE = 8;

export function isMassStorage(device: UsbDevice): boolean {
  return device.interfaceClasses.includes(MASS_STORAGE);
}

/**
 * True when the register lists this exact stick: vendor id, product id and serial all equal
 * (serial compared exactly; a device without a serial never matches, since it cannot be told
 * apart from any other stick of its model). Same rule as the collector's usb.unregistered_device.
 */
export function isRegistered(device: UsbDevice, register: readonly UsbRegisterEntry[]): boolean {
  if (device.serial === '') return false;
  return register.some((e) => e.vendorId === device.vendorId && e.productId === device.productId && e.serial === device.serial);
}

/** The USB part of the posture summary from what is attached now and the policy's register. */
export function usbPosture(attached: readonly UsbDevice[], policy: Policy | null): Pick<PostureSummary, 'usbStorageDevicesAttached' | 'unregisteredUsbStorageDevices'> {
  const register = policy?.usb?.registeredDevices ?? [];
  const storage = attached.filter(isMassStorage);
  return {
    usbStorageDevicesAttached: storage.length,
    unregisteredUsbStorageDevices: storage.filter((d) => !isRegistered(d, register)).length,
  };
}
