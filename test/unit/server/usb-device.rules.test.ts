import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsbEnforcementMode } from '../../../server/src/generated/mamori/v1/policy';
import { policyDocumentFrom, type PolicyDocument, type PolicyRegisterEntry } from '../../../server/src/modules/policy/policy-document';
import { choosePolicyVersion, EvaluationException, evaluateUsbEvent, evaluatorPolicy, plugIdOf, RuleEvent } from '../../../server/src/modules/violations/usb-device.rules';

const AGENT = '33333333-3333-4333-8333-333333333333';
const AT = Date.parse('2025-03-01T09:00:00Z');
const HASH = 'a'.repeat(64);

function attach(device: Record<string, unknown> = {}, extra: Partial<RuleEvent> = {}, enforcement: Record<string, unknown> | null = null): RuleEvent {
  return {
    eventId: '11111111-1111-4111-8111-111111111111',
    kind: 'usb_device_attached',
    occurredAtMs: AT,
    userName: 'alice',
    payload: {
      device: {
        vendorId: 0x0781,
        productId: 0x5567,
        serial: '4C530001',
        manufacturer: 'SanDisk',
        product: 'Cruzer Blade',
        interfaceClasses: [8],
        busPath: '1-2',
        descriptorHash: HASH,
        serialQuality: 'SERIAL_QUALITY_PRESENT',
        ...device,
      },
      presentAtStart: false,
      enforcement,
    },
    ...extra,
  };
}

function volumes(blockDevices: Array<Record<string, unknown>>): RuleEvent {
  const event = attach();
  return { ...event, kind: 'usb_storage_volumes', payload: { device: event.payload.device, blockDevices, allDataVolumesEncrypted: false, enforcement: null } };
}

const disk = { deviceNode: '/dev/sdb', parentNode: '', filesystemType: '', encryption: null, mountPoints: [] };
const plainPartition = { deviceNode: '/dev/sdb1', parentNode: '/dev/sdb', filesystemType: 'vfat', encryption: { scheme: 'ENCRYPTION_SCHEME_NONE' }, mountPoints: ['/media/alice/STICK'] };
const luksPartition = { deviceNode: '/dev/sdb1', parentNode: '/dev/sdb', filesystemType: 'crypto_LUKS', encryption: { scheme: 'ENCRYPTION_SCHEME_LUKS2', protectionOn: true }, mountPoints: [] };

function entry(overrides: Partial<PolicyRegisterEntry> = {}): PolicyRegisterEntry {
  return {
    entryId: '44444444-4444-4444-8444-444444444444',
    vendorId: 0x0781,
    productId: 0x5567,
    anyVendor: false,
    anyProduct: false,
    serial: '4C530001',
    descriptorHash: '',
    label: 'Sales 12',
    holder: 'Hanako',
    department: 'Sales',
    ...overrides,
  };
}

function documentWith(registered: PolicyRegisterEntry[] = [], usb: Partial<PolicyDocument['usb']> = {}): PolicyDocument {
  const document = policyDocumentFrom({ usb: { registeredDevices: registered } });
  return { ...document, usb: { ...document.usb, ...usb } };
}

function exception(overrides: Partial<EvaluationException> = {}): EvaluationException {
  return {
    exceptionId: '55555555-5555-4555-8555-555555555555',
    vendorId: 0x0781,
    productId: 0x5567,
    serial: '4C530001',
    agentId: AGENT,
    userName: '',
    heldFromMs: AT - 3_600_000,
    heldUntilMs: AT + 3_600_000,
    approvedBy: 'Taro',
    mode: 'allow',
    ...overrides,
  };
}

function judge(event: RuleEvent, document = documentWith(), exceptions: EvaluationException[] = []) {
  return evaluateUsbEvent(event, { agentId: AGENT, hostname: 'alice-pc' }, evaluatorPolicy(document, exceptions));
}

const rules = (event: RuleEvent, document?: PolicyDocument, exceptions?: EvaluationException[]) => judge(event, document, exceptions).drafts.map((draft) => draft.rule);

test('an unregistered mass-storage stick is a high-severity violation with the device in hex and its serial quality', () => {
  const [sut, ...others] = judge(attach()).drafts;
  assert.equal(others.length, 0);
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
    serialQuality: 'present',
  });
  assert.equal(sut.enforcement, null);
  assert.equal(sut.summary, 'Unregistered USB storage device SanDisk Cruzer Blade (0781:5567, serial 4C530001) was attached on alice-pc by user alice.');
});

test('a registered stick is no violation; the serial is compared exactly, case included', () => {
  assert.deepEqual(rules(attach(), documentWith([entry()])), []);
  assert.deepEqual(rules(attach(), documentWith([entry({ serial: '4c530001' })])), ['usb.unregistered_device']);
});

test('an empty serial never matches the register, not even a wildcard entry', () => {
  const sut = judge(attach({ serial: '', serialQuality: 'SERIAL_QUALITY_EMPTY' }), documentWith([entry({ anyVendor: true, anyProduct: true, serial: '' })])).drafts;
  assert.deepEqual(sut.map((draft) => draft.rule), ['usb.unregistered_device']);
  assert.match(sut[0].summary, /no serial number/);
  assert.equal(sut[0].device.serialQuality, 'empty');
});

test('vendor:product wildcards match any product of the vendor (0781:*) or any device (*:*) with that serial', () => {
  const otherProduct = attach({ productId: 0x5581 });
  const otherVendor = attach({ vendorId: 0x090c, productId: 0x1000 });
  const vendorWide = documentWith([entry({ anyProduct: true, productId: 0 })]);
  assert.deepEqual(rules(otherProduct, vendorWide), []);
  assert.deepEqual(rules(otherVendor, vendorWide), ['usb.unregistered_device']);
  const anyDevice = documentWith([entry({ anyVendor: true, anyProduct: true, vendorId: 0, productId: 0 })]);
  assert.deepEqual(rules(otherVendor, anyDevice), []);
  assert.deepEqual(rules(attach({ serial: 'OTHER' }), anyDevice), ['usb.unregistered_device'], 'the serial is never wildcarded');
});

test('an entry with a descriptor hash matches only a device with the same descriptors', () => {
  assert.deepEqual(rules(attach(), documentWith([entry({ descriptorHash: HASH })])), []);
  assert.deepEqual(rules(attach({ descriptorHash: 'b'.repeat(64) }), documentWith([entry({ descriptorHash: HASH })])), ['usb.unregistered_device']);
  assert.deepEqual(rules(attach({ descriptorHash: '' }), documentWith([entry({ descriptorHash: HASH })])), ['usb.unregistered_device']);
});

test('unregistered in allow mode raises nothing', () => {
  assert.deepEqual(rules(attach(), documentWith([], { unregisteredDeviceMode: UsbEnforcementMode.USB_ENFORCEMENT_MODE_ALLOW })), []);
});

test('devices without a mass-storage interface and other event kinds are ignored', () => {
  assert.deepEqual(rules(attach({ interfaceClasses: [3, 9] })), []);
  assert.deepEqual(rules({ ...attach(), kind: 'usb_device_detached' }), []);
});

test('mass storage together with a HID interface is usb.storage_with_hid (critical), even for a registered stick', () => {
  const composite = attach({ interfaceClasses: [8, 3] });
  const [sut] = judge(composite, documentWith([entry()])).drafts;
  assert.equal(sut.rule, 'usb.storage_with_hid');
  assert.equal(sut.severity, 'critical');
  assert.match(sut.summary, /BadUSB/);
  assert.deepEqual(rules(composite, documentWith([entry()], { storageWithHidMode: UsbEnforcementMode.USB_ENFORCEMENT_MODE_ALLOW })), []);
});

test('an exception for this device, agent and user holds inside its window and names itself; outside it the device is unregistered', () => {
  const inside = judge(attach(), documentWith(), [exception()]);
  assert.deepEqual(inside.drafts, []);
  assert.equal(inside.exceptionId, '55555555-5555-4555-8555-555555555555');
  const after = judge(attach({}, { occurredAtMs: AT + 3_600_000 }), documentWith(), [exception()]);
  assert.deepEqual(after.drafts.map((draft) => draft.rule), ['usb.unregistered_device'], 'the end is exclusive');
  assert.equal(after.exceptionId, null);
  assert.deepEqual(rules(attach({}, { occurredAtMs: AT - 3_600_001 }), documentWith(), [exception()]), ['usb.unregistered_device']);
  assert.deepEqual(rules(attach(), documentWith(), [exception({ agentId: '66666666-6666-4666-8666-666666666666' })]), ['usb.unregistered_device']);
  assert.deepEqual(rules(attach(), documentWith(), [exception({ userName: 'bob' })]), ['usb.unregistered_device']);
  assert.deepEqual(rules(attach(), documentWith(), [exception({ userName: 'alice' })]), []);
  assert.deepEqual(rules(attach({ serial: '4C530002' }), documentWith(), [exception()]), ['usb.unregistered_device']);
});

test('the enforcement the agent reported travels with the violation, in REST words', () => {
  const [sut] = judge(
    attach({}, {}, {
      requestedMode: 'USB_ENFORCEMENT_MODE_BLOCK',
      appliedMode: 'USB_ENFORCEMENT_MODE_AUDIT',
      action: 'USB_ENFORCEMENT_ACTION_NOT_POSSIBLE',
      reason: 'no privileges to write authorized',
      registerEntryId: '',
      exceptionId: '',
      latencyMicros: '1200',
      policyVersion: '4',
    }),
  ).drafts;
  assert.deepEqual(sut.enforcement, {
    requestedMode: 'block',
    appliedMode: 'audit',
    action: 'not_possible',
    reason: 'no privileges to write authorized',
    registerEntryId: null,
    exceptionId: null,
    policyVersion: '4',
    latencyMicros: '1200',
    policyLineageId: '',
  });
});

test('usb.unencrypted_media comes from the storage volumes, only when encrypted media is required', () => {
  const required = { requireEncryptedMedia: true };
  assert.deepEqual(rules(volumes([disk, plainPartition]), documentWith([entry()])), [], 'not required: nothing');
  const [sut, ...others] = judge(volumes([disk, plainPartition]), documentWith([entry()], required)).drafts;
  assert.equal(others.length, 0, 'the volumes event does not repeat the device rules');
  assert.equal(sut.rule, 'usb.unencrypted_media');
  assert.equal(sut.severity, 'high');
  assert.match(sut.summary, /unencrypted data volume \/dev\/sdb1/);
  assert.deepEqual(rules(volumes([disk, luksPartition]), documentWith([entry()], required)), [], 'a LUKS volume is encrypted');
  assert.deepEqual(rules(volumes([disk, plainPartition]), documentWith([], { ...required, unregisteredDeviceMode: UsbEnforcementMode.USB_ENFORCEMENT_MODE_BLOCK })), [], 'a blocked device holds no data to protect');
  assert.deepEqual(rules(volumes([disk, plainPartition]), documentWith([], required)), ['usb.unencrypted_media'], 'unregistered and unencrypted: the attach raised the first, this the second');
});

test('the policy that judges an event is the one the agent decided under, when this collector published it', () => {
  const lineage = '3c1b7a0e-0d57-4b7e-9a51-7c2e8f3d9b40';
  const published = (version: number) => version >= 1 && version <= 5;
  assert.deepEqual(choosePolicyVersion({ version: '3', lineageId: lineage }, lineage, published), { version: 3, note: '' });
  assert.deepEqual(choosePolicyVersion({ version: '3', lineageId: '' }, lineage, published), { version: 3, note: '' }, 'agents that report no lineage are taken as this one');
  assert.equal(choosePolicyVersion({ version: '0', lineageId: lineage }, lineage, published).version, null);
  assert.match(choosePolicyVersion({ version: '0', lineageId: '' }, lineage, published).note, /named no policy version/);
  const foreign = choosePolicyVersion({ version: '3', lineageId: '99999999-9999-4999-8999-999999999999' }, lineage, published);
  assert.equal(foreign.version, null);
  assert.match(foreign.note, /version 3 of another policy lineage \(99999999-/);
  assert.match(choosePolicyVersion({ version: '7', lineageId: lineage }, lineage, published).note, /version 7, which this collector never published/);
});

test('a re-evaluation belongs to the plug it names and raises every rule the device breaks under the new version', () => {
  const plug = '77777777-7777-4777-8777-777777777777';
  const base = attach();
  const plain = [
    { deviceNode: '/dev/sdb', parentNode: '', filesystemType: '' },
    { deviceNode: '/dev/sdb1', parentNode: '/dev/sdb', filesystemType: 'vfat', encryption: { scheme: 'ENCRYPTION_SCHEME_NONE', protectionOn: false } },
  ];
  const reevaluated: RuleEvent = {
    ...base,
    eventId: '88888888-8888-4888-8888-888888888888',
    kind: 'usb_device_reevaluated',
    payload: { device: base.payload.device, attachedEventId: plug, blockDevices: plain, enforcement: null },
  };
  const judgedUnder = { policyVersion: 6, source: 'decision' as const, note: '' };
  const usb = evaluatorPolicy({ usb: { ...policyDocumentFrom(null).usb, requireEncryptedMedia: true } }, []);
  const { drafts } = evaluateUsbEvent(reevaluated, { agentId: AGENT, hostname: 'pc-1' }, usb, judgedUnder);
  assert.deepEqual(drafts.map((d) => d.rule).sort(), ['usb.unencrypted_media', 'usb.unregistered_device']);
  for (const draft of drafts) {
    assert.equal(draft.plugId, plug);
    assert.equal(draft.eventId, reevaluated.eventId);
    assert.deepEqual(draft.judgedUnder, judgedUnder);
    assert.match(draft.summary, /still attached when policy version 6 took effect\.$/);
  }
  assert.equal(plugIdOf(attach()), attach().eventId, 'an attach is its own plug');
  assert.equal(plugIdOf({ ...reevaluated, payload: { ...reevaluated.payload, attachedEventId: '' } }), reevaluated.eventId, 'an older agent names no plug: the event stands alone');
});
