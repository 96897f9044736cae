import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { TestContext } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { SerialQuality } from '../../../agent/src/generated/mamori/v1/common';
import { Event, FileOperation, PersonalDataKind, TransferChannel, UsbEnforcementAction } from '../../../agent/src/generated/mamori/v1/events';
import { GetPolicyResponse, UsbEnforcementMode } from '../../../agent/src/generated/mamori/v1/policy';
import type { UploadEventsResponse } from '../../../agent/src/generated/mamori/v1/telemetry';
import { parseCsv } from '../../../server/src/modules/ledger/csv';
import { DATABASE_KINDS } from '../../support/databases';
import { EnrolledAgent, enrollAgent, failure, policyClient, startTestCollector, telemetryClient, TestCollector, unary } from './collector-harness';

let sequence = 1;

function stamp(at: Date) {
  return { seconds: String(Math.floor(at.getTime() / 1000)), nanos: (at.getTime() % 1000) * 1_000_000 };
}

interface StickSpec {
  serial?: string;
  interfaceClasses?: number[];
}

function stickDevice(spec: StickSpec = {}) {
  return {
    vendorId: 0x0781,
    productId: 0x5567,
    serial: spec.serial ?? 'STICK-1',
    manufacturer: 'SanDisk',
    product: 'Cruzer Blade',
    interfaceClasses: spec.interfaceClasses ?? [8],
    busPath: '1-2',
    descriptorHash: '',
    serialQuality: SerialQuality.SERIAL_QUALITY_PRESENT,
  };
}

/** The plug: a UsbDeviceAttached decided under `policyVersion` of this collector's lineage. */
function plug(spec: StickSpec, policyVersion: string, lineageId: string, at = new Date()): Event {
  return Event.fromPartial({
    eventId: randomUUID(),
    occurredAt: stamp(at),
    sequence: String(sequence++),
    userName: 'alice',
    usbDeviceAttached: {
      device: stickDevice(spec),
      enforcement: {
        requestedMode: UsbEnforcementMode.USB_ENFORCEMENT_MODE_AUDIT,
        appliedMode: UsbEnforcementMode.USB_ENFORCEMENT_MODE_AUDIT,
        action: UsbEnforcementAction.USB_ENFORCEMENT_ACTION_NONE,
        reason: 'test',
        policyVersion,
        policyLineageId: lineageId,
      },
    },
  });
}

interface TransferSpec {
  path?: string;
  sizeBytes?: number;
  sha256?: string;
  userName?: string;
  channel?: TransferChannel;
  operation?: FileOperation;
  previousPath?: string;
  encrypted?: boolean;
  findings?: Array<[PersonalDataKind, number]>;
  encryptedEntries?: number;
  format?: string;
  stick?: StickSpec | null;
  plug?: Event | null;
  destination?: string;
  at?: Date;
  complete?: boolean;
}

/** A FileTransfer as the agent's watcher sends it. */
function transfer(spec: TransferSpec = {}): Event {
  const removable = (spec.channel ?? TransferChannel.TRANSFER_CHANNEL_REMOVABLE_MEDIA) === TransferChannel.TRANSFER_CHANNEL_REMOVABLE_MEDIA;
  return Event.fromPartial({
    eventId: randomUUID(),
    occurredAt: stamp(spec.at ?? new Date()),
    sequence: String(sequence++),
    userName: spec.userName ?? 'alice',
    fileTransfer: {
      channel: spec.channel ?? TransferChannel.TRANSFER_CHANNEL_REMOVABLE_MEDIA,
      path: spec.path ?? 'report.txt',
      sizeBytes: String(spec.sizeBytes ?? 1000),
      sha256: spec.sha256 ?? 'ab'.repeat(32),
      destination: spec.destination ?? (removable ? '/media/alice/STICK' : '/srv/outbox'),
      usbDevice: removable && spec.stick !== null ? stickDevice(spec.stick ?? {}) : undefined,
      destinationEncrypted: spec.encrypted ?? false,
      findings: (spec.findings ?? []).map(([kind, count]) => ({ kind, count })),
      inspectionComplete: spec.complete ?? true,
      processName: '',
      processId: 0,
      userName: spec.userName ?? 'alice',
      operation: spec.operation ?? FileOperation.FILE_OPERATION_WRITTEN,
      previousPath: spec.previousPath ?? '',
      format: spec.format ?? 'text',
      inspectionNote: spec.complete === false ? 'stopped after the byte budget' : '',
      encryptedEntries: spec.encryptedEntries ?? 0,
      problem: '',
      attachedEventId: removable && spec.plug ? spec.plug.eventId : '',
      deviceNode: removable ? '/dev/sdb1' : '',
    },
  });
}

async function upload(t: TestContext, sut: TestCollector, agent: EnrolledAgent, events: Event[]): Promise<UploadEventsResponse> {
  return unary<UploadEventsResponse>((cb) => telemetryClient(t, sut, agent.credentials).uploadEvents({ batchId: randomUUID(), events }, cb));
}

async function policyOf(sut: TestCollector): Promise<{ version: string; lineageId: string }> {
  const body = (await sut.rest('GET', '/api/v1/policy')).body;
  return { version: String(body.version), lineageId: body.lineageId };
}

async function transfers(sut: TestCollector, query = ''): Promise<Array<Record<string, any>>> {
  const answer = await sut.rest('GET', `/api/v1/transfers?limit=500${query}`);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body.items;
}

async function transferOf(sut: TestCollector, event: Event): Promise<Record<string, any>> {
  const [row] = (await transfers(sut)).filter((item) => item.eventId === event.eventId);
  assert.ok(row, `transfer of event ${event.eventId} is stored`);
  const detail = await sut.rest('GET', `/api/v1/transfers/${row.id}`);
  assert.equal(detail.status, 200);
  return detail.body;
}

async function violations(sut: TestCollector, rule: string): Promise<Array<Record<string, any>>> {
  return (await sut.rest('GET', `/api/v1/violations?limit=500&rule=${rule}`)).body.items;
}

const PERSONAL = 'transfer.personal_data_unencrypted';
const UNREGISTERED = 'transfer.to_unregistered_media';
const DAILY = 'transfer.daily_volume';

for (const kind of DATABASE_KINDS) {
  describe(`outbound transfer log on ${kind}`, () => {
    test('transfers are stored with their columns and found by user, serial, agent, time, hash, personal data, channel and operation', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      assert.equal((await sut.rest('POST', '/api/v1/usb-register', { vendorId: '0781', productId: '5567', serial: 'STICK-1', label: 'Sales 1', holder: 'Hanako', department: 'Sales' })).status, 201);
      const alice = await enrollAgent(t, sut, 'alice-pc');
      const bob = await enrollAgent(t, sut, 'bob-pc');
      const { version, lineageId } = await policyOf(sut);
      const base = Date.now() - 3_600_000;
      const stick = plug({}, version, lineageId, new Date(base));
      const csv = transfer({ plug: stick, path: 'clients/list.csv', format: 'csv', sizeBytes: 52_000, sha256: 'c5'.repeat(32), findings: [[PersonalDataKind.PERSONAL_DATA_KIND_MY_NUMBER, 3], [PersonalDataKind.PERSONAL_DATA_KIND_EMAIL_ADDRESS, 12]], at: new Date(base + 1000) });
      const plain = transfer({ plug: stick, path: 'notes.txt', at: new Date(base + 2000) });
      const renamed = transfer({ plug: stick, path: 'notes-final.txt', previousPath: 'notes.txt', operation: FileOperation.FILE_OPERATION_RENAMED, at: new Date(base + 3000) });
      const deleted = transfer({ plug: stick, path: 'old.txt', operation: FileOperation.FILE_OPERATION_DELETED, at: new Date(base + 4000) });
      const outbox = transfer({ channel: TransferChannel.TRANSFER_CHANNEL_WATCHED_FOLDER, path: 'quote.pdf', format: 'pdf', userName: 'bob', at: new Date(base + 5000) });
      const answer = await upload(t, sut, alice, [stick, csv, plain, renamed, deleted]);
      assert.equal(answer.storedCount, 5);
      await upload(t, sut, bob, [outbox]);

      const all = await transfers(sut);
      assert.deepEqual(
        all.map((item) => item.eventId),
        [outbox, deleted, renamed, plain, csv].map((event) => event.eventId),
        'newest first',
      );
      const stored = await transferOf(sut, csv);
      assert.equal(stored.agentId, alice.agentId);
      assert.equal(stored.hostname, 'alice-pc');
      assert.equal(stored.userName, 'alice');
      assert.equal(stored.channel, 'removable_media');
      assert.equal(stored.operation, 'written');
      assert.equal(stored.path, 'clients/list.csv');
      assert.equal(stored.sizeBytes, 52_000);
      assert.equal(stored.sha256, 'c5'.repeat(32));
      assert.equal(stored.destination, '/media/alice/STICK');
      assert.deepEqual(stored.findings, { my_number: 3, email_address: 12 });
      assert.equal(stored.hasPersonalData, true);
      assert.equal(stored.format, 'csv');
      assert.equal(stored.deviceNode, '/dev/sdb1');
      assert.equal(stored.occurredAt, new Date(base + 1000).toISOString());
      assert.deepEqual([stored.device.vendorId, stored.device.productId, stored.device.serial], ['0781', '5567', 'STICK-1']);
      assert.equal(stored.deviceLink.attachedEventId, stick.eventId);
      assert.equal(stored.deviceLink.attachEventStored, true);
      assert.equal(stored.deviceLink.registerEntry.label, 'Sales 1');
      assert.equal(stored.deviceLink.registerEntry.holder, 'Hanako');
      assert.deepEqual(
        stored.violations.map((violation: { rule: string }) => violation.rule),
        [PERSONAL],
        'the registered stick raises no unregistered-media violation; the unencrypted personal data does',
      );
      const renamedRow = await transferOf(sut, renamed);
      assert.deepEqual([renamedRow.operation, renamedRow.previousPath], ['renamed', 'notes.txt']);
      const outboxRow = await transferOf(sut, outbox);
      assert.equal(outboxRow.device, null);
      assert.equal(outboxRow.deviceLink, null);

      const ids = async (query: string) => (await transfers(sut, query)).map((item) => item.eventId).sort();
      const sorted = (...events: Event[]) => events.map((event) => event.eventId).sort();
      assert.deepEqual(await ids('&userName=bob'), sorted(outbox));
      assert.deepEqual(await ids('&deviceSerial=STICK-1'), sorted(csv, plain, renamed, deleted));
      assert.deepEqual(await ids('&deviceSerial=OTHER'), []);
      assert.deepEqual(await ids(`&agentId=${bob.agentId}`), sorted(outbox));
      assert.deepEqual(await ids(`&sha256=${'C5'.repeat(32)}`), sorted(csv), 'the hash is found in either case');
      assert.deepEqual(await ids('&hasPersonalData=true'), sorted(csv));
      assert.deepEqual(await ids('&hasPersonalData=false'), sorted(plain, renamed, deleted, outbox));
      assert.deepEqual(await ids('&channel=watched_folder'), sorted(outbox));
      assert.deepEqual(await ids('&operation=deleted'), sorted(deleted));
      assert.deepEqual(
        await ids(`&since=${new Date(base + 2000).toISOString()}&until=${new Date(base + 4000).toISOString()}`),
        sorted(plain, renamed),
        'since inclusive, until exclusive',
      );
      assert.deepEqual(await ids(`&userName=alice&channel=removable_media&operation=written&agentId=${alice.agentId}`), sorted(csv, plain));

      const first = await sut.rest('GET', '/api/v1/transfers?limit=2');
      assert.equal(first.body.items.length, 2);
      const second = await sut.rest('GET', `/api/v1/transfers?limit=2&cursor=${first.body.nextCursor}`);
      const third = await sut.rest('GET', `/api/v1/transfers?limit=2&cursor=${second.body.nextCursor}`);
      assert.equal(third.body.nextCursor, null);
      assert.deepEqual(
        [...first.body.items, ...second.body.items, ...third.body.items].map((item: { eventId: string }) => item.eventId),
        all.map((item) => item.eventId),
        'pages join up without gaps or repeats',
      );

      for (const [query, field] of [
        ['sha256=xyz', 'sha256'],
        ['hasPersonalData=yes', 'hasPersonalData'],
        ['channel=usb', 'channel'],
        ['operation=copied', 'operation'],
        ['agentId=alice', 'agentId'],
        ['since=yesterday', 'since'],
        ['cursor=forged', 'cursor'],
      ]) {
        const bad: { status: number; body: { message: string } } = await sut.rest('GET', `/api/v1/transfers?${query}`);
        assert.equal(bad.status, 400, query);
        assert.match(bad.body.message, new RegExp(field), JSON.stringify(bad.body));
      }
      assert.equal((await sut.rest('GET', `/api/v1/transfers/${randomUUID()}`)).status, 404);
      assert.equal((await sut.rest('GET', '/api/v1/transfers', undefined, null)).status, 401, 'admins only');
    });

    test('transfer.personal_data_unencrypted: written personal data on an unencrypted stick or folder, not on an encrypted one, not a protected zip without findings', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      assert.equal((await sut.rest('POST', '/api/v1/usb-register', { vendorId: '0781', productId: '5567', serial: 'STICK-1', label: 'Sales 1', holder: 'Hanako', department: 'Sales' })).status, 201);
      const agent = await enrollAgent(t, sut, 'alice-pc');
      // Alice's laptop is in the ledger (linked by hand: this agent sends no heartbeat to match it by),
      // so her violations carry its department in the feed and in the transfer.
      const laptop = await sut.rest('POST', '/api/v1/ledger/devices', { assetTag: 'PC-ALICE', hostname: 'alice-pc', department: 'Payroll', holder: 'alice', status: 'on_loan' });
      assert.equal(laptop.status, 201);
      assert.equal((await sut.rest('PATCH', `/api/v1/ledger/devices/${laptop.body.id}`, { agentId: agent.agentId })).status, 200);
      const { version, lineageId } = await policyOf(sut);
      const stick = plug({}, version, lineageId);
      const myNumber: Array<[PersonalDataKind, number]> = [[PersonalDataKind.PERSONAL_DATA_KIND_MY_NUMBER, 2]];
      const leaked = transfer({ plug: stick, path: 'payroll.xlsx', format: 'xlsx', findings: myNumber });
      const onLuks = transfer({ plug: stick, path: 'payroll-copy.xlsx', format: 'xlsx', findings: myNumber, encrypted: true });
      const protectedZip = transfer({ plug: stick, path: 'payroll.zip', format: 'zip', encryptedEntries: 3 });
      const halfProtected = transfer({ plug: stick, path: 'mixed.zip', format: 'zip', encryptedEntries: 1, findings: [[PersonalDataKind.PERSONAL_DATA_KIND_CREDIT_CARD, 1]] });
      const renamedOnly = transfer({ plug: stick, path: 'renamed.xlsx', previousPath: 'payroll.xlsx', operation: FileOperation.FILE_OPERATION_RENAMED, findings: myNumber });
      const clean = transfer({ plug: stick, path: 'menu.txt' });
      const toOutbox = transfer({ channel: TransferChannel.TRANSFER_CHANNEL_WATCHED_FOLDER, path: 'customers.csv', format: 'csv', findings: [[PersonalDataKind.PERSONAL_DATA_KIND_PHONE_NUMBER, 40]] });
      await upload(t, sut, agent, [stick, leaked, onLuks, protectedZip, halfProtected, renamedOnly, clean, toOutbox]);

      const raised = await violations(sut, PERSONAL);
      assert.deepEqual(raised.map((violation) => violation.eventId).sort(), [leaked, halfProtected, toOutbox].map((event) => event.eventId).sort());
      const violation = raised.find((item) => item.eventId === leaked.eventId)!;
      assert.equal(violation.severity, 'high');
      assert.equal(violation.status, 'open');
      assert.equal(violation.userName, 'alice');
      assert.equal(violation.hostname, 'alice-pc');
      assert.equal(violation.device.serial, 'STICK-1');
      assert.deepEqual(violation.device.findings, { my_number: 2 });
      assert.match(violation.summary, /payroll\.xlsx/);
      assert.match(violation.summary, /my_number ×2/);
      assert.doesNotMatch(JSON.stringify(raised), /\d{12}/, 'no matched value anywhere');
      const zipViolation = raised.find((item) => item.eventId === halfProtected.eventId)!;
      assert.match(zipViolation.summary, /1 password-protected entry not counted/);
      assert.equal(violation.department, 'Payroll');
      assert.deepEqual((await transferOf(sut, leaked)).violations, [violation], 'the transfer links to its violation, shown as the feed shows it (with its department)');
      assert.deepEqual((await transferOf(sut, onLuks)).violations, []);
      assert.deepEqual((await transferOf(sut, protectedZip)).violations, []);
    });

    test('transfer.to_unregistered_media: once per plug however many files, again for a new plug, never for a registered stick or under an exception', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const agent = await enrollAgent(t, sut, 'alice-pc');
      const { version, lineageId } = await policyOf(sut);
      const unknownPlug = plug({ serial: 'PRIVATE-1' }, version, lineageId);
      const burst = Array.from({ length: 300 }, (_, index) => transfer({ plug: unknownPlug, stick: { serial: 'PRIVATE-1' }, path: `photos/${index}.jpg`, format: 'binary' }));
      await upload(t, sut, agent, [unknownPlug, ...burst.slice(0, 150)]);
      await upload(t, sut, agent, burst.slice(150));
      let raised = await violations(sut, UNREGISTERED);
      assert.equal(raised.length, 1, 'one violation for the plug, not one per file or batch');
      assert.equal(raised[0].plugId, unknownPlug.eventId);
      assert.equal(raised[0].eventId, burst[0].eventId, 'raised by the first file');
      assert.deepEqual(raised[0].judgedUnder, { policyVersion: Number(version), source: 'decision', note: '' }, "judged under the plug's decision version");
      assert.equal(raised[0].device.serial, 'PRIVATE-1');
      assert.match(raised[0].summary, /outside the register/);
      const late = await transferOf(sut, burst[299]);
      assert.deepEqual(late.violations.map((item: { id: string }) => item.id), [raised[0].id], "every file of the plug links to the plug's violation");
      assert.equal(late.deviceLink.registerEntry, null);

      const replug = plug({ serial: 'PRIVATE-1' }, version, lineageId);
      await upload(t, sut, agent, [replug, transfer({ plug: replug, stick: { serial: 'PRIVATE-1' }, path: 'again.txt' })]);
      raised = await violations(sut, UNREGISTERED);
      assert.equal(raised.length, 2, 'a new plug of the same stick raises it again');

      // A stick registered after it was plugged: files written under the old policy version still count; a new plug under the new version does not.
      assert.equal((await sut.rest('POST', '/api/v1/usb-register', { vendorId: '0781', productId: '5567', serial: 'ISSUED-1', label: 'Sales 2', holder: 'Taro', department: 'Sales' })).status, 201);
      const after = await policyOf(sut);
      const issued = plug({ serial: 'ISSUED-1' }, after.version, after.lineageId);
      await upload(t, sut, agent, [issued, transfer({ plug: issued, stick: { serial: 'ISSUED-1' }, path: 'ok.txt' })]);
      const before = plug({ serial: 'ISSUED-1' }, version, lineageId, new Date(Date.now() - 60_000));
      await upload(t, sut, agent, [before, transfer({ plug: before, stick: { serial: 'ISSUED-1' }, path: 'before.txt', at: new Date(Date.now() - 50_000) })]);
      raised = await violations(sut, UNREGISTERED);
      assert.equal(raised.filter((item) => item.device.serial === 'ISSUED-1').length, 1, 'only the plug decided under the version before the registration');
      assert.equal(raised.find((item) => item.device.serial === 'ISSUED-1')!.plugId, before.eventId);

      const exception = await sut.rest('POST', '/api/v1/usb-exceptions', {
        vendorId: '0781',
        productId: '5567',
        serial: 'TRIP-1',
        agentId: agent.agentId,
        notAfter: new Date(Date.now() + 3_600_000).toISOString(),
        justification: 'customer workshop',
        requestedBy: 'Hanako',
        mode: 'allow',
      });
      assert.equal(exception.status, 201, JSON.stringify(exception.body));
      assert.equal((await sut.rest('POST', `/api/v1/usb-exceptions/${exception.body.id}/approve`, { approvedBy: 'Taro' })).status, 200);
      const trip = await policyOf(sut);
      const tripPlug = plug({ serial: 'TRIP-1' }, trip.version, trip.lineageId);
      await upload(t, sut, agent, [tripPlug, transfer({ plug: tripPlug, stick: { serial: 'TRIP-1' }, path: 'slides.pptx' })]);
      assert.equal((await violations(sut, UNREGISTERED)).filter((item) => item.device.serial === 'TRIP-1').length, 0, 'an exception that held lets the files go');

      // No attach id from the agent: files to the same device and volume still count as one plug, judged by the newest version.
      const anonymous = Array.from({ length: 5 }, (_, index) => transfer({ stick: { serial: 'LOOSE-1' }, path: `loose-${index}.txt` }));
      await upload(t, sut, agent, anonymous);
      const loose = (await violations(sut, UNREGISTERED)).filter((item) => item.device.serial === 'LOOSE-1');
      assert.equal(loose.length, 1);
      assert.equal(loose[0].judgedUnder.source, 'newest');
      assert.match(loose[0].judgedUnder.note, /attach event is not stored here/);
    });

    test('transfer.daily_volume: one violation per user and day, its counts kept current across batches; not under the limit', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const limits = await sut.rest('PUT', '/api/v1/policy/transfers', { dailyFileLimit: 20, dailyByteLimit: 1_000_000 });
      assert.equal(limits.status, 200, JSON.stringify(limits.body));
      assert.equal(limits.body.policyVersion, 1, 'collector-side limits publish no new policy version');
      assert.equal((await sut.rest('POST', '/api/v1/usb-register', { vendorId: '0781', productId: '5567', serial: 'STICK-1', label: 'Sales 1', holder: 'Hanako', department: 'Sales' })).status, 201);
      const pc = await enrollAgent(t, sut, 'alice-pc');
      const laptop = await enrollAgent(t, sut, 'alice-laptop');
      const { version, lineageId } = await policyOf(sut);
      // Noon local time yesterday and today keeps every file on its day whatever TZ the collector runs in.
      const today = new Date();
      today.setHours(12, 0, 0, 0);
      const yesterday = new Date(today.getTime());
      yesterday.setDate(yesterday.getDate() - 1);
      const stick = plug({}, version, lineageId, new Date(yesterday.getTime() - 1000));
      const files = (count: number, at: Date, user = 'alice', start = 0) =>
        Array.from({ length: count }, (_, index) => transfer({ plug: stick, userName: user, path: `f${start + index}.txt`, sizeBytes: 10, at: new Date(at.getTime() + start + index) }));

      await upload(t, sut, pc, [stick, ...files(20, yesterday), ...files(15, today, 'bob')]);
      assert.deepEqual(await violations(sut, DAILY), [], '20 files is the limit, not over it');

      await upload(t, sut, pc, files(10, today, 'alice', 0));
      await upload(t, sut, laptop, files(11, today, 'alice', 100));
      let raised = await violations(sut, DAILY);
      assert.equal(raised.length, 1, 'alice on one day across two machines');
      const day = raised[0].device.day as string;
      assert.equal(day, `${today.getFullYear()}-${String(today.getMonth() + 1).padStart(2, '0')}-${String(today.getDate()).padStart(2, '0')}`);
      assert.deepEqual([raised[0].device.userName, raised[0].device.files, raised[0].device.bytes], ['alice', 21, 210]);
      assert.deepEqual(raised[0].device, { kind: 'user_day', userName: 'alice', day, files: 21, bytes: 210, dailyFileLimit: 20, dailyByteLimit: 1_000_000 }, "the subject is the user's day, not a USB device");
      assert.equal(raised[0].userName, 'alice');
      assert.equal(raised[0].severity, 'medium');
      assert.match(raised[0].summary, /21 files/);

      const acknowledged = await sut.rest('PATCH', `/api/v1/violations/${raised[0].id}`, { status: 'acknowledged', note: 'asked her' });
      assert.equal(acknowledged.status, 200);
      await upload(t, sut, pc, files(30, today, 'alice', 200));
      raised = await violations(sut, DAILY);
      assert.equal(raised.length, 1, 'still one for the day');
      assert.deepEqual([raised[0].device.files, raised[0].status], [51, 'acknowledged'], 'the counts follow, the triage stays');

      await upload(t, sut, pc, [transfer({ plug: stick, userName: 'bob', path: 'big.iso', sizeBytes: 2_000_000, at: today })]);
      const bob = (await violations(sut, DAILY)).filter((item) => item.userName === 'bob');
      assert.equal(bob.length, 1, 'the byte limit counts on its own');
      assert.deepEqual([bob[0].device.files, bob[0].device.bytes], [16, 2_000_150]);
      const bigFile = (await transfers(sut, '&userName=bob')).find((item) => item.path === 'big.iso')!;
      const detail = (await sut.rest('GET', `/api/v1/transfers/${bigFile.id}`)).body;
      assert.deepEqual(detail.violations.map((item: { rule: string }) => item.rule), [DAILY], "a file links to its user's day violation");

      // Two machines uploading at the same moment, each under the limit, together over it: the
      // second to count must see the first's files. Channels are opened first and the batches are
      // long (other files first), so the two transactions overlap.
      const channels = [telemetryClient(t, sut, pc.credentials), telemetryClient(t, sut, laptop.credentials)];
      await Promise.all(channels.map((client) => unary((cb) => client.uploadEvents({ batchId: randomUUID(), events: files(1, yesterday, 'warm-up', 1000) }, cb))));
      const filler = (start: number) => files(1500, yesterday, 'dave', start);
      await Promise.all(
        channels.map((client, index) => unary((cb) => client.uploadEvents({ batchId: randomUUID(), events: [...filler(10_000 * (index + 1)), ...files(15, today, 'carol', 100 * index)] }, cb))),
      );
      const carol = (await violations(sut, DAILY)).filter((item) => item.userName === 'carol');
      assert.equal(carol.length, 1, 'concurrent uploads are counted together');
      assert.equal(carol[0].device.files, 30);
    });

    test('CSV export of a period: BOM, CRLF, the documented columns, formula cells guarded, only the period', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const agent = await enrollAgent(t, sut, 'alice-pc');
      const { version, lineageId } = await policyOf(sut);
      const start = new Date('2026-10-01T00:00:00Z');
      const stick = plug({}, version, lineageId, new Date(start.getTime() - 60_000));
      const inside = transfer({ plug: stick, path: '=HYPERLINK("http://x","y").csv', format: 'csv', sizeBytes: 42, sha256: 'd4'.repeat(32), findings: [[PersonalDataKind.PERSONAL_DATA_KIND_MY_NUMBER, 1]], at: new Date(start.getTime() + 1000) });
      const second = transfer({ plug: stick, path: 'フォルダ/名簿, 2026.txt', at: new Date(start.getTime() + 2000) });
      const outside = transfer({ plug: stick, path: 'later.txt', at: new Date('2026-11-01T00:00:00Z') });
      await upload(t, sut, agent, [stick, inside, second, outside]);

      const response = await fetch(`${sut.httpBase}/api/v1/transfers/export.csv?since=2026-10-01T00:00:00Z&until=2026-11-01T00:00:00Z`, { headers: { authorization: 'Bearer integration-test-admin-token-0123456789' } });
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /^text\/csv/);
      assert.match(response.headers.get('content-disposition') ?? '', /attachment; filename="transfers-2026-10-01-2026-11-01\.csv"/);
      const bytes = Buffer.from(await response.arrayBuffer());
      assert.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'UTF-8 byte-order mark');
      const text = bytes.toString('utf8').slice(1);
      assert.ok(text.endsWith('\r\n'));
      assert.equal(text.split('\r\n').length - 1, 3, 'header and two rows, CRLF each');
      const [header, ...rows] = parseCsv(text).map((record) => record.fields);
      assert.deepEqual(header, [
        'transfer_id', 'occurred_at', 'local_day', 'agent_id', 'hostname', 'user_name', 'channel', 'operation', 'path', 'previous_path', 'destination', 'size_bytes', 'sha256',
        'device_vendor_id', 'device_product_id', 'device_serial', 'device_manufacturer', 'device_product', 'attached_event_id', 'device_node', 'destination_encrypted',
        'has_personal_data', 'findings', 'inspection_complete', 'inspection_note', 'format', 'encrypted_entries', 'problem', 'process_name', 'process_id', 'violations', 'event_id',
      ]);
      assert.equal(rows.length, 2);
      const row = Object.fromEntries(header.map((name, index) => [name, rows[0][index]]));
      assert.equal(row.path, `'=HYPERLINK("http://x","y").csv`, 'a formula is written as text');
      assert.equal(row.occurred_at, '2026-10-01T00:00:01.000Z');
      assert.equal(row.hostname, 'alice-pc');
      assert.equal(row.size_bytes, '42');
      assert.equal(row.sha256, 'd4'.repeat(32));
      assert.deepEqual([row.device_vendor_id, row.device_product_id, row.device_serial], ['0781', '5567', 'STICK-1']);
      assert.equal(row.attached_event_id, stick.eventId);
      assert.equal(row.findings, 'my_number=1');
      assert.equal(row.has_personal_data, 'true');
      assert.equal(row.destination_encrypted, 'false');
      assert.equal(row.violations, `${PERSONAL};${UNREGISTERED}`);
      assert.equal(row.event_id, inside.eventId);
      assert.equal(rows[1][header.indexOf('path')], 'フォルダ/名簿, 2026.txt', 'commas and Japanese survive');

      for (const query of ['since=2026-10-01T00:00:00Z', 'until=2026-11-01T00:00:00Z', 'since=2026-11-01T00:00:00Z&until=2026-10-01T00:00:00Z', 'since=last-month&until=2026-11-01T00:00:00Z']) {
        const bad: { status: number; body: { message: string } } = await sut.rest('GET', `/api/v1/transfers/export.csv?${query}`);
        assert.equal(bad.status, 400, query);
      }
    });

    test('a bad FileTransfer fails its batch with the field path and stores nothing', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const agent = await enrollAgent(t, sut);
      const good = transfer({ path: 'good.txt' });
      const cases: Array<[(event: Event) => void, string]> = [
        [(event) => (event.fileTransfer!.sha256 = 'XYZ'), 'events[1].file_transfer.sha256: must be 64 lower-case hex digits or empty'],
        [(event) => (event.fileTransfer!.sizeBytes = '18446744073709551615'), 'events[1].file_transfer.size_bytes: must be at most 9223372036854775807, got 18446744073709551615'],
        [(event) => (event.fileTransfer!.attachedEventId = 'plug-1'), 'events[1].file_transfer.attached_event_id: must be a UUID or empty, got "plug-1"'],
        [
          (event) => (event.fileTransfer!.findings = [{ kind: PersonalDataKind.PERSONAL_DATA_KIND_EMAIL_ADDRESS, count: 1 }, { kind: PersonalDataKind.PERSONAL_DATA_KIND_EMAIL_ADDRESS, count: 2 }]),
          'events[1].file_transfer.findings[1].kind: PERSONAL_DATA_KIND_EMAIL_ADDRESS is listed more than once',
        ],
        [(event) => (event.fileTransfer!.findings = [{ kind: PersonalDataKind.PERSONAL_DATA_KIND_UNSPECIFIED, count: 1 }]), 'events[1].file_transfer.findings[0].kind: must name a kind of personal data'],
        [(event) => ((event.fileTransfer!.operation = FileOperation.FILE_OPERATION_RENAMED), (event.fileTransfer!.previousPath = '')), 'events[1].file_transfer.previous_path: must be set for a rename'],
        [(event) => (event.fileTransfer!.format = 'x'.repeat(33)), 'events[1].file_transfer.format: must be at most 32 characters, got 33'],
      ];
      for (const [spoil, message] of cases) {
        const bad = transfer({ path: 'bad.txt' });
        spoil(bad);
        const error = await failure(upload(t, sut, agent, [good, bad]));
        assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
        assert.equal(error.details, message);
        assert.deepEqual(error.metadata.get('mamori-invalid-event-index'), ['1']);
      }
      assert.deepEqual(await transfers(sut), [], 'no transfer of a refused batch is stored');
      assert.equal((await sut.rest('GET', '/api/v1/events/count')).body.count, 0, 'nor any event');
      assert.equal((await upload(t, sut, agent, [good])).storedCount, 1, 'the collector keeps serving');
      assert.equal((await transfers(sut)).length, 1);
    });

    test('transfer settings: PUT publishes watched folders and budgets to agents (GetPolicy); limits stay on the collector; bad values are a 400 naming the field', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const defaults = await sut.rest('GET', '/api/v1/policy/transfers');
      assert.equal(defaults.status, 200);
      assert.deepEqual(
        { ...defaults.body },
        { watchedFolders: [], inspectionByteBudget: 0, inspectionTimeBudgetMillis: 0, dailyFileLimit: 1000, dailyByteLimit: 4 * 1024 ** 3, updatedAt: null, policyVersion: 1 },
      );
      const agent = await enrollAgent(t, sut);
      const client = policyClient(t, sut, agent.credentials);
      const first = await unary<GetPolicyResponse>((cb) => client.getPolicy({ knownVersion: '0', knownLineageId: '' }, cb));
      assert.deepEqual(first.policy?.transfer, { watchedFolders: [], inspectionByteBudget: '0', inspectionTimeBudgetMillis: 0 });

      const changed = await sut.rest('PUT', '/api/v1/policy/transfers', {
        watchedFolders: ['/srv/outbox/', 'C:\\Users\\Public\\OneDrive', '\\\\files\\share\\outbox'],
        inspectionByteBudget: 8 * 1024 * 1024,
        inspectionTimeBudgetMillis: 2000,
      });
      assert.equal(changed.status, 200, JSON.stringify(changed.body));
      assert.equal(changed.body.policyVersion, 2);
      assert.deepEqual(changed.body.watchedFolders, ['/srv/outbox', 'C:\\Users\\Public\\OneDrive', '\\\\files\\share\\outbox'], 'trailing separators dropped');
      assert.equal(changed.body.dailyFileLimit, 1000, 'fields left out keep their value');
      const pushed = await unary<GetPolicyResponse>((cb) => client.getPolicy({ knownVersion: '1', knownLineageId: first.policy!.lineageId }, cb));
      assert.equal(pushed.unchanged, false);
      assert.equal(pushed.policy?.version, '2');
      assert.deepEqual(pushed.policy?.transfer, {
        watchedFolders: ['/srv/outbox', 'C:\\Users\\Public\\OneDrive', '\\\\files\\share\\outbox'],
        inspectionByteBudget: String(8 * 1024 * 1024),
        inspectionTimeBudgetMillis: 2000,
      });
      assert.deepEqual((await sut.rest('GET', '/api/v1/policy')).body.transfer, {
        watchedFolders: ['/srv/outbox', 'C:\\Users\\Public\\OneDrive', '\\\\files\\share\\outbox'],
        inspectionByteBudget: 8 * 1024 * 1024,
        inspectionTimeBudgetMillis: 2000,
      });

      const limitsOnly = await sut.rest('PUT', '/api/v1/policy/transfers', { dailyFileLimit: 50 });
      assert.equal(limitsOnly.body.policyVersion, 2, 'a limit change publishes nothing');
      const same = await sut.rest('PUT', '/api/v1/policy/transfers', { inspectionTimeBudgetMillis: 2000 });
      assert.equal(same.body.policyVersion, 2, 'an unchanged value publishes nothing');
      assert.equal((await unary<GetPolicyResponse>((cb) => client.getPolicy({ knownVersion: '2', knownLineageId: first.policy!.lineageId }, cb))).unchanged, true);

      for (const [body, message] of [
        [{ watchedFolders: ['outbox'] }, /watchedFolders\[0\] must be an absolute path/],
        [{ watchedFolders: ['/srv/ok', '/'] }, /watchedFolders\[1\] must not be the root/],
        [{ watchedFolders: ['C:\\'] }, /watchedFolders\[0\] must not be the root/],
        [{ watchedFolders: ['/srv/../etc'] }, /watchedFolders\[0\] must not contain \. or \.\. segments/],
        [{ watchedFolders: ['/srv/a', '/srv/a/'] }, /watchedFolders\[1\] is listed twice/],
        [{ watchedFolders: '/srv/a' }, /watchedFolders must be a list/],
        [{ watchedFolders: [7] }, /watchedFolders must hold only strings/],
        [{ inspectionByteBudget: -1 }, /inspectionByteBudget must be a whole number/],
        [{ inspectionTimeBudgetMillis: 1.5 }, /inspectionTimeBudgetMillis must be a whole number/],
        [{ dailyByteLimit: 'lots' }, /dailyByteLimit must be a whole number/],
        [{ watchOutbox: true }, /watchOutbox/],
        [{}, /at least one of/],
      ] as const) {
        const answer: { status: number; body: { message: string } } = await sut.rest('PUT', '/api/v1/policy/transfers', body);
        assert.equal(answer.status, 400, JSON.stringify(body));
        assert.match(answer.body.message, message, JSON.stringify(answer.body));
      }
      assert.equal((await sut.rest('GET', '/api/v1/policy')).body.version, 2, 'nothing published by refused changes');
      assert.deepEqual((await sut.rest('GET', '/api/v1/policy/transfers')).body.dailyFileLimit, 50);
    });
  });
}
