import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { validateUploadBatch } from '../../../server/src/modules/ingest/event-validation';
import { policyDocumentFrom } from '../../../server/src/modules/policy/policy-document';
import { watchedFolderProblem } from '../../../server/src/modules/policy/transfer-settings';
import {
  breaksPersonalDataRule,
  dailyVolumeKey,
  exceedsDailyLimits,
  mediaStanding,
  plugOf,
  transferRowOf,
} from '../../../server/src/modules/transfers/transfers.rules';
import { evaluatorPolicy } from '../../../server/src/modules/violations/usb-device.rules';

const AGENT = '33333333-3333-4333-8333-333333333333';
const PLUG = '11111111-1111-4111-8111-111111111111';
const AT = Date.parse('2026-10-01T03:00:00Z');

const stick = (overrides: Record<string, unknown> = {}) => ({
  vendorId: 0x0781,
  productId: 0x5567,
  serial: 'S-1',
  manufacturer: 'SanDisk',
  product: 'Cruzer Blade',
  interfaceClasses: [8],
  busPath: '1-2',
  descriptorHash: '',
  serialQuality: 'SERIAL_QUALITY_PRESENT',
  ...overrides,
});

/** A file_transfer event through the ingest validation, as the store sees it. */
function row(fileTransfer: Record<string, unknown>) {
  const { events } = validateUploadBatch({
    batchId: randomUUID(),
    events: [{ eventId: randomUUID(), occurredAt: { seconds: String(AT / 1000), nanos: 0 }, sequence: '1', userName: 'session-user', fileTransfer }],
  });
  return transferRowOf(events[0], AGENT, randomUUID(), new Date(AT));
}

const written = (extra: Record<string, unknown> = {}) =>
  row({ channel: 'TRANSFER_CHANNEL_REMOVABLE_MEDIA', operation: 'FILE_OPERATION_WRITTEN', path: 'a.csv', usbDevice: stick(), attachedEventId: PLUG, destination: '/media/s', ...extra });
const myNumber = [{ kind: 'PERSONAL_DATA_KIND_MY_NUMBER', count: 2 }];

test('a transfer row: enum names, findings as counts per kind (zero counts dropped), the event user when the transfer names none', () => {
  const sut = written({ findings: [...myNumber, { kind: 'PERSONAL_DATA_KIND_EMAIL_ADDRESS', count: 0 }], sizeBytes: '9007199254740991' });
  assert.equal(sut.channel, 'removable_media');
  assert.equal(sut.operation, 'written');
  assert.deepEqual(sut.findings, { my_number: 2 });
  assert.equal(sut.hasPersonalData, true);
  assert.equal(sut.userName, 'session-user');
  assert.equal(sut.sizeBytes, 9007199254740991);
  assert.equal(sut.plugId, PLUG);
  assert.equal(written({ userName: 'alice' }).userName, 'alice');
  assert.equal(written({ findings: [{ kind: 'PERSONAL_DATA_KIND_EMAIL_ADDRESS', count: 0 }] }).hasPersonalData, false);
});

test('transfer.personal_data_unencrypted: only a completed write with findings to an unencrypted destination', () => {
  assert.equal(breaksPersonalDataRule(written({ findings: myNumber })), true);
  assert.equal(breaksPersonalDataRule(written({ findings: myNumber, destinationEncrypted: true })), false, 'encrypted volume');
  assert.equal(breaksPersonalDataRule(written({ format: 'zip', encryptedEntries: 4 })), false, 'password-protected zip, nothing found outside it');
  assert.equal(breaksPersonalDataRule(written({ format: 'zip', encryptedEntries: 1, findings: myNumber })), true, 'personal data in an unprotected entry');
  assert.equal(breaksPersonalDataRule(written({ findings: myNumber, operation: 'FILE_OPERATION_DELETED' })), false);
  assert.equal(breaksPersonalDataRule(written({ findings: myNumber, operation: 'FILE_OPERATION_RENAMED', previousPath: 'b.csv' })), false);
  assert.equal(breaksPersonalDataRule(written({ inspectionComplete: false })), false, 'an inspection cut short that found nothing raises nothing');
  assert.equal(breaksPersonalDataRule(row({ channel: 'TRANSFER_CHANNEL_WATCHED_FOLDER', operation: 'FILE_OPERATION_WRITTEN', path: 'x.csv', findings: myNumber })), true);
});

test('a plug without an attach id is one stable id per agent, device and volume', () => {
  const device = stick() as never;
  const a = plugOf(AGENT, device, '', '/dev/sdb1', '/media/s');
  assert.match(a ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(plugOf(AGENT, device, '', '/dev/sdb1', '/media/s'), a);
  assert.notEqual(plugOf(AGENT, stick({ serial: 'S-2' }) as never, '', '/dev/sdb1', '/media/s'), a);
  assert.notEqual(plugOf(AGENT, device, '', '/dev/sdc1', '/media/s'), a);
  assert.equal(plugOf(AGENT, device, PLUG, '/dev/sdb1', '/media/s'), PLUG);
  assert.equal(plugOf(AGENT, null, '', '', '/srv/outbox'), null);
});

test('unregistered media is judged by the USB evaluator: register, mode allow, and a HID stick by the storage it presents', () => {
  const context = { agentId: AGENT, userName: 'alice', at: new Date(AT) };
  const empty = evaluatorPolicy(policyDocumentFrom(null), []);
  const registered = evaluatorPolicy(
    policyDocumentFrom({ usb: { registeredDevices: [{ entryId: PLUG, vendorId: 0x0781, productId: 0x5567, serial: 'S-1', label: 'L', holder: 'H' }] } }),
    [],
  );
  const allowAll = evaluatorPolicy(policyDocumentFrom({ usb: { unregisteredDeviceMode: 'USB_ENFORCEMENT_MODE_ALLOW' } }), []);
  assert.equal(mediaStanding(stick() as never, empty, context).unregistered, true);
  assert.equal(mediaStanding(stick() as never, registered, context).unregistered, false);
  assert.equal(mediaStanding(stick() as never, allowAll, context).unregistered, false, 'unregistered devices allowed by policy');
  assert.equal(mediaStanding(stick({ interfaceClasses: [8, 3] }) as never, empty, context).unregistered, true);
  assert.equal(mediaStanding(stick({ interfaceClasses: [8, 3] }) as never, registered, context).unregistered, false);
  assert.equal(mediaStanding(stick({ interfaceClasses: [6] }) as never, empty, context).unregistered, false, 'not mass storage');
});

test('daily limits: over either limit, 0 turns a limit off; one key per user and day, per agent when nobody was logged in', () => {
  const volume = { userName: 'alice', day: '2026-10-01', files: 11, bytes: 100 };
  assert.equal(exceedsDailyLimits(volume, { dailyFileLimit: 10, dailyByteLimit: 0 }), true);
  assert.equal(exceedsDailyLimits(volume, { dailyFileLimit: 11, dailyByteLimit: 100 }), false, 'at the limit is not over it');
  assert.equal(exceedsDailyLimits(volume, { dailyFileLimit: 0, dailyByteLimit: 99 }), true);
  assert.equal(exceedsDailyLimits(volume, { dailyFileLimit: 0, dailyByteLimit: 0 }), false);
  assert.equal(dailyVolumeKey('alice', AGENT, '2026-10-01'), 'transfer.daily_volume:user:alice:2026-10-01');
  assert.equal(dailyVolumeKey('', AGENT, '2026-10-01'), `transfer.daily_volume:agent:${AGENT}:nobody:2026-10-01`);
});

test('watched folders: absolute POSIX, drive and UNC paths; no relative paths, roots, dot segments or control characters', () => {
  for (const good of ['/srv/outbox', '/home/alice/Dropbox/', 'C:\\Users\\alice\\OneDrive', 'd:/share', '\\\\files\\share', '\\\\files\\share\\outbox']) {
    assert.equal(watchedFolderProblem(good), null, good);
  }
  for (const [bad, problem] of [
    ['outbox', /absolute path/],
    ['~/Dropbox', /absolute path/],
    ['\\Users\\alice', /absolute path/],
    ['\\\\files', /absolute path/],
    ['/', /root/],
    ['//', /root/],
    ['C:\\', /root/],
    ['/srv/./outbox', /\. or \.\./],
    ['C:\\Users\\..\\Windows', /\. or \.\./],
    ['/srv/out\nbox', /control characters/],
    [' /srv/outbox', /blanks/],
    ['', /absolute path/],
    ['/' + 'a'.repeat(1024), /at most 1024/],
  ] as const) {
    assert.match(watchedFolderProblem(bad) ?? 'accepted', problem, JSON.stringify(bad));
  }
});
