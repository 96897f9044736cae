import type { UsbDevice } from '../generated/mamori/v1/common';
import type { Policy, UsbRegisterEntry } from '../generated/mamori/v1/policy';
import type { PostureSummary } from '../generated/mamori/v1/telemetry';
import { evaluateUsbDevice, isMassStorage, matchesRegisterEntry } from './usb-policy';

export { isMassStorage };

/** True when an entry of the register names this stick (see matchesRegisterEntry for the rules). */
export function isRegistered(device: UsbDevice, register: readonly UsbRegisterEntry[]): boolean {
  return register.some((entry) => matchesRegisterEntry(device, entry));
}

/**
 * The USB part of the posture summary from what is attached now: storage devices, and those
 * the policy treats as unregistered (no register entry and no exception for this agent now).
 */
export function usbPosture(
  attached: readonly UsbDevice[],
  policy: Policy | null,
  context: { agentId: string; userName: string; at: Date } = { agentId: '', userName: '', at: new Date() },
): Pick<PostureSummary, 'usbStorageDevicesAttached' | 'unregisteredUsbStorageDevices'> {
  const storage = attached.filter(isMassStorage);
  return {
    usbStorageDevicesAttached: storage.length,
    unregisteredUsbStorageDevices: storage.filter((device) => {
      const verdict = evaluateUsbDevice(device, policy?.usb, context);
      // A BadUSB combination is judged before the register; for the count, ask the register itself.
      if (verdict.basis === 'storage_with_hid') return !isRegistered(device, policy?.usb?.registeredDevices ?? []);
      return verdict.basis === 'unregistered';
    }).length,
  };
}
