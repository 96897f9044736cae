import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuditOnlyUsbEnforcer } from '../../../../agent/src/enforce/audit-only-usb-enforcer';
import { mergeCapabilities, needsBlockAtBirth } from '../../../../agent/src/enforce/usb-enforcer';
import { createUsbEnforcer } from '../../../../agent/src/enforce/usb-enforcer-selector';
import { loadAgentConfig } from '../../../../agent/src/config/agent-config';
import { processCommandRunner } from '../../../../agent/src/facts/command-runner';
import { createLogger } from '../../../../agent/src/logging/logger';
import { evaluateUsbDevice } from '../../../../agent/src/core/usb-policy';
import { SerialQuality } from '../../../../agent/src/generated/mamori/v1/common';
import { UsbEnforcementAction } from '../../../../agent/src/generated/mamori/v1/events';
import { UsbEnforcementMode as M, type UsbPolicy } from '../../../../agent/src/generated/mamori/v1/policy';

const base: UsbPolicy = {
  unregisteredDeviceMode: M.USB_ENFORCEMENT_MODE_AUDIT,
  registeredDevices: [],
  registeredDeviceMode: M.USB_ENFORCEMENT_MODE_ALLOW,
  requireEncryptedMedia: false,
  unencryptedMediaMode: M.USB_ENFORCEMENT_MODE_BLOCK,
  storageWithHidMode: M.USB_ENFORCEMENT_MODE_AUDIT,
  exceptions: [],
};

test('block at birth is needed exactly when some rule can block or make read-only', () => {
  assert.equal(needsBlockAtBirth(undefined), false);
  assert.equal(needsBlockAtBirth(base), false, 'the unencrypted-media mode counts only when encryption is required');
  assert.equal(needsBlockAtBirth({ ...base, requireEncryptedMedia: true }), true);
  assert.equal(needsBlockAtBirth({ ...base, storageWithHidMode: M.USB_ENFORCEMENT_MODE_BLOCK }), true);
  assert.equal(needsBlockAtBirth({ ...base, registeredDeviceMode: M.USB_ENFORCEMENT_MODE_READ_ONLY }), true);
});

test('audit-only never acts and says why a stricter mode was not applied', async () => {
  const sut = new AuditOnlyUsbEnforcer('the "fake" USB backend observes no kernel devices');
  const device = { vendorId: 1, productId: 2, serial: 'S', manufacturer: '', product: '', interfaceClasses: [8], busPath: '1-1', descriptorHash: '', serialQuality: SerialQuality.SERIAL_QUALITY_PRESENT };
  const ctx = { agentId: 'a', userName: '', at: new Date() };
  const blocked = await sut.enforceDevice({ device, verdict: evaluateUsbDevice(device, { ...base, unregisteredDeviceMode: M.USB_ENFORCEMENT_MODE_BLOCK }, ctx), observedAt: new Date(), policyVersion: 3n });
  assert.equal(blocked.requestedMode, M.USB_ENFORCEMENT_MODE_BLOCK);
  assert.equal(blocked.appliedMode, M.USB_ENFORCEMENT_MODE_AUDIT);
  assert.equal(blocked.action, UsbEnforcementAction.USB_ENFORCEMENT_ACTION_NOT_POSSIBLE);
  assert.match(blocked.reason, /block requested but not possible: the "fake" USB backend/);
  const audited = await sut.enforceDevice({ device, verdict: evaluateUsbDevice(device, base, ctx), observedAt: new Date(), policyVersion: 3n });
  assert.equal(audited.appliedMode, M.USB_ENFORCEMENT_MODE_AUDIT);
  assert.equal(audited.action, UsbEnforcementAction.USB_ENFORCEMENT_ACTION_NONE);
  assert.deepEqual(sut.capabilities().map((c) => [c.name, c.available]), [['usb.block', false], ['usb.read_only', false]]);
});

test('capabilities: the enforcer speaks for enforcement, the source for detection', () => {
  const merged = mergeCapabilities(
    [{ name: 'usb.detect', available: true, reason: '' }, { name: 'usb.block', available: false, reason: 'source says no' }],
    [{ name: 'usb.block', available: true, reason: '' }, { name: 'usb.read_only', available: false, reason: 'not running as root' }],
  );
  assert.deepEqual(merged.map((c) => `${c.name}:${c.available}`), ['usb.detect:true', 'usb.block:true', 'usb.read_only:false']);
});

test('selection: the fake backend and other platforms get audit-only; forcing linux gets the kernel enforcer', () => {
  const input = { stateDir: '/tmp/x', runner: processCommandRunner, logger: createLogger('error') };
  assert.equal(createUsbEnforcer(loadAgentConfig({ MAMORI_AGENT_USB_BACKEND: 'fake', MAMORI_AGENT_FAKE_USB_SCRIPT: '/s' }), input).name, 'audit-only');
  assert.equal(createUsbEnforcer(loadAgentConfig({}), { ...input, platform: 'win32' }).name, 'audit-only');
  assert.equal(createUsbEnforcer(loadAgentConfig({ MAMORI_AGENT_USB_ENFORCEMENT: 'linux' }), input).name, 'linux');
  assert.equal(createUsbEnforcer(loadAgentConfig({}, 'linux'), { ...input, platform: 'linux' }).name, 'linux', 'auto: the kernel enforcer beside the Linux backend');
  const off = createUsbEnforcer(loadAgentConfig({ MAMORI_AGENT_USB_ENFORCEMENT: 'audit-only' }), input);
  assert.match(off.capabilities()[0]!.reason, /switched off/);
});
