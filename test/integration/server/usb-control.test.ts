import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { SerialQuality } from '../../../agent/src/generated/mamori/v1/common';
import { EncryptionScheme, Event, UsbEnforcementAction } from '../../../agent/src/generated/mamori/v1/events';
import { UsbEnforcementMode } from '../../../agent/src/generated/mamori/v1/policy';
import type { UploadEventsResponse } from '../../../agent/src/generated/mamori/v1/telemetry';
import { DATABASE_KINDS } from '../../support/databases';
import { collect, EnrolledAgent, enrollAgent, policyClient, startTestCollector, telemetryClient, TestCollector, unary } from './collector-harness';
import type { TestContext } from 'node:test';

const HASH_A = 'a1'.repeat(32);
const HASH_B = 'b2'.repeat(32);

interface DeviceSpec {
  vendorId?: number;
  productId?: number;
  serial?: string;
  interfaceClasses?: number[];
  descriptorHash?: string;
}

let sequence = 1;

function stamp(at: Date) {
  return { seconds: String(Math.floor(at.getTime() / 1000)), nanos: (at.getTime() % 1000) * 1_000_000 };
}

function device(spec: DeviceSpec) {
  return {
    vendorId: spec.vendorId ?? 0x0781,
    productId: spec.productId ?? 0x5567,
    serial: spec.serial ?? 'S-0001',
    manufacturer: 'SanDisk',
    product: 'Cruzer Blade',
    interfaceClasses: spec.interfaceClasses ?? [8],
    busPath: '1-2',
    descriptorHash: spec.descriptorHash ?? HASH_A,
    serialQuality: SerialQuality.SERIAL_QUALITY_PRESENT,
  };
}

/** A UsbDeviceAttached as the agent sends it, with the enforcement it applied under `policyVersion`. */
function attached(spec: DeviceSpec, at = new Date(), exceptionId = '', policyVersion = '1'): Event {
  return Event.fromPartial({
    eventId: randomUUID(),
    occurredAt: stamp(at),
    sequence: String(sequence++),
    userName: 'alice',
    usbDeviceAttached: {
      device: device(spec),
      enforcement: {
        requestedMode: UsbEnforcementMode.USB_ENFORCEMENT_MODE_ALLOW,
        appliedMode: UsbEnforcementMode.USB_ENFORCEMENT_MODE_ALLOW,
        action: UsbEnforcementAction.USB_ENFORCEMENT_ACTION_NONE,
        reason: exceptionId === '' ? 'test' : `exception ${exceptionId}`,
        exceptionId,
        policyVersion,
      },
    },
  });
}

/** What the agent reports on storage: the plug it belongs to and the policy it decided under. */
interface DecisionSpec {
  policyVersion?: string;
  policyLineageId?: string;
  attachedEventId?: string;
}

/** The whole disk and one partition, plain vfat or LUKS. */
function blockDevicesOf(encrypted: boolean) {
  return [
    { deviceNode: '/dev/sdb', parentNode: '', sizeBytes: '16008609792' },
    {
      deviceNode: '/dev/sdb1',
      parentNode: '/dev/sdb',
      sizeBytes: '16007561216',
      filesystemType: encrypted ? 'crypto_LUKS' : 'vfat',
      encryption: { scheme: encrypted ? EncryptionScheme.ENCRYPTION_SCHEME_LUKS2 : EncryptionScheme.ENCRYPTION_SCHEME_NONE, fullyEncrypted: encrypted, protectionOn: encrypted },
    },
  ];
}

/** A UsbStorageVolumes event: one disk with one partition, plain vfat or LUKS. */
function storageVolumes(spec: DeviceSpec, encrypted: boolean, decided: DecisionSpec = {}, at = new Date()): Event {
  return Event.fromPartial({
    eventId: randomUUID(),
    occurredAt: stamp(at),
    sequence: String(sequence++),
    userName: 'alice',
    usbStorageVolumes: {
      device: device(spec),
      attachedEventId: decided.attachedEventId ?? '',
      blockDevices: [
        { deviceNode: '/dev/sdb', parentNode: '', sizeBytes: '16008609792' },
        {
          deviceNode: '/dev/sdb1',
          parentNode: '/dev/sdb',
          sizeBytes: '16007561216',
          filesystemType: encrypted ? 'crypto_LUKS' : 'vfat',
          encryption: { scheme: encrypted ? EncryptionScheme.ENCRYPTION_SCHEME_LUKS2 : EncryptionScheme.ENCRYPTION_SCHEME_NONE, fullyEncrypted: encrypted, protectionOn: encrypted },
        },
      ],
      allDataVolumesEncrypted: encrypted,
      enforcement: {
        requestedMode: UsbEnforcementMode.USB_ENFORCEMENT_MODE_ALLOW,
        appliedMode: UsbEnforcementMode.USB_ENFORCEMENT_MODE_ALLOW,
        action: UsbEnforcementAction.USB_ENFORCEMENT_ACTION_NONE,
        policyVersion: decided.policyVersion ?? '0',
        policyLineageId: decided.policyLineageId ?? '',
      },
    },
  });
}

/** A UsbDeviceReevaluated as the agent sends it when a policy change altered its decision for an attached device. */
function reevaluated(spec: DeviceSpec, plug: Event, policyVersion: string, mode: UsbEnforcementMode, previous: UsbEnforcementMode, encrypted: boolean | null = null): Event {
  return Event.fromPartial({
    eventId: randomUUID(),
    occurredAt: stamp(new Date()),
    sequence: String(sequence++),
    userName: 'alice',
    usbDeviceReevaluated: {
      device: device(spec),
      enforcement: {
        requestedMode: mode,
        appliedMode: mode,
        action: mode === UsbEnforcementMode.USB_ENFORCEMENT_MODE_BLOCK ? UsbEnforcementAction.USB_ENFORCEMENT_ACTION_DEAUTHORIZED : UsbEnforcementAction.USB_ENFORCEMENT_ACTION_NONE,
        reason: `re-evaluated under policy version ${policyVersion}`,
        policyVersion,
      },
      previousAppliedMode: previous,
      attachedEventId: plug.eventId,
      blockDevices: encrypted === null ? [] : blockDevicesOf(encrypted),
      allDataVolumesEncrypted: encrypted === true,
    },
  });
}

async function currentVersion(sut: TestCollector): Promise<string> {
  return String((await sut.rest('GET', '/api/v1/policy')).body.version);
}

async function violationsOfPlug(sut: TestCollector, plug: Event): Promise<Array<Record<string, any>>> {
  const all = (await sut.rest('GET', '/api/v1/violations?limit=500')).body.items as Array<Record<string, any>>;
  return all.filter((violation) => violation.plugId === plug.eventId);
}

async function upload(t: TestContext, sut: TestCollector, agent: EnrolledAgent, events: Event[]): Promise<UploadEventsResponse> {
  return unary<UploadEventsResponse>((cb) => telemetryClient(t, sut, agent.credentials).uploadEvents({ batchId: randomUUID(), events }, cb));
}

async function violationsOf(sut: TestCollector, event: Event): Promise<Array<Record<string, any>>> {
  const all = (await sut.rest('GET', '/api/v1/violations?limit=500')).body.items as Array<Record<string, any>>;
  return all.filter((violation) => violation.eventId === event.eventId);
}

async function rulesOf(sut: TestCollector, event: Event): Promise<string[]> {
  return (await violationsOf(sut, event)).map((violation) => violation.rule).sort();
}

const stick = (overrides: Record<string, unknown> = {}) => ({ vendorId: '0781', productId: '5567', serial: 'S-0001', label: 'Sales 12', holder: 'Hanako', department: 'Sales', ...overrides });

for (const kind of DATABASE_KINDS) {
  describe(`USB device control on ${kind}`, () => {
    test('a fresh database keeps the issue 2 defaults, and a mode change publishes a version that WatchPolicy pushes', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const settings = await sut.rest('GET', '/api/v1/policy/usb');
      assert.equal(settings.status, 200);
      assert.deepEqual(
        { ...settings.body, updatedAt: undefined },
        { unregisteredDeviceMode: 'audit', registeredDeviceMode: 'allow', requireEncryptedMedia: false, unencryptedMediaMode: 'audit', storageWithHidMode: 'audit', updatedAt: undefined, policyVersion: 1 },
      );
      const agent = await enrollAgent(t, sut);
      const stream = policyClient(t, sut, agent.credentials).watchPolicy({ knownVersion: '0', knownLineageId: '' });
      t.after(() => stream.cancel());
      const received = collect(stream);
      const first = (await received.next()).policy;
      assert.equal(first?.version, '1');
      assert.equal(first?.usb?.unregisteredDeviceMode, UsbEnforcementMode.USB_ENFORCEMENT_MODE_AUDIT);
      assert.equal(first?.usb?.registeredDeviceMode, UsbEnforcementMode.USB_ENFORCEMENT_MODE_ALLOW);
      assert.equal(first?.usb?.storageWithHidMode, UsbEnforcementMode.USB_ENFORCEMENT_MODE_AUDIT);
      assert.equal(first?.usb?.requireEncryptedMedia, false);

      const changed = await sut.rest('PUT', '/api/v1/policy/usb', { unregisteredDeviceMode: 'block', registeredDeviceMode: 'read_only' });
      assert.equal(changed.status, 200, JSON.stringify(changed.body));
      assert.equal(changed.body.policyVersion, 2);
      assert.equal(changed.body.unregisteredDeviceMode, 'block');
      assert.equal(changed.body.storageWithHidMode, 'audit', 'fields left out keep their value');
      const pushed = (await received.next()).policy;
      assert.equal(pushed?.version, '2');
      assert.equal(pushed?.usb?.unregisteredDeviceMode, UsbEnforcementMode.USB_ENFORCEMENT_MODE_BLOCK);
      assert.equal(pushed?.usb?.registeredDeviceMode, UsbEnforcementMode.USB_ENFORCEMENT_MODE_READ_ONLY);

      const encrypted = await sut.rest('PUT', '/api/v1/policy/usb', { requireEncryptedMedia: true, unencryptedMediaMode: 'read_only', storageWithHidMode: 'block' });
      assert.equal(encrypted.body.policyVersion, 3);
      const third = (await received.next()).policy;
      assert.equal(third?.usb?.requireEncryptedMedia, true);
      assert.equal(third?.usb?.unencryptedMediaMode, UsbEnforcementMode.USB_ENFORCEMENT_MODE_READ_ONLY);
      assert.equal(third?.usb?.storageWithHidMode, UsbEnforcementMode.USB_ENFORCEMENT_MODE_BLOCK);
      assert.equal(third?.usb?.unregisteredDeviceMode, UsbEnforcementMode.USB_ENFORCEMENT_MODE_BLOCK, 'earlier changes stay');
      const shown = (await sut.rest('GET', '/api/v1/policy')).body;
      assert.equal(shown.version, 3);
      assert.deepEqual(
        [shown.usb.unregisteredDeviceMode, shown.usb.registeredDeviceMode, shown.usb.requireEncryptedMedia, shown.usb.unencryptedMediaMode, shown.usb.storageWithHidMode],
        ['block', 'read_only', true, 'read_only', 'block'],
      );
    });

    test('bad USB policy values are a 400 naming the field, and change nothing', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      for (const [body, field] of [
        [{ unregisteredDeviceMode: 'deny' }, 'unregisteredDeviceMode'],
        [{ registeredDeviceMode: 'AUDIT' }, 'registeredDeviceMode'],
        [{ unencryptedMediaMode: 3 }, 'unencryptedMediaMode'],
        [{ storageWithHidMode: '' }, 'storageWithHidMode'],
        [{ requireEncryptedMedia: 'yes' }, 'requireEncryptedMedia'],
        [{ unregisteredDeviceMode: 'audit', allowEverything: true }, 'allowEverything'],
      ] as const) {
        const answer: { status: number; body: { message: string } } = await sut.rest('PUT', '/api/v1/policy/usb', body);
        assert.equal(answer.status, 400, JSON.stringify(body));
        assert.match(answer.body.message, new RegExp(field), JSON.stringify(answer.body));
      }
      const empty = await sut.rest('PUT', '/api/v1/policy/usb', {});
      assert.equal(empty.status, 400);
      assert.match(empty.body.message, /at least one of/);
      assert.equal((await sut.rest('GET', '/api/v1/policy')).body.version, 1);
    });

    test('register entries match with vendor:product wildcards and, when given, the descriptor hash', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const vendorWide = await sut.rest('POST', '/api/v1/usb-register', stick({ productId: '*', serial: 'VENDOR-WIDE' }));
      assert.equal(vendorWide.status, 201, JSON.stringify(vendorWide.body));
      assert.equal(vendorWide.body.productId, '*');
      assert.equal(vendorWide.body.department, 'Sales');
      assert.equal((await sut.rest('POST', '/api/v1/usb-register', stick({ vendorId: '*', productId: '*', serial: 'ANY-DEVICE' }))).status, 201);
      const pinned = await sut.rest('POST', '/api/v1/usb-register', stick({ serial: 'PINNED', descriptorHash: HASH_A.toUpperCase() }));
      assert.equal(pinned.body.descriptorHash, HASH_A, 'stored lower-case');
      assert.equal((await sut.rest('POST', '/api/v1/usb-register', stick({ productId: '*', serial: 'VENDOR-WIDE', label: 'again' }))).status, 409);
      assert.equal((await sut.rest('POST', '/api/v1/usb-register', stick({ serial: 'VENDOR-WIDE' }))).status, 201, 'an exact entry is not a duplicate of a wildcard one');

      for (const [body, field] of [
        [stick({ vendorId: '*', productId: '5567' }), 'productId'],
        [stick({ vendorId: '07*1' }), 'vendorId'],
        [stick({ serial: '' }), 'serial'],
        [stick({ department: undefined }), 'department'],
        [stick({ holder: '' }), 'holder'],
        [stick({ descriptorHash: 'abc' }), 'descriptorHash'],
      ] as const) {
        const answer: { status: number; body: { message: string } } = await sut.rest('POST', '/api/v1/usb-register', body);
        assert.equal(answer.status, 400, JSON.stringify(body));
        assert.match(answer.body.message, new RegExp(field), JSON.stringify(answer.body));
      }

      const versionBefore = (await sut.rest('GET', '/api/v1/policy')).body.version;
      const patched = await sut.rest('PATCH', `/api/v1/usb-register/${vendorWide.body.id}`, { holder: 'Taro', department: 'Accounting' });
      assert.equal(patched.status, 200);
      assert.deepEqual([patched.body.holder, patched.body.department, patched.body.label], ['Taro', 'Accounting', 'Sales 12']);
      const policy = (await sut.rest('GET', '/api/v1/policy')).body;
      assert.equal(policy.version, versionBefore + 1);
      const inPolicy = policy.usb.registeredDevices.find((entry: { entryId: string }) => entry.entryId === vendorWide.body.id);
      assert.deepEqual([inPolicy.vendorId, inPolicy.productId, inPolicy.holder, inPolicy.department], ['0781', '*', 'Taro', 'Accounting']);
      assert.equal((await sut.rest('PATCH', `/api/v1/usb-register/${vendorWide.body.id}`, { serial: 'OTHER' })).status, 400, 'what an entry matches cannot be patched');
      assert.equal((await sut.rest('PATCH', `/api/v1/usb-register/${randomUUID()}`, { holder: 'x' })).status, 404);
      assert.equal((await sut.rest('GET', '/api/v1/usb-register')).body.items.length, 4);

      const agent = await enrollAgent(t, sut);
      const version = await currentVersion(sut);
      const otherProduct = attached({ productId: 0x5581, serial: 'VENDOR-WIDE' }, new Date(), '', version);
      const otherVendor = attached({ vendorId: 0x090c, productId: 0x1000, serial: 'VENDOR-WIDE' }, new Date(), '', version);
      const anyDevice = attached({ vendorId: 0x090c, productId: 0x1000, serial: 'ANY-DEVICE' }, new Date(), '', version);
      const pinnedMatch = attached({ serial: 'PINNED', descriptorHash: HASH_A }, new Date(), '', version);
      const pinnedOther = attached({ serial: 'PINNED', descriptorHash: HASH_B }, new Date(), '', version);
      await upload(t, sut, agent, [otherProduct, otherVendor, anyDevice, pinnedMatch, pinnedOther]);
      assert.deepEqual(await rulesOf(sut, otherProduct), []);
      assert.deepEqual(await rulesOf(sut, otherVendor), ['usb.unregistered_device']);
      assert.deepEqual(await rulesOf(sut, anyDevice), []);
      assert.deepEqual(await rulesOf(sut, pinnedMatch), []);
      assert.deepEqual(await rulesOf(sut, pinnedOther), ['usb.unregistered_device'], 'same serial, other descriptors: another device');
    });

    test('storage with a HID interface is a critical violation even for a registered stick, with the serial quality and the enforcement', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      assert.equal((await sut.rest('POST', '/api/v1/usb-register', stick())).status, 201);
      const agent = await enrollAgent(t, sut);
      assert.equal(await currentVersion(sut), '2', 'registering the stick published version 2');
      const badUsb = attached({ interfaceClasses: [8, 3] }, new Date(), '', '2');
      const plain = attached({}, new Date(), '', '2');
      await upload(t, sut, agent, [badUsb, plain]);
      const [violation, ...others] = await violationsOf(sut, badUsb);
      assert.equal(others.length, 0);
      assert.equal(violation.rule, 'usb.storage_with_hid');
      assert.equal(violation.severity, 'critical');
      assert.equal(violation.device.serialQuality, 'present');
      assert.deepEqual(violation.enforcement, {
        requestedMode: 'allow',
        appliedMode: 'allow',
        action: 'none',
        reason: 'test',
        registerEntryId: null,
        exceptionId: null,
        policyVersion: '2',
        latencyMicros: '0',
        policyLineageId: '',
      });
      assert.equal(violation.plugId, badUsb.eventId, 'an attach is its own plug');
      assert.deepEqual(violation.judgedUnder, { policyVersion: 2, source: 'decision', note: '' });
      assert.deepEqual(await rulesOf(sut, plain), [], 'the same stick without the HID interface is fine');
    });

    test('an unencrypted stick is a violation only while encrypted media is required', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      assert.equal((await sut.rest('POST', '/api/v1/usb-register', stick())).status, 201);
      const agent = await enrollAgent(t, sut);
      const notRequired = storageVolumes({}, false);
      await upload(t, sut, agent, [notRequired]);
      assert.deepEqual(await rulesOf(sut, notRequired), []);

      assert.equal((await sut.rest('PUT', '/api/v1/policy/usb', { requireEncryptedMedia: true })).status, 200);
      const plain = storageVolumes({}, false);
      const luks = storageVolumes({}, true);
      await upload(t, sut, agent, [plain, luks]);
      const [violation] = await violationsOf(sut, plain);
      assert.equal(violation.rule, 'usb.unencrypted_media');
      assert.equal(violation.severity, 'high');
      assert.match(violation.summary, /\/dev\/sdb1/);
      assert.deepEqual(await rulesOf(sut, luks), []);
      const listed = await sut.rest('GET', `/api/v1/events?kind=usb_storage_volumes&agentId=${agent.agentId}`);
      assert.equal(listed.body.items.length, 3, 'storage events are listed over REST');
      assert.equal(listed.body.items[0].payload.blockDevices.length, 2);
    });

    test('an exception: requested, approved by another person, in the policy, used inside its window, over by itself', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const agent = await enrollAgent(t, sut);
      const stream = policyClient(t, sut, agent.credentials).watchPolicy({ knownVersion: '0', knownLineageId: '' });
      t.after(() => stream.cancel());
      const received = collect(stream);
      assert.equal((await received.next()).policy?.version, '1');

      const requestedEnd = new Date(Date.now() + 3_600_000);
      const request = await sut.rest('POST', '/api/v1/usb-exceptions', {
        vendorId: '0781',
        productId: '5567',
        serial: 'TRIP-1',
        agentId: agent.agentId,
        notAfter: requestedEnd.toISOString(),
        justification: 'customer workshop in Osaka',
        requestedBy: 'Hanako',
        mode: 'allow',
      });
      assert.equal(request.status, 201, JSON.stringify(request.body));
      assert.equal(request.body.status, 'requested');
      assert.equal(request.body.active, false);
      const id = request.body.id as string;
      assert.deepEqual((await sut.rest('GET', '/api/v1/usb-exceptions?status=requested')).body.items.map((item: { id: string }) => item.id), [id]);
      assert.equal((await sut.rest('GET', '/api/v1/policy')).body.version, 1, 'a request changes no policy');

      const self = await sut.rest('POST', `/api/v1/usb-exceptions/${id}/approve`, { approvedBy: ' hanako ' });
      assert.equal(self.status, 403);
      assert.match(self.body.message, /someone other than its requester/);
      const longer = await sut.rest('POST', `/api/v1/usb-exceptions/${id}/approve`, { approvedBy: 'Taro', notAfter: new Date(requestedEnd.getTime() + 1000).toISOString() });
      assert.equal(longer.status, 400);
      assert.match(longer.body.message, /notAfter may only shorten/);

      // Short enough that the test sees it end, long enough to upload a use first; nothing asserts how long anything took.
      const end = new Date(Date.now() + 4_000);
      const approved = await sut.rest('POST', `/api/v1/usb-exceptions/${id}/approve`, { approvedBy: 'Taro', notAfter: end.toISOString() });
      assert.equal(approved.status, 200, JSON.stringify(approved.body));
      assert.equal(approved.body.status, 'approved');
      assert.equal(approved.body.approvedBy, 'Taro');
      assert.equal(approved.body.notAfter, end.toISOString());
      assert.equal(approved.body.requestedNotAfter, requestedEnd.toISOString());
      assert.equal((await sut.rest('POST', `/api/v1/usb-exceptions/${id}/approve`, { approvedBy: 'Jiro' })).status, 409, 'decided once');

      const withException = (await received.next()).policy;
      assert.equal(withException?.version, '2');
      assert.deepEqual(
        withException?.usb?.exceptions.map((exception) => [exception.exceptionId, exception.agentId, exception.serial, exception.mode, exception.approvedBy]),
        [[id, agent.agentId, 'TRIP-1', UsbEnforcementMode.USB_ENFORCEMENT_MODE_ALLOW, 'Taro']],
      );
      assert.deepEqual((await sut.rest('GET', '/api/v1/policy')).body.usb.exceptions.map((exception: { exceptionId: string }) => exception.exceptionId), [id]);

      const inside = attached({ serial: 'TRIP-1' }, new Date(), id);
      const afterEnd = attached({ serial: 'TRIP-1' }, new Date(end.getTime() + 1000));
      await upload(t, sut, agent, [inside, afterEnd]);
      assert.deepEqual(await rulesOf(sut, inside), [], 'inside the window the exception holds');
      assert.deepEqual(await rulesOf(sut, afterEnd), ['usb.unregistered_device'], 'after its end the same stick is unregistered');
      const detail = (await sut.rest('GET', `/api/v1/usb-exceptions/${id}`)).body;
      assert.deepEqual(detail.uses.map((use: { eventId: string }) => use.eventId), [inside.eventId]);
      assert.equal(detail.uses[0].payload.enforcement.exceptionId, id);

      const expired = (await received.next()).policy;
      assert.equal(expired?.version, '3', 'the end publishes a version by itself');
      assert.deepEqual(expired?.usb?.exceptions, []);
      const shown = (await sut.rest('GET', `/api/v1/usb-exceptions/${id}`)).body;
      assert.equal(shown.status, 'expired');
      assert.deepEqual((await sut.rest('GET', '/api/v1/usb-exceptions?status=expired')).body.items.map((item: { id: string }) => item.id), [id]);
      assert.equal((await sut.rest('POST', `/api/v1/usb-exceptions/${id}/revoke`, { revokedBy: 'Taro', reason: 'late' })).status, 409);
    });

    test('rejecting and revoking exceptions is recorded with who, when and why; a revoked exception leaves the policy', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const agent = await enrollAgent(t, sut);
      const ask = (serial: string, extra: Record<string, unknown> = {}) =>
        sut.rest('POST', '/api/v1/usb-exceptions', {
          vendorId: '0781',
          productId: '5567',
          serial,
          agentId: agent.agentId,
          userName: 'alice',
          notAfter: new Date(Date.now() + 86_400_000).toISOString(),
          justification: 'audit visit',
          requestedBy: 'Hanako',
          mode: 'read_only',
          ...extra,
        });

      const rejectedRequest = (await ask('NOPE')).body;
      const rejected = await sut.rest('POST', `/api/v1/usb-exceptions/${rejectedRequest.id}/reject`, { rejectedBy: 'Taro', reason: 'use the team stick' });
      assert.equal(rejected.status, 200);
      assert.deepEqual([rejected.body.status, rejected.body.rejectedBy, rejected.body.rejectionReason], ['rejected', 'Taro', 'use the team stick']);
      assert.notEqual(rejected.body.rejectedAt, null);
      assert.equal((await sut.rest('POST', `/api/v1/usb-exceptions/${rejectedRequest.id}/approve`, { approvedBy: 'Jiro' })).status, 409);
      assert.equal((await sut.rest('POST', `/api/v1/usb-exceptions/${rejectedRequest.id}/revoke`, { revokedBy: 'Jiro', reason: 'x' })).status, 409);

      const granted = (await ask('YES')).body;
      assert.equal((await sut.rest('POST', `/api/v1/usb-exceptions/${granted.id}/revoke`, { revokedBy: 'Taro', reason: 'x' })).status, 409, 'a request is rejected, not revoked');
      assert.equal((await sut.rest('POST', `/api/v1/usb-exceptions/${granted.id}/approve`, { approvedBy: 'Taro' })).status, 200);
      const withIt = (await sut.rest('GET', '/api/v1/policy')).body;
      assert.deepEqual(withIt.usb.exceptions.map((exception: { mode: string; userName: string }) => [exception.mode, exception.userName]), [['read_only', 'alice']]);
      const use = attached({ serial: 'YES' });
      await upload(t, sut, agent, [use]);
      assert.deepEqual(await rulesOf(sut, use), []);

      const revoked = await sut.rest('POST', `/api/v1/usb-exceptions/${granted.id}/revoke`, { revokedBy: 'Security desk', reason: 'laptop reported lost' });
      assert.equal(revoked.status, 200);
      assert.deepEqual([revoked.body.status, revoked.body.revokedBy, revoked.body.revocationReason], ['revoked', 'Security desk', 'laptop reported lost']);
      assert.deepEqual([revoked.body.requestedBy, revoked.body.approvedBy], ['Hanako', 'Taro'], 'the whole trail stays');
      const without = (await sut.rest('GET', '/api/v1/policy')).body;
      assert.equal(without.version, withIt.version + 1);
      assert.deepEqual(without.usb.exceptions, []);
      const afterRevocation = attached({ serial: 'YES' }, new Date(Date.now() + 1000));
      await upload(t, sut, agent, [afterRevocation]);
      assert.deepEqual(await rulesOf(sut, afterRevocation), ['usb.unregistered_device']);
      assert.deepEqual((await sut.rest('GET', '/api/v1/usb-exceptions?status=revoked')).body.items.map((item: { id: string }) => item.id), [granted.id]);
      assert.deepEqual((await sut.rest('GET', '/api/v1/usb-exceptions?status=rejected')).body.items.map((item: { id: string }) => item.id), [rejectedRequest.id]);

      for (const [body, field] of [
        [{ mode: 'block' }, 'mode'],
        [{ agentId: 'laptop-7' }, 'agentId'],
        [{ agentId: randomUUID() }, 'agentId'],
        [{ notAfter: 'tomorrow' }, 'notAfter'],
        [{ notAfter: new Date(Date.now() - 1000).toISOString() }, 'notAfter'],
        [{ notBefore: new Date(Date.now() + 7_200_000).toISOString(), notAfter: new Date(Date.now() + 3_600_000).toISOString() }, 'notAfter'],
        [{ notAfter: new Date(Date.now() + 91 * 86_400_000).toISOString() }, 'notAfter'],
        [{ vendorId: '*' }, 'vendorId'],
        [{ justification: '' }, 'justification'],
        [{ requestedBy: undefined }, 'requestedBy'],
      ] as const) {
        const answer: { status: number; body: { message: string } } = await ask('BAD', body);
        assert.equal(answer.status, 400, JSON.stringify(body));
        assert.match(answer.body.message, new RegExp(field), JSON.stringify(answer.body));
      }
      assert.equal((await sut.rest('GET', '/api/v1/usb-exceptions?status=sleeping')).status, 400);
      assert.equal((await sut.rest('GET', `/api/v1/usb-exceptions/${randomUUID()}`)).status, 404);
    });

    test('a policy change while a device stays attached is the same plug: each rule is raised once per plug, a newly broken rule once', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const agent = await enrollAgent(t, sut);
      const M = UsbEnforcementMode;

      // An unregistered stick under audit: one violation for the plug.
      const stranger = attached({ serial: 'STRANGER' }, new Date(), '', '1');
      await upload(t, sut, agent, [stranger]);
      assert.deepEqual((await violationsOfPlug(sut, stranger)).map((v) => v.rule), ['usb.unregistered_device']);

      // Blocking it where it sits changes its mode, not what it is: no second violation.
      assert.equal((await sut.rest('PUT', '/api/v1/policy/usb', { unregisteredDeviceMode: 'block' })).status, 200);
      const blocked = reevaluated({ serial: 'STRANGER' }, stranger, await currentVersion(sut), M.USB_ENFORCEMENT_MODE_BLOCK, M.USB_ENFORCEMENT_MODE_AUDIT);
      const response = await upload(t, sut, agent, [blocked]);
      assert.equal(response.storedCount, 1);
      assert.deepEqual((await violationsOfPlug(sut, stranger)).map((v) => v.rule), ['usb.unregistered_device'], 'the same plug is not counted twice');
      const listed = await sut.rest('GET', `/api/v1/events?kind=usb_device_reevaluated&agentId=${agent.agentId}`);
      assert.equal(listed.status, 200);
      assert.deepEqual(listed.body.items.map((item: { eventId: string }) => item.eventId), [blocked.eventId], 'listed under its own kind');
      assert.equal(listed.body.items[0].payload.attachedEventId, stranger.eventId);
      assert.equal(listed.body.items[0].payload.previousAppliedMode, M.USB_ENFORCEMENT_MODE_AUDIT);

      // A registered stick whose entry is deleted while it is attached newly breaks a rule: raised once.
      const entry = await sut.rest('POST', '/api/v1/usb-register', stick({ serial: 'ISSUED' }));
      assert.equal(entry.status, 201);
      const issued = attached({ serial: 'ISSUED' }, new Date(), '', await currentVersion(sut));
      await upload(t, sut, agent, [issued]);
      assert.deepEqual(await violationsOfPlug(sut, issued), []);
      assert.equal((await sut.rest('DELETE', `/api/v1/usb-register/${entry.body.id}`)).status, 204);
      const unregisteredNow = await currentVersion(sut);
      const first = reevaluated({ serial: 'ISSUED' }, issued, unregisteredNow, M.USB_ENFORCEMENT_MODE_BLOCK, M.USB_ENFORCEMENT_MODE_ALLOW);
      await upload(t, sut, agent, [first]);
      const [raised, ...more] = await violationsOfPlug(sut, issued);
      assert.equal(more.length, 0);
      assert.equal(raised.rule, 'usb.unregistered_device');
      assert.equal(raised.eventId, first.eventId, 'raised by the re-evaluation');
      assert.match(raised.summary, new RegExp(`still attached when policy version ${unregisteredNow} took effect`));
      assert.deepEqual(raised.judgedUnder, { policyVersion: Number(unregisteredNow), source: 'decision', note: '' });
      assert.equal((await sut.rest('PUT', '/api/v1/policy/usb', { unregisteredDeviceMode: 'read_only' })).status, 200);
      await upload(t, sut, agent, [reevaluated({ serial: 'ISSUED' }, issued, await currentVersion(sut), M.USB_ENFORCEMENT_MODE_READ_ONLY, M.USB_ENFORCEMENT_MODE_BLOCK)]);
      assert.equal((await violationsOfPlug(sut, issued)).length, 1, 'still one for this plug');

      // Once a reviewer resolved it, a later change that still finds it breaking the rule raises it again.
      assert.equal((await sut.rest('PATCH', `/api/v1/violations/${raised.id}`, { status: 'resolved', note: 'holder asked to hand it in' })).status, 200);
      await upload(t, sut, agent, [reevaluated({ serial: 'ISSUED' }, issued, await currentVersion(sut), M.USB_ENFORCEMENT_MODE_BLOCK, M.USB_ENFORCEMENT_MODE_READ_ONLY)]);
      assert.deepEqual((await violationsOfPlug(sut, issued)).map((v) => v.status).sort(), ['open', 'resolved']);

      // A re-plug is a new plug, and raises anew.
      const replug = attached({ serial: 'STRANGER' }, new Date(), '', await currentVersion(sut));
      await upload(t, sut, agent, [replug]);
      assert.deepEqual((await violationsOfPlug(sut, replug)).map((v) => v.rule), ['usb.unregistered_device']);
    });

    test('storage reports of one plug raise usb.unencrypted_media once, however often its mounts change', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      assert.equal((await sut.rest('POST', '/api/v1/usb-register', stick())).status, 201);
      assert.equal((await sut.rest('PUT', '/api/v1/policy/usb', { requireEncryptedMedia: true })).status, 200);
      const agent = await enrollAgent(t, sut);
      const version = await currentVersion(sut);
      const plug = attached({}, new Date(), '', version);
      const disk = storageVolumes({}, false, { policyVersion: version, attachedEventId: plug.eventId });
      const mounted = storageVolumes({}, false, { policyVersion: version, attachedEventId: plug.eventId });
      await upload(t, sut, agent, [plug, disk]);
      await upload(t, sut, agent, [mounted]);
      const violations = await violationsOfPlug(sut, plug);
      assert.deepEqual(violations.map((v) => [v.rule, v.eventId]), [['usb.unencrypted_media', disk.eventId]]);
      // The same plug re-evaluated with its plain volumes (say the mode went to read-only): still one.
      await upload(t, sut, agent, [reevaluated({}, plug, version, UsbEnforcementMode.USB_ENFORCEMENT_MODE_READ_ONLY, UsbEnforcementMode.USB_ENFORCEMENT_MODE_AUDIT, false)]);
      assert.equal((await violationsOfPlug(sut, plug)).length, 1);
    });

    test('an event is judged by the policy the agent decided under; an unknown version falls back to the newest and says so', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      assert.equal((await sut.rest('POST', '/api/v1/usb-register', stick())).status, 201);
      const agent = await enrollAgent(t, sut);
      const before = await currentVersion(sut);
      const lineage = (await sut.rest('GET', '/api/v1/policy')).body.lineageId as string;
      const decidedAt = new Date();
      // The agent saw the plain stick's volumes while encrypted media was not yet required...
      const late = storageVolumes({}, false, { policyVersion: before, policyLineageId: lineage }, decidedAt);
      // ...and only uploads them after the policy changed.
      assert.equal((await sut.rest('PUT', '/api/v1/policy/usb', { requireEncryptedMedia: true })).status, 200);
      const after = await currentVersion(sut);
      assert.notEqual(after, before);
      const current = storageVolumes({}, false, { policyVersion: after, policyLineageId: lineage });
      await upload(t, sut, agent, [late, current]);
      assert.deepEqual(await rulesOf(sut, late), [], `judged by version ${before}, under which nothing was wrong`);
      const [judged] = await violationsOf(sut, current);
      assert.equal(judged.rule, 'usb.unencrypted_media');
      assert.deepEqual(judged.judgedUnder, { policyVersion: Number(after), source: 'decision', note: '' });
      assert.equal(judged.enforcement.policyLineageId, lineage);

      const noVersion = storageVolumes({}, false, { policyVersion: '0' });
      const otherLineage = storageVolumes({}, false, { policyVersion: before, policyLineageId: randomUUID() });
      const neverPublished = storageVolumes({}, false, { policyVersion: '99', policyLineageId: lineage });
      await upload(t, sut, agent, [noVersion, otherLineage, neverPublished]);
      for (const [event, why] of [
        [noVersion, /named no policy version/],
        [otherLineage, /another policy lineage/],
        [neverPublished, /version 99, which this collector never published/],
      ] as const) {
        const [violation, ...others] = await violationsOf(sut, event);
        assert.equal(others.length, 0);
        assert.equal(violation?.rule, 'usb.unencrypted_media', 'judged by the newest version, which requires encryption');
        assert.equal(violation.judgedUnder.source, 'newest');
        assert.equal(violation.judgedUnder.policyVersion, Number(after));
        assert.match(violation.judgedUnder.note, why);
      }
    });
  });
}
