import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SerialQuality, type UsbDevice } from '../../../../agent/src/generated/mamori/v1/common';
import { EncryptionScheme, type BlockDevice } from '../../../../agent/src/generated/mamori/v1/events';
import { UsbEnforcementMode as Mode, type UsbException, type UsbPolicy, type UsbRegisterEntry } from '../../../../agent/src/generated/mamori/v1/policy';
import { allDataVolumesEncrypted, evaluateUsbDevice, evaluateUsbStorage, matchesRegisterEntry, stricterMode } from '../../../../agent/src/core/usb-policy';

const AGENT = '6a85ddb9-fa8e-4704-812d-5be11a3ed11a';
const NOON = new Date('2026-11-27T12:00:00Z');
const context = { agentId: AGENT, userName: 'hanako', at: NOON };

function stick(overrides: Partial<UsbDevice> = {}): UsbDevice {
  return {
    vendorId: 0x0781, productId: 0x5567, serial: '4C530001231120115142', manufacturer: 'SanDisk', product: 'Cruzer Blade',
    interfaceClasses: [8], busPath: '1-2', descriptorHash: 'a'.repeat(64), serialQuality: SerialQuality.SERIAL_QUALITY_PRESENT, ...overrides,
  };
}

function entry(overrides: Partial<UsbRegisterEntry> = {}): UsbRegisterEntry {
  return {
    entryId: 'e1', vendorId: 0x0781, productId: 0x5567, serial: '4C530001231120115142', label: 'Sales 12', holder: 'Hanako Yamada',
    anyVendor: false, anyProduct: false, descriptorHash: '', department: 'Sales', ...overrides,
  };
}

function exception(overrides: Partial<UsbException> = {}): UsbException {
  return {
    exceptionId: 'x1', vendorId: 0x090c, productId: 0x1000, serial: 'TRIP-STICK-1', agentId: AGENT, userName: '',
    notBefore: ts('2026-11-27T09:00:00Z'), notAfter: ts('2026-11-28T09:00:00Z'), justification: 'customer visit', approvedBy: 'boss',
    mode: Mode.USB_ENFORCEMENT_MODE_ALLOW, ...overrides,
  };
}

function policy(overrides: Partial<UsbPolicy> = {}): UsbPolicy {
  return {
    unregisteredDeviceMode: Mode.USB_ENFORCEMENT_MODE_BLOCK, registeredDevices: [entry()], registeredDeviceMode: Mode.USB_ENFORCEMENT_MODE_ALLOW,
    requireEncryptedMedia: false, unencryptedMediaMode: Mode.USB_ENFORCEMENT_MODE_READ_ONLY, storageWithHidMode: Mode.USB_ENFORCEMENT_MODE_BLOCK,
    exceptions: [exception()], ...overrides,
  };
}

function ts(iso: string) {
  const ms = Date.parse(iso);
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 };
}

function volume(overrides: Partial<BlockDevice>): BlockDevice {
  return {
    deviceNode: '/dev/sdb', parentNode: '', sizeBytes: '16008609792', filesystemType: '', label: '', mountPoints: [],
    encryption: { scheme: EncryptionScheme.ENCRYPTION_SCHEME_NONE, fullyEncrypted: false, percentEncrypted: 0, protectionOn: false },
    readOnly: false, ...overrides,
  };
}
const LUKS = { scheme: EncryptionScheme.ENCRYPTION_SCHEME_LUKS2, fullyEncrypted: true, percentEncrypted: 100, protectionOn: true };

describe('evaluateUsbDevice', () => {
  test('a keyboard or hub is allowed without looking at the register', () => {
    const verdict = evaluateUsbDevice(stick({ interfaceClasses: [3], serial: '' }), policy(), context);
    assert.equal(verdict.basis, 'not_storage');
    assert.equal(verdict.mode, Mode.USB_ENFORCEMENT_MODE_ALLOW);
    assert.deepEqual(verdict.violations, []);
  });

  test('a registered stick gets the registered mode and no violation, naming its entry', () => {
    const verdict = evaluateUsbDevice(stick(), policy({ registeredDeviceMode: Mode.USB_ENFORCEMENT_MODE_READ_ONLY }), context);
    assert.equal(verdict.basis, 'registered');
    assert.equal(verdict.mode, Mode.USB_ENFORCEMENT_MODE_READ_ONLY);
    assert.equal(verdict.registerEntryId, 'e1');
    assert.deepEqual(verdict.violations, []);
  });

  test('another stick of the same model (other serial) is unregistered and gets the unregistered mode', () => {
    const verdict = evaluateUsbDevice(stick({ serial: '4C530001999999999999' }), policy(), context);
    assert.equal(verdict.basis, 'unregistered');
    assert.equal(verdict.mode, Mode.USB_ENFORCEMENT_MODE_BLOCK);
    assert.deepEqual(verdict.violations, ['usb.unregistered_device']);
  });

  test('mass storage with a HID interface is its own violation, even when registered', () => {
    const verdict = evaluateUsbDevice(stick({ interfaceClasses: [8, 3] }), policy(), context);
    assert.equal(verdict.basis, 'storage_with_hid');
    assert.equal(verdict.mode, Mode.USB_ENFORCEMENT_MODE_BLOCK);
    assert.deepEqual(verdict.violations, ['usb.storage_with_hid']);
  });

  test('unset modes keep the foundation behaviour: unregistered is audited, registered allowed', () => {
    const bare: UsbPolicy = { ...policy(), unregisteredDeviceMode: Mode.USB_ENFORCEMENT_MODE_UNSPECIFIED, registeredDeviceMode: Mode.USB_ENFORCEMENT_MODE_UNSPECIFIED };
    assert.equal(evaluateUsbDevice(stick({ serial: 'OTHER' }), bare, context).mode, Mode.USB_ENFORCEMENT_MODE_AUDIT);
    assert.equal(evaluateUsbDevice(stick(), bare, context).mode, Mode.USB_ENFORCEMENT_MODE_ALLOW);
    assert.equal(evaluateUsbDevice(stick({ serial: 'OTHER' }), undefined, context).mode, Mode.USB_ENFORCEMENT_MODE_AUDIT);
  });

  test('an unregistered stick under an allow mode raises no violation', () => {
    const verdict = evaluateUsbDevice(stick({ serial: 'OTHER' }), policy({ unregisteredDeviceMode: Mode.USB_ENFORCEMENT_MODE_ALLOW }), context);
    assert.deepEqual(verdict.violations, []);
  });

  describe('time-boxed exceptions', () => {
    const tripStick = stick({ vendorId: 0x090c, productId: 0x1000, serial: 'TRIP-STICK-1' });

    test('inside its window, on its agent, the exception decides and is named', () => {
      const verdict = evaluateUsbDevice(tripStick, policy(), context);
      assert.equal(verdict.basis, 'exception');
      assert.equal(verdict.exceptionId, 'x1');
      assert.equal(verdict.mode, Mode.USB_ENFORCEMENT_MODE_ALLOW);
      assert.deepEqual(verdict.violations, []);
    });

    test('before it starts, once it ended, or on another agent, the stick is unregistered again', () => {
      for (const ctx of [
        { ...context, at: new Date('2026-11-27T08:59:59Z') },
        { ...context, at: new Date('2026-11-28T09:00:00Z') },
        { ...context, agentId: '00000000-0000-4000-8000-000000000000' },
      ]) {
        assert.equal(evaluateUsbDevice(tripStick, policy(), ctx).basis, 'unregistered', JSON.stringify(ctx));
      }
    });

    test('an exception for a named user does not cover another user; one without an end never applies', () => {
      assert.equal(evaluateUsbDevice(tripStick, policy({ exceptions: [exception({ userName: 'taro' })] }), context).basis, 'unregistered');
      assert.equal(evaluateUsbDevice(tripStick, policy({ exceptions: [exception({ userName: 'hanako' })] }), context).basis, 'exception');
      assert.equal(evaluateUsbDevice(tripStick, policy({ exceptions: [exception({ notAfter: undefined })] }), context).basis, 'unregistered');
    });

    test('a read-only exception lets the stick be read only', () => {
      const verdict = evaluateUsbDevice(tripStick, policy({ exceptions: [exception({ mode: Mode.USB_ENFORCEMENT_MODE_READ_ONLY })] }), context);
      assert.equal(verdict.mode, Mode.USB_ENFORCEMENT_MODE_READ_ONLY);
    });
  });
});

describe('matchesRegisterEntry (USBGuard-style: every named attribute must match)', () => {
  test('vendor:product may be wildcarded, the serial never', () => {
    assert.ok(matchesRegisterEntry(stick({ productId: 0x1234 }), entry({ anyProduct: true })));
    assert.ok(matchesRegisterEntry(stick({ vendorId: 0x0951, productId: 0x1666 }), entry({ anyVendor: true, anyProduct: true })));
    assert.ok(!matchesRegisterEntry(stick({ productId: 0x1234 }), entry()));
    assert.ok(!matchesRegisterEntry(stick({ serial: '4C530001231120115143' }), entry({ anyVendor: true, anyProduct: true })));
  });

  test('the serial is compared exactly, case included; a device without a serial never matches', () => {
    assert.ok(!matchesRegisterEntry(stick({ serial: '4c530001231120115142' }), entry()));
    assert.ok(!matchesRegisterEntry(stick({ serial: '' }), entry({ serial: '' })));
    assert.ok(!matchesRegisterEntry(stick({ serial: '   ' }), entry({ serial: '   ' })));
  });

  test('a descriptor hash in the entry must match too; without one any descriptors do', () => {
    assert.ok(matchesRegisterEntry(stick(), entry({ descriptorHash: 'a'.repeat(64) })));
    assert.ok(!matchesRegisterEntry(stick(), entry({ descriptorHash: 'b'.repeat(64) })));
    assert.ok(matchesRegisterEntry(stick({ descriptorHash: '' }), entry()));
  });
});

describe('evaluateUsbStorage (encrypted-only)', () => {
  const registered = evaluateUsbDevice(stick(), policy({ requireEncryptedMedia: true }), context);
  const partitioned = [volume({}), volume({ deviceNode: '/dev/sdb1', parentNode: '/dev/sdb', filesystemType: 'vfat' })];

  test('a plain partition under encrypted-only is usb.unencrypted_media and gets the stricter mode', () => {
    const verdict = evaluateUsbStorage(registered, partitioned, policy({ requireEncryptedMedia: true }));
    assert.deepEqual(verdict.violations, ['usb.unencrypted_media']);
    assert.equal(verdict.mode, Mode.USB_ENFORCEMENT_MODE_READ_ONLY);
    assert.match(verdict.reason, /\/dev\/sdb1 is not encrypted/);
  });

  test('a LUKS partition satisfies it; the partitioned whole disk is not a data volume of its own', () => {
    const encrypted = [volume({}), volume({ deviceNode: '/dev/sdb1', parentNode: '/dev/sdb', filesystemType: 'crypto_LUKS', encryption: LUKS })];
    assert.ok(allDataVolumesEncrypted(encrypted));
    assert.deepEqual(evaluateUsbStorage(registered, encrypted, policy({ requireEncryptedMedia: true })).violations, []);
  });

  test('a whole-disk BitLocker stick without partitions satisfies it, unless its protection is suspended', () => {
    const bitlocker = [volume({ filesystemType: 'BitLocker', encryption: { ...LUKS, scheme: EncryptionScheme.ENCRYPTION_SCHEME_BITLOCKER } })];
    assert.ok(allDataVolumesEncrypted(bitlocker));
    const suspended = [volume({ filesystemType: 'BitLocker', encryption: { ...LUKS, scheme: EncryptionScheme.ENCRYPTION_SCHEME_BITLOCKER, protectionOn: false } })];
    assert.ok(!allDataVolumesEncrypted(suspended), 'a clear key opens it without a password');
  });

  test('nothing is required without the rule, and a blocked device stays blocked without a second violation', () => {
    assert.deepEqual(evaluateUsbStorage(registered, partitioned, policy()).violations, []);
    const blocked = evaluateUsbDevice(stick({ serial: 'OTHER' }), policy({ requireEncryptedMedia: true }), context);
    assert.deepEqual(evaluateUsbStorage(blocked, partitioned, policy({ requireEncryptedMedia: true })).violations, ['usb.unregistered_device']);
  });

  test('a stick with no readable data volume cannot prove encryption', () => {
    const verdict = evaluateUsbStorage(registered, [volume({})], policy({ requireEncryptedMedia: true }));
    assert.deepEqual(verdict.violations, ['usb.unencrypted_media']);
    assert.match(verdict.reason, /no encrypted data volume/);
  });
});

test('stricterMode orders allow < audit < read-only < block', () => {
  assert.equal(stricterMode(Mode.USB_ENFORCEMENT_MODE_ALLOW, Mode.USB_ENFORCEMENT_MODE_AUDIT), Mode.USB_ENFORCEMENT_MODE_AUDIT);
  assert.equal(stricterMode(Mode.USB_ENFORCEMENT_MODE_BLOCK, Mode.USB_ENFORCEMENT_MODE_READ_ONLY), Mode.USB_ENFORCEMENT_MODE_BLOCK);
  assert.equal(stricterMode(Mode.USB_ENFORCEMENT_MODE_READ_ONLY, Mode.USB_ENFORCEMENT_MODE_AUDIT), Mode.USB_ENFORCEMENT_MODE_READ_ONLY);
});
