import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isRegistered, usbPosture } from '../../../../agent/src/core/usb-register';
import { SerialQuality, type UsbDevice } from '../../../../agent/src/generated/mamori/v1/common';
import { UsbEnforcementMode, type Policy } from '../../../../agent/src/generated/mamori/v1/policy';

function device(overrides: Partial<UsbDevice>): UsbDevice {
  return { vendorId: 0x0781, productId: 0x5567, serial: '4C530001', manufacturer: 'SanDisk', product: 'Cruzer Blade', interfaceClasses: [8], busPath: '1-2', descriptorHash: '', serialQuality: SerialQuality.SERIAL_QUALITY_PRESENT, ...overrides };
}

const policy: Policy = {
  version: '3',
  lineageId: '',
  transfer: undefined,
  publishedAt: undefined,
  network: undefined,
  usb: {
    unregisteredDeviceMode: UsbEnforcementMode.USB_ENFORCEMENT_MODE_AUDIT,
    registeredDeviceMode: UsbEnforcementMode.USB_ENFORCEMENT_MODE_ALLOW,
    requireEncryptedMedia: false,
    unencryptedMediaMode: UsbEnforcementMode.USB_ENFORCEMENT_MODE_AUDIT,
    storageWithHidMode: UsbEnforcementMode.USB_ENFORCEMENT_MODE_AUDIT,
    exceptions: [],
    registeredDevices: [
      { entryId: 'e1', vendorId: 0x0781, productId: 0x5567, serial: '4C530001', label: 'Sales 1', holder: 'alice', anyVendor: false, anyProduct: false, descriptorHash: '', department: '' },
      { entryId: 'e2', vendorId: 0x0951, productId: 0x1666, serial: '', label: 'no serial', holder: 'bob', anyVendor: false, anyProduct: false, descriptorHash: '', department: '' },
    ],
  },
};
const register = policy.usb!.registeredDevices;

test('a stick matches the register only on vendor, product and exact serial', () => {
  assert.equal(isRegistered(device({}), register), true);
  assert.equal(isRegistered(device({ serial: '4c530001' }), register), false, 'serial is compared exactly');
  assert.equal(isRegistered(device({ productId: 0x5568 }), register), false);
  assert.equal(isRegistered(device({ vendorId: 0x0951, productId: 0x1666, serial: '' }), register), false, 'an empty serial never matches');
  assert.equal(isRegistered(device({}), []), false);
});

test('posture counts attached mass-storage devices and the unregistered ones among them', () => {
  const attached = [
    device({}),
    device({ serial: 'OTHER', busPath: '1-3' }),
    device({ interfaceClasses: [3], serial: 'KEYBOARD', busPath: '1-4' }),
    device({ interfaceClasses: [3, 8], serial: 'COMBO', busPath: '1-5' }),
  ];
  assert.deepEqual(usbPosture(attached, policy), { usbStorageDevicesAttached: 3, unregisteredUsbStorageDevices: 2 });
  assert.deepEqual(usbPosture(attached, null), { usbStorageDevicesAttached: 3, unregisteredUsbStorageDevices: 3 });
  assert.deepEqual(usbPosture([], policy), { usbStorageDevicesAttached: 0, unregisteredUsbStorageDevices: 0 });
});
