import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateUnregisteredDevice, registerKey, RuleEvent } from '../../../server/src/modules/violations/usb-unregistered-device.rules';

function attach(device: Partial<{ vendorId: number; productId: number; serial: string; interfaceClasses: number[] }>, userName = 'alice'): RuleEvent {
  return {
    eventId: '11111111-1111-4111-8111-111111111111',
    kind: 'usb_device_attached',
    occurredAtMs: Date.parse('2025-03-01T09:00:00Z'),
    userName,
    payload: {
      device: {
        vendorId: 0x0781,
        productId: 0x5567,
        serial: '4C530001',
        manufacturer: 'SanDisk',
        product: 'Cruzer Blade',
        interfaceClasses: [8],
        busPath: '1-2',
        descriptorHash: '',
        ...device,
      },
      presentAtStart: false,
    },
  };
}

const nothingRegistered = () => false;

test('an unregistered mass-storage stick is a high-severity violation with the device in hex', () => {
  const sut = evaluateUnregisteredDevice(attach({}), 'alice-pc', nothingRegistered);
  assert.ok(sut !== null);
  assert.equal(sut.rule, 'usb.unregistered_device');
  assert.equal(sut.severity, 'high');
  assert.deepEqual(sut.device, {
    vendorId: '0781',
    productId: '5567',
    serial: '4C530001',
    manufacturer: 'SanDisk',
    product: 'Cruzer Blade',
    interfaceClasses: [8],
    busPath: '1-2',
  });
  assert.equal(sut.summary, 'Unregistered USB storage device SanDisk Cruzer Blade (0781:5567, serial 4C530001) was attached on alice-pc by user alice.');
});

test('a registered stick is no violation', () => {
  const registered = new Set([registerKey(0x0781, 0x5567, '4C530001')]);
  assert.equal(evaluateUnregisteredDevice(attach({}), 'pc', (key) => registered.has(key)), null);
});

test('the serial is compared exactly, case included', () => {
  const registered = new Set([registerKey(0x0781, 0x5567, '4c530001')]);
  assert.notEqual(evaluateUnregisteredDevice(attach({}), 'pc', (key) => registered.has(key)), null);
});

test('an empty serial never matches the register', () => {
  const sut = evaluateUnregisteredDevice(attach({ serial: '' }), 'pc', () => true);
  assert.ok(sut !== null);
  assert.match(sut.summary, /no serial number/);
});

test('devices without a mass-storage interface and other event kinds are ignored', () => {
  assert.equal(evaluateUnregisteredDevice(attach({ interfaceClasses: [3, 9] }), 'pc', nothingRegistered), null);
  assert.equal(evaluateUnregisteredDevice({ ...attach({}), kind: 'usb_device_detached' }, 'pc', nothingRegistered), null);
});

test('a composite device with a mass-storage interface counts', () => {
  assert.notEqual(evaluateUnregisteredDevice(attach({ interfaceClasses: [3, 8] }), 'pc', nothingRegistered), null);
});
