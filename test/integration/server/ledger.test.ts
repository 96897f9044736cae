import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EncryptionScheme, Event } from '../../../agent/src/generated/mamori/v1/events';
import { HeartbeatRequest, PostureCheck, type HeartbeatResponse, type UploadEventsResponse } from '../../../agent/src/generated/mamori/v1/telemetry';
import { LedgerSweeper } from '../../../server/src/modules/ledger/ledger-sweeper';
import { DATABASE_KINDS } from '../../support/databases';
import { REPO_ROOT } from '../../support/processes';
import { EnrolledAgent, enrollAgent, startTestCollector, telemetryClient, TestCollector, unary } from './collector-harness';

const FIXTURES = join(REPO_ROOT, 'test/fixtures/ledger');
const DAY = 86_400_000;

interface Volume {
  device: string;
  mountPoint: string;
  systemVolume?: boolean;
  scheme: EncryptionScheme;
  fullyEncrypted?: boolean;
  percentEncrypted?: number;
  protectionOn?: boolean;
}

const root = (scheme: EncryptionScheme, extra: Partial<Volume> = {}): Volume => {
  const encrypted = scheme !== EncryptionScheme.ENCRYPTION_SCHEME_NONE;
  return { device: '/dev/mapper/root', mountPoint: '/', systemVolume: true, scheme, fullyEncrypted: encrypted, percentEncrypted: encrypted ? 100 : 0, protectionOn: encrypted, ...extra };
};
const bootEfi: Volume = { device: '/dev/nvme0n1p1', mountPoint: '/boot/efi', scheme: EncryptionScheme.ENCRYPTION_SCHEME_NONE };

function volumes(list: Volume[]) {
  return list.map((v) => ({
    device: v.device,
    mountPoint: v.mountPoint,
    systemVolume: v.systemVolume ?? false,
    removable: false,
    encryption: { scheme: v.scheme, fullyEncrypted: v.fullyEncrypted ?? false, percentEncrypted: v.percentEncrypted ?? 0, protectionOn: v.protectionOn ?? false },
    locked: false,
    method: v.scheme === EncryptionScheme.ENCRYPTION_SCHEME_NONE ? '' : 'aes-xts-plain64',
    sizeBytes: '511101108224',
    filesystemType: 'ext4',
    encryptedBy: '',
  }));
}

interface Host {
  hostname?: string;
  serial?: string;
}

/** A heartbeat as the agent sends it: host facts with the hardware serial, and the disk posture (or none: checks not run). */
async function heartbeat(t: TestContext, sut: TestCollector, agent: EnrolledAgent, host: Host, disks: { fixed: PostureCheck; system: PostureCheck; volumes: Volume[] } | null) {
  const request = HeartbeatRequest.fromPartial({
    host: {
      hostname: host.hostname ?? 'sales-pc-01',
      osFamily: 'linux',
      osVersion: '6.1.0-18-amd64',
      agentVersion: '0.1.0',
      loggedInUsers: ['hanako'],
      networkInterfaces: [{ name: 'eth0', macAddress: '52:54:00:12:34:56', addresses: ['10.0.0.5/24'] }],
      architecture: 'x64',
      machineId: 'm-1',
      hardwareSerial: host.serial ?? '',
      hardwareModel: 'ThinkPad T14 Gen 3',
      hardwareVendor: 'LENOVO',
    },
    posture:
      disks === null
        ? { fixedDisksEncrypted: PostureCheck.POSTURE_CHECK_UNSPECIFIED, systemVolumeEncrypted: PostureCheck.POSTURE_CHECK_UNSPECIFIED }
        : { fixedDisksEncrypted: disks.fixed, systemVolumeEncrypted: disks.system, volumes: volumes(disks.volumes), encryptionProblems: [] },
    health: { policyVersion: '1', sources: ['disk-encryption:fake'] },
  });
  return unary<HeartbeatResponse>((cb) => telemetryClient(t, sut, agent.credentials).heartbeat(request, cb));
}

const UNENCRYPTED = { fixed: PostureCheck.POSTURE_CHECK_FAILED, system: PostureCheck.POSTURE_CHECK_FAILED, volumes: [root(EncryptionScheme.ENCRYPTION_SCHEME_NONE), bootEfi] };
const ENCRYPTED = { fixed: PostureCheck.POSTURE_CHECK_PASSED, system: PostureCheck.POSTURE_CHECK_PASSED, volumes: [root(EncryptionScheme.ENCRYPTION_SCHEME_LUKS2), bootEfi] };

let sequence = 1;
function diskEvent(list: Volume[], at = new Date()): Event {
  return Event.fromPartial({
    eventId: randomUUID(),
    occurredAt: { seconds: String(Math.floor(at.getTime() / 1000)), nanos: (at.getTime() % 1000) * 1_000_000 },
    sequence: String(sequence++),
    userName: 'hanako',
    diskEncryptionStatus: { volumes: volumes(list), problems: [] },
  });
}

async function upload(t: TestContext, sut: TestCollector, agent: EnrolledAgent, events: Event[]) {
  return unary<UploadEventsResponse>((cb) => telemetryClient(t, sut, agent.credentials).uploadEvents({ batchId: randomUUID(), events }, cb));
}

async function violations(sut: TestCollector, rule: string): Promise<Array<Record<string, any>>> {
  const page = await sut.rest('GET', `/api/v1/violations?rule=${rule}&limit=500`);
  assert.equal(page.status, 200, JSON.stringify(page.body));
  return page.body.items;
}

async function devices(sut: TestCollector, query = ''): Promise<Array<Record<string, any>>> {
  const page = await sut.rest('GET', `/api/v1/ledger/devices?limit=500${query}`);
  assert.equal(page.status, 200, JSON.stringify(page.body));
  return page.body.items;
}

async function postCsv(sut: TestCollector, body: Buffer | string, contentType = 'text/csv'): Promise<{ status: number; body: any }> {
  const response = await fetch(`${sut.httpBase}/api/v1/ledger/import`, {
    method: 'POST',
    headers: { authorization: `Bearer ${'integration-test-admin-token-0123456789'}`, 'content-type': contentType },
    body,
  });
  return { status: response.status, body: JSON.parse(await response.text()) };
}

const ledgerRow = (overrides: Record<string, unknown> = {}) => ({
  assetTag: 'PC-SALES-001',
  hardwareSerial: 'PF3ABC01',
  hostname: 'sales-pc-01',
  department: 'Sales',
  holder: 'Hanako Yamada',
  loanedSince: '2025-04-01',
  dueBack: '2099-03-31',
  status: 'on_loan',
  ...overrides,
});

for (const kind of DATABASE_KINDS) {
  describe(`laptop ledger on ${kind}`, () => {
    test('disk.unencrypted from heartbeats: raised once, kept while no check runs, cleared when the disks report encrypted', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      assert.equal((await sut.rest('POST', '/api/v1/ledger/devices', ledgerRow())).status, 201);
      const agent = await enrollAgent(t, sut, 'sales-pc-01');

      await heartbeat(t, sut, agent, { serial: 'PF3ABC01' }, UNENCRYPTED);
      await heartbeat(t, sut, agent, { serial: 'PF3ABC01' }, UNENCRYPTED);
      let open = await violations(sut, 'disk.unencrypted');
      assert.equal(open.length, 1, 'two reports of the same unencrypted disk make one violation');
      assert.equal(open[0].status, 'open');
      assert.equal(open[0].agentId, agent.agentId);
      assert.equal(open[0].severity, 'high');
      assert.match(open[0].summary, /system volume \/ \(\/dev\/mapper\/root\) is not encrypted/);
      assert.doesNotMatch(open[0].summary, /boot\/efi/, 'the pre-boot partition is not judged');
      assert.equal(open[0].device.assetTag, 'PC-SALES-001');

      const [record] = await devices(sut, '&encrypted=no');
      assert.equal(record.assetTag, 'PC-SALES-001');
      assert.equal(record.matchedBy, 'hardware_serial');
      assert.equal(record.agent.id, agent.agentId);
      assert.equal(record.agent.hardwareSerial, 'PF3ABC01');
      assert.equal(record.agent.hardwareModel, 'ThinkPad T14 Gen 3');
      assert.equal(record.agent.lastUser, 'hanako');
      assert.deepEqual(record.agent.networkAddresses, ['10.0.0.5/24']);
      assert.equal(record.encryption.state, 'not_encrypted');
      assert.equal(record.encryption.volumes.length, 2);
      assert.equal(record.encryption.volumes[0].scheme, 'none');

      // The encryption source has not run (an agent restarting): not a pass, not a failure; the violation stays.
      await heartbeat(t, sut, agent, { serial: 'PF3ABC01' }, null);
      assert.equal((await sut.rest('GET', `/api/v1/ledger/devices/${record.id}`)).body.encryption.state, 'unknown');
      open = await violations(sut, 'disk.unencrypted');
      assert.equal(open[0].status, 'open');

      await heartbeat(t, sut, agent, { serial: 'PF3ABC01' }, ENCRYPTED);
      const cleared = await violations(sut, 'disk.unencrypted');
      assert.equal(cleared.length, 1);
      assert.equal(cleared[0].status, 'resolved');
      assert.match(cleared[0].note, /cleared by the collector .*every fixed disk encrypted/);
      const compliant = (await sut.rest('GET', `/api/v1/ledger/devices/${record.id}`)).body;
      assert.equal(compliant.encryption.state, 'encrypted');
      assert.equal(compliant.encryption.fixedDisksEncrypted, 'passed');
      assert.deepEqual((await devices(sut, '&encrypted=yes')).map((d) => d.id), [record.id]);

      // In progress or suspended is not compliant yet, and a new episode is a new violation.
      const suspended = { ...ENCRYPTED, fixed: PostureCheck.POSTURE_CHECK_UNSPECIFIED, system: PostureCheck.POSTURE_CHECK_UNSPECIFIED, volumes: [root(EncryptionScheme.ENCRYPTION_SCHEME_BITLOCKER, { protectionOn: false })] };
      await heartbeat(t, sut, agent, { serial: 'PF3ABC01' }, suspended);
      const again = (await violations(sut, 'disk.unencrypted')).filter((v) => v.status === 'open');
      assert.equal(again.length, 1);
      assert.match(again[0].summary, /BitLocker protection is suspended/);
    });

    test('disk.unencrypted from DiskEncryptionStatus events: in progress is not compliant, a stale event does not undo a newer report', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const agent = await enrollAgent(t, sut, 'dev-build-01');
      const converting = diskEvent([root(EncryptionScheme.ENCRYPTION_SCHEME_LUKS2, { fullyEncrypted: false, percentEncrypted: 40, protectionOn: true })]);
      await upload(t, sut, agent, [converting]);
      const [violation] = await violations(sut, 'disk.unencrypted');
      assert.equal(violation.eventId, converting.eventId, 'the violation names the event that showed it');
      assert.match(violation.summary, /LUKS2 encryption in progress or paused \(40% encrypted\); not compliant until it completes/);
      assert.equal(violation.userName, 'hanako');

      const done = diskEvent([root(EncryptionScheme.ENCRYPTION_SCHEME_LUKS2)]);
      const stale = diskEvent([root(EncryptionScheme.ENCRYPTION_SCHEME_NONE)], new Date(Date.now() - 60_000));
      await upload(t, sut, agent, [done, stale]);
      const [after] = await violations(sut, 'disk.unencrypted');
      assert.equal(after.status, 'resolved');
      assert.match(after.note, new RegExp(`event ${done.eventId}`));
      const [record] = await devices(sut);
      assert.equal(record.encryption.state, 'encrypted', 'the older event does not overwrite the newer report');
      assert.equal(record.encryption.source, 'event');
      assert.equal((await violations(sut, 'disk.unencrypted')).length, 1);
    });

    test('ledger.unknown_device: an enrolled machine outside the ledger, cleared when its row is added', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const agent = await enrollAgent(t, sut, 'mystery');
      await heartbeat(t, sut, agent, { hostname: 'mystery', serial: 'PERSONAL-42' }, ENCRYPTED);
      await heartbeat(t, sut, agent, { hostname: 'mystery', serial: 'PERSONAL-42' }, ENCRYPTED);
      const [violation, ...more] = await violations(sut, 'ledger.unknown_device');
      assert.equal(more.length, 0);
      assert.equal(violation.status, 'open');
      assert.match(violation.summary, /mystery \(serial PERSONAL-42\) is not in the ledger/);
      const outside = await devices(sut, '&status=not_in_ledger');
      assert.equal(outside.length, 1);
      assert.equal(outside[0].inLedger, false);
      assert.equal(outside[0].matchedBy, 'discovered');

      // A machine with no usable serial is found by host name.
      const created = await sut.rest('POST', '/api/v1/ledger/devices', ledgerRow({ assetTag: 'PC-IT-007', hardwareSerial: 'personal-42', hostname: 'other', department: 'IT' }));
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.agent?.id, agent.agentId, 'the serial (case aside) matched the enrolled machine');
      assert.equal(created.body.matchedBy, 'hardware_serial');
      const [cleared] = await violations(sut, 'ledger.unknown_device');
      assert.equal(cleared.status, 'resolved');
      assert.match(cleared.note, /in the ledger as asset tag PC-IT-007/);
      assert.equal((await devices(sut, '&status=not_in_ledger')).length, 0, 'the discovered row merged into the ledger row');

      const second = await enrollAgent(t, sut, 'vm-7');
      await heartbeat(t, sut, second, { hostname: 'vm-7.corp.example', serial: 'To Be Filled By O.E.M.' }, null);
      assert.equal((await violations(sut, 'ledger.unknown_device')).filter((v) => v.status === 'open').length, 1);
      const [discovered] = await devices(sut, '&status=not_in_ledger');
      const adopted = await sut.rest('PATCH', `/api/v1/ledger/devices/${discovered.id}`, { department: 'IT' });
      assert.equal(adopted.status, 400);
      assert.match(adopted.body.message, /not in the ledger yet: give its status/);
      const added = await sut.rest('PATCH', `/api/v1/ledger/devices/${discovered.id}`, { assetTag: 'VM-007', department: 'IT', status: 'in_stock' });
      assert.equal(added.status, 200, JSON.stringify(added.body));
      assert.equal(added.body.inLedger, true);
      assert.equal((await violations(sut, 'ledger.unknown_device')).filter((v) => v.status === 'open').length, 0);
      const byName = await sut.rest('POST', '/api/v1/ledger/devices', ledgerRow({ assetTag: 'PC-X', hardwareSerial: '', hostname: 'VM-7', department: 'IT' }));
      assert.equal(byName.status, 201);
      assert.equal(byName.body.agent, null, 'the agent already has its row; a second row with its name does not steal it');
    });

    test('agent.silent: raised by the sweeper after the configured time, once, and cleared when the agent is heard', async (t) => {
      const sut = await startTestCollector(t, kind, { MAMORI_AGENT_SILENT_AFTER_SECONDS: '3600' });
      if (sut === null) return;
      const sweeper = sut.collector.app.get(LedgerSweeper);
      const agent = await enrollAgent(t, sut, 'sales-pc-01');
      assert.equal((await sut.rest('POST', '/api/v1/ledger/devices', ledgerRow())).status, 201);
      await heartbeat(t, sut, agent, { serial: 'PF3ABC01' }, ENCRYPTED);

      assert.deepEqual(await sweeper.sweep(new Date(Date.now() + 59 * 60_000)), { raised: 0, cleared: 0 }, 'not silent before the limit');
      const later = new Date(Date.now() + 2 * 3_600_000);
      assert.equal((await sweeper.sweep(later)).raised, 1);
      assert.equal((await sweeper.sweep(later)).raised, 0, 'no second violation for the same silence');
      const [violation] = await violations(sut, 'agent.silent');
      assert.equal(violation.status, 'open');
      assert.equal(violation.severity, 'medium');
      assert.equal(violation.device.assetTag, 'PC-SALES-001');
      assert.match(violation.summary, /has not reported since/);

      await heartbeat(t, sut, agent, { serial: 'PF3ABC01' }, ENCRYPTED);
      const [cleared] = await violations(sut, 'agent.silent');
      assert.equal(cleared.status, 'resolved');
      assert.match(cleared.note, /heard again/);

      // A machine the ledger already calls lost is not reported silent again.
      const [record] = await devices(sut);
      assert.equal((await sut.rest('PATCH', `/api/v1/ledger/devices/${record.id}`, { status: 'lost' })).status, 200);
      assert.equal((await sweeper.sweep(new Date(Date.now() + 5 * 3_600_000))).raised, 0);
    });

    test('ledger.overdue: past due back while on loan, for enrolled and not-yet-enrolled machines; cleared when returned', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const sweeper = sut.collector.app.get(LedgerSweeper);
      const yesterday = new Date(Date.now() - DAY);
      const ymd = (d: Date) => `${d.getFullYear()}/${d.getMonth() + 1}/${d.getDate()}`;
      const late = await sut.rest('POST', '/api/v1/ledger/devices', ledgerRow({ assetTag: 'PC-LATE', hardwareSerial: 'L-1', dueBack: ymd(yesterday), loanedSince: '2020-01-01' }));
      assert.equal(late.status, 201, JSON.stringify(late.body));
      assert.equal(late.body.overdue, true);
      const today = new Date();
      const dueToday = await sut.rest('POST', '/api/v1/ledger/devices', ledgerRow({ assetTag: 'PC-TODAY', hardwareSerial: 'T-1', dueBack: ymd(today), loanedSince: '2020-01-01' }));
      assert.equal(dueToday.body.overdue, false, 'due back today is not overdue yet');

      const [violation, ...more] = await violations(sut, 'ledger.overdue');
      assert.equal(more.length, 0);
      assert.equal(violation.agentId, null, 'the machine was never enrolled');
      assert.equal(violation.device.assetTag, 'PC-LATE');
      assert.match(violation.summary, /PC-LATE to Hanako Yamada \(Sales\) was due back on/);
      assert.deepEqual((await devices(sut, '&overdue=true')).map((d) => d.assetTag), ['PC-LATE']);
      assert.deepEqual((await devices(sut, '&overdue=false')).map((d) => d.assetTag), ['PC-TODAY']);

      const returned = await sut.rest('PATCH', `/api/v1/ledger/devices/${late.body.id}`, { status: 'in_stock', holder: '', loanedSince: null, dueBack: null });
      assert.equal(returned.status, 200, JSON.stringify(returned.body));
      assert.equal(returned.body.overdue, false);

      assert.equal((await sweeper.sweep(new Date(Date.now() + 2 * DAY))).raised, 1, 'the day after its due date the second loan is overdue too');
      assert.equal((await sweeper.sweep(new Date(Date.now() + 2 * DAY))).raised, 0);
      const states = (await violations(sut, 'ledger.overdue')).map((v) => [v.device.assetTag, v.status]).sort();
      assert.deepEqual(states, [['PC-LATE', 'resolved'], ['PC-TODAY', 'open']]);
      const note = (await violations(sut, 'ledger.overdue')).find((v) => v.device.assetTag === 'PC-LATE')!.note;
      assert.match(note, /its ledger status is now in_stock/);
    });

    test('CSV import: a good file, then a bad one reported by line with nothing imported; export and summary', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const good = await postCsv(sut, readFileSync(join(FIXTURES, 'ledger-good.csv')));
      assert.equal(good.status, 200, JSON.stringify(good.body));
      assert.deepEqual(good.body, { rows: 4, created: 4, updated: 0, unchanged: 0, enrolled: 0 });
      const all = await devices(sut);
      const byTag = new Map(all.map((d) => [d.assetTag, d]));
      assert.equal(byTag.get('PC-SALES-001')?.holder, '山田 花子');
      assert.equal(byTag.get('PC-SALES-001')?.loanedSince, '2025-04-01', 'yyyy/m/d is read as a date');
      assert.equal(byTag.get('PC-SALES-002')?.holder, 'Suzuki, Ichiro');
      assert.equal(byTag.get('PC-SALES-002')?.note, 'returns after the trade fair\r\nask before reissuing');
      assert.equal(byTag.get('PC-DEV-001')?.note, 'spare, "golden" image');
      assert.equal(byTag.get('PC-DEV-002')?.status, 'retired');
      assert.deepEqual((await devices(sut, `&department=${encodeURIComponent('開発部')}`)).length, 2);
      assert.equal((await violations(sut, 'ledger.overdue')).length, 1, 'PC-SALES-002 was due back 2025-09-30');

      const again = await postCsv(sut, readFileSync(join(FIXTURES, 'ledger-good.csv')));
      assert.deepEqual(again.body, { rows: 4, created: 0, updated: 0, unchanged: 4, enrolled: 0 });

      const bad = await postCsv(sut, readFileSync(join(FIXTURES, 'ledger-bad.csv')));
      assert.equal(bad.status, 400);
      assert.match(bad.body.message, /nothing was imported/);
      const problems = bad.body.problems.map((p: any) => `${p.line} ${p.column ?? ''}`);
      assert.deepEqual(problems, ['3 holder', '4 loaned_since', '5 asset_tag', '6 hardware_serial', '6 status', '8 hardware_serial', '8 department']);
      assert.match(bad.body.problems.find((p: any) => p.line === 6 && p.column === 'status').message, /"borrowed" is not one of in_stock, on_loan, lost, retired/);
      assert.match(bad.body.problems.find((p: any) => p.line === 5).message, /already on line 2/);
      assert.equal((await devices(sut)).length, 4, 'the good row of the bad file was not imported either');

      // A serial clash with a machine already in the ledger is reported by line too, and rolls everything back.
      const clash = await postCsv(sut, 'asset_tag,hardware_serial,department,status\nPC-NEW-1,N-1,Ops,in_stock\nPC-NEW-2,pf3abc01,Ops,in_stock\n');
      assert.equal(clash.status, 400);
      assert.deepEqual(clash.body.problems.map((p: any) => p.line), [3]);
      assert.match(clash.body.problems[0].message, /already the serial of asset tag PC-SALES-001/);
      assert.equal((await devices(sut)).length, 4);

      const syntax = await postCsv(sut, 'asset_tag,department,status\r\nPC-Q,"Ops,in_stock\r\n');
      assert.equal(syntax.status, 400);
      assert.match(syntax.body.problems[0].message, /opens a quote that is never closed/);
      assert.equal(syntax.body.problems[0].line, 2);
      assert.equal((await postCsv(sut, 'asset_tag,department\nX,Y\n')).body.problems[0].message.includes('lacks status'), true);

      const sjis = await postCsv(sut, readFileSync(join(FIXTURES, 'ledger-shift-jis.csv')), 'text/csv; charset=shift_jis');
      assert.equal(sjis.status, 200, JSON.stringify(sjis.body));
      assert.equal((await devices(sut, `&department=${encodeURIComponent('総務部')}`))[0].holder, '佐藤 次郎');

      const exported = await fetch(`${sut.httpBase}/api/v1/ledger/export`, { headers: { authorization: 'Bearer integration-test-admin-token-0123456789' } });
      assert.equal(exported.status, 200);
      assert.match(exported.headers.get('content-type') ?? '', /^text\/csv/);
      const bytes = Buffer.from(await exported.arrayBuffer());
      assert.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'UTF-8 with BOM, so Excel opens it as UTF-8');
      const text = bytes.toString('utf8');
      assert.ok(text.startsWith('\uFEFFasset_tag,hardware_serial,hostname,department,holder,loaned_since,due_back,status,note\r\n'));
      assert.ok(text.includes('PC-SALES-002,PF3ABC02,sales-pc-02,Sales,"Suzuki, Ichiro",2025-04-01,2025-09-30,on_loan,"returns after the trade fair\r\nask before reissuing"\r\n'));
      const roundTrip = await postCsv(sut, bytes);
      assert.deepEqual(roundTrip.body, { rows: 5, created: 0, updated: 0, unchanged: 5, enrolled: 0 }, 'the export imports back unchanged');

      const summary = await sut.rest('GET', '/api/v1/ledger/summary');
      const sales = summary.body.departments.find((d: any) => d.department === 'Sales');
      assert.deepEqual(sales, {
        department: 'Sales',
        machines: 2,
        enrolled: 0,
        encrypted: 0,
        notEncrypted: 0,
        encryptionUnknown: 2,
        silent: 0,
        overdue: 1,
        byStatus: { in_stock: 0, on_loan: 2, lost: 0, retired: 0, not_in_ledger: 0 },
      });
    });
  });
}
