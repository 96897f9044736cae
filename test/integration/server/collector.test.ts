import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { PostureCheck, type UploadEventsResponse } from '../../../agent/src/generated/mamori/v1/telemetry';
import type { GetPolicyResponse, WatchPolicyResponse } from '../../../agent/src/generated/mamori/v1/policy';
import { loadCollectorConfig } from '../../../server/src/config/collector-config';
import { startCollector } from '../../../server/src/collector';
import { MIGRATIONS, openDatabase } from '../../../server/src/database/data-source.factory';
import { JsonLogger } from '../../../server/src/logging/json-logger';
import { PolicyService } from '../../../server/src/modules/policy/policy.service';
import { freePort } from '../../support/ports';
import { EnrollmentTokensService } from '../../../server/src/modules/enrollment/enrollment-tokens.service';
import { DATABASE_KINDS, provideDatabase } from '../../support/databases';
import {
  enrollAgent,
  enrollmentClient,
  failure,
  makeAgentKey,
  policyClient,
  startTestCollector,
  telemetryClient,
  unary,
  usbAttached,
  collect,
} from './collector-harness';

const SANDISK = { vendorId: 0x0781, productId: 0x5567 };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

for (const kind of DATABASE_KINDS) {
  describe(`collector on ${kind}`, () => {
    test('migrations create the schema on an empty database and are not applied twice', async (t) => {
      const database = await provideDatabase(t, kind);
      if (database === null) return;
      const config = loadCollectorConfig({ MAMORI_DATA_DIR: database.dataDir, MAMORI_DATABASE_URL: database.url });
      const first = await openDatabase(config);
      t.after(() => (first.dataSource.isInitialized ? first.dataSource.destroy() : undefined));
      assert.deepEqual(first.applied, MIGRATIONS.map((migration) => new migration().name), 'every migration, in order');
      assert.deepEqual(first.applied.slice(0, 3), ['InitialSchema1732700000000', 'CollectorSettings1732800000000', 'UsbDeviceControl1733000000000']);
      assert.ok(first.applied.includes('UsbViolationPlugs1733200000000'));
      assert.deepEqual(await first.dataSource.query('SELECT plug_id, judged_under FROM violations'), [], 'violations name their plug and the policy that judged them');
      for (const table of ['enrollment_tokens', 'agents', 'events', 'violations', 'usb_register_entries', 'policy_versions', 'admin_credentials', 'usb_exceptions', 'usb_exception_uses']) {
        const rows = await first.dataSource.query(`SELECT COUNT(*) AS count FROM ${table}`);
        assert.equal(Number(rows[0].count), 0, `${table} exists and is empty`);
      }
      const lineage = async (dataSource: typeof first.dataSource) =>
        (await dataSource.query("SELECT value FROM collector_settings WHERE name = 'policy_lineage_id'")) as Array<{ value: string }>;
      const made = await lineage(first.dataSource);
      assert.equal(made.length, 1);
      assert.match(made[0].value, UUID);
      await first.dataSource.destroy();
      const second = await openDatabase(config);
      t.after(() => (second.dataSource.isInitialized ? second.dataSource.destroy() : undefined));
      assert.deepEqual(second.applied, []);
      assert.deepEqual(await lineage(second.dataSource), made, 'the lineage id is made once per database');
    });

    test('the first start publishes policy version 1 and reports the database kind', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const health = await sut.rest('GET', '/api/v1/health', undefined, null);
      assert.deepEqual(health.body, { status: 'ok', database: kind });
      const policy = await sut.rest('GET', '/api/v1/policy');
      assert.equal(policy.body.version, 1);
      assert.match(policy.body.lineageId, UUID);
      assert.deepEqual(policy.body.usb, {
        unregisteredDeviceMode: 'audit',
        registeredDeviceMode: 'allow',
        requireEncryptedMedia: false,
        unencryptedMediaMode: 'audit',
        storageWithHidMode: 'audit',
        registeredDevices: [],
        exceptions: [],
      });
    });

    test('the same batch sent twice is stored once and raises one violation', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const agent = await enrollAgent(t, sut);
      const telemetry = telemetryClient(t, sut, agent.credentials);
      const request = { batchId: randomUUID(), events: [usbAttached(SANDISK), usbAttached({ ...SANDISK, interfaceClasses: [3] })] };

      const first = await unary<UploadEventsResponse>((cb) => telemetry.uploadEvents(request, cb));
      const second = await unary<UploadEventsResponse>((cb) => telemetry.uploadEvents(request, cb));

      assert.deepEqual(first, { batchId: request.batchId, storedCount: 2, duplicateCount: 0 });
      assert.deepEqual(second, { batchId: request.batchId, storedCount: 0, duplicateCount: 2 });
      assert.equal((await sut.rest('GET', `/api/v1/events/count?agentId=${agent.agentId}`)).body.count, 2);
      const violations = await sut.rest('GET', '/api/v1/violations');
      assert.equal(violations.body.items.length, 1);
      const [violation] = violations.body.items;
      assert.equal(violation.rule, 'usb.unregistered_device');
      assert.equal(violation.severity, 'high');
      assert.equal(violation.status, 'open');
      assert.equal(violation.agentId, agent.agentId);
      assert.equal(violation.hostname, 'test-host');
      assert.equal(violation.userName, 'alice');
      assert.equal(violation.eventId, request.events[0].eventId);
      assert.deepEqual(violation.device, {
        vendorId: '0781',
        productId: '5567',
        serial: '4C530001',
        manufacturer: 'SanDisk',
        product: 'Cruzer Blade',
        interfaceClasses: [8],
        busPath: '1-2',
        serialQuality: 'unspecified',
      });
      assert.equal(violation.enforcement, null, 'the harness event reports no enforcement');
      const shown = await sut.rest('GET', `/api/v1/violations/${violation.id}`);
      assert.equal(shown.body.summary, violation.summary);
    });

    test('a malformed event fails the batch with INVALID_ARGUMENT naming the field and stores nothing', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const agent = await enrollAgent(t, sut);
      const telemetry = telemetryClient(t, sut, agent.credentials);
      const events = [usbAttached(SANDISK), usbAttached({ vendorId: 70000, productId: 1 })];

      const error = await failure(unary((cb) => telemetry.uploadEvents({ batchId: randomUUID(), events }, cb)));

      assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
      assert.equal(error.details, 'events[1].usb_device_attached.device.vendor_id: must be 0..65535, got 70000');
      assert.deepEqual(error.metadata.get('mamori-invalid-event-index'), ['1']);
      assert.equal((await sut.rest('GET', '/api/v1/events/count')).body.count, 0);
      assert.equal((await sut.rest('GET', '/api/v1/violations')).body.items.length, 0);

      const resent = await unary<UploadEventsResponse>((cb) => telemetry.uploadEvents({ batchId: randomUUID(), events: [events[0]] }, cb));
      assert.equal(resent.storedCount, 1, 'the valid event is accepted once resent without the bad one');
    });

    test('a registered stick raises no violation; another serial of the same model does', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const entry = await sut.rest('POST', '/api/v1/usb-register', { vendorId: '0781', productId: '5567', serial: '4C530001', label: 'Sales 12', holder: 'Hanako', department: 'Sales' });
      assert.equal(entry.status, 201);
      assert.equal(entry.body.vendorId, '0781');
      const duplicate = await sut.rest('POST', '/api/v1/usb-register', { vendorId: '0781', productId: '5567', serial: '4C530001', label: 'again', holder: 'Taro', department: 'Sales' });
      assert.equal(duplicate.status, 409);
      const agent = await enrollAgent(t, sut);
      const telemetry = telemetryClient(t, sut, agent.credentials);

      const registered = usbAttached({ ...SANDISK, serial: '4C530001' });
      const stranger = usbAttached({ ...SANDISK, serial: '4C530099' });
      const noSerial = usbAttached({ ...SANDISK, serial: '' });
      await unary((cb) => telemetry.uploadEvents({ batchId: randomUUID(), events: [registered, stranger, noSerial] }, cb));

      const violations = (await sut.rest('GET', '/api/v1/violations')).body.items as Array<{ eventId: string }>;
      assert.deepEqual(violations.map((v) => v.eventId).sort(), [stranger.eventId, noSerial.eventId].sort());
    });

    test('violations are listed newest first, filtered and paginated by cursor, and can be triaged', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const alice = await enrollAgent(t, sut, 'alice-pc');
      const bob = await enrollAgent(t, sut, 'bob-pc');
      const base = Date.parse('2025-03-01T09:00:00Z');
      const aliceEvents = Array.from({ length: 5 }, (_, i) => usbAttached({ ...SANDISK, serial: `A${i}` }, new Date(base + i * 60_000)));
      const bobEvents = Array.from({ length: 2 }, (_, i) => usbAttached({ ...SANDISK, serial: `B${i}` }, new Date(base + i * 60_000 + 30_000)));
      await unary((cb) => telemetryClient(t, sut, alice.credentials).uploadEvents({ batchId: randomUUID(), events: aliceEvents }, cb));
      await unary((cb) => telemetryClient(t, sut, bob.credentials).uploadEvents({ batchId: randomUUID(), events: bobEvents }, cb));

      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const query: string = `/api/v1/violations?agentId=${alice.agentId}&limit=2${cursor === null ? '' : `&cursor=${cursor}`}`;
        const page: { status: number; body: { items: Array<{ device: { serial: string } }>; nextCursor: string | null } } = await sut.rest('GET', query);
        assert.equal(page.status, 200);
        seen.push(...page.body.items.map((item) => item.device.serial));
        cursor = page.body.nextCursor;
        pages++;
      } while (cursor !== null);
      assert.deepEqual(seen, ['A4', 'A3', 'A2', 'A1', 'A0']);
      assert.equal(pages, 3);

      const window = await sut.rest('GET', `/api/v1/violations?since=${new Date(base + 60_000).toISOString()}&until=${new Date(base + 120_000).toISOString()}`);
      assert.deepEqual(window.body.items.map((item: { device: { serial: string } }) => item.device.serial), ['B1', 'A1']);

      const [newest] = (await sut.rest('GET', '/api/v1/violations?limit=1')).body.items;
      const triaged = await sut.rest('PATCH', `/api/v1/violations/${newest.id}`, { status: 'acknowledged', note: 'called the user' });
      assert.equal(triaged.body.status, 'acknowledged');
      assert.equal(triaged.body.note, 'called the user');
      const open = await sut.rest('GET', '/api/v1/violations?status=open&limit=500');
      assert.equal(open.body.items.length, 6);
      const acknowledged = await sut.rest('GET', '/api/v1/violations?status=acknowledged&rule=usb.unregistered_device');
      assert.deepEqual(acknowledged.body.items.map((item: { id: string }) => item.id), [newest.id]);

      const badLimit = await sut.rest('GET', '/api/v1/violations?limit=501');
      assert.equal(badLimit.status, 400);
      assert.match(badLimit.body.message, /limit/);
      const badCursor = await sut.rest('GET', '/api/v1/violations?cursor=not-a-cursor');
      assert.equal(badCursor.status, 400);
      assert.match(badCursor.body.message, /cursor/);
    });

    test('events page by cursor, and a cursor the list did not return is a 400 naming cursor, never a 500', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const agent = await enrollAgent(t, sut);
      const base = Date.parse('2025-03-01T09:00:00Z');
      const events = Array.from({ length: 3 }, (_, i) => usbAttached({ ...SANDISK, interfaceClasses: [3] }, new Date(base + i * 1000)));
      await unary((cb) => telemetryClient(t, sut, agent.credentials).uploadEvents({ batchId: randomUUID(), events }, cb));
      const firstPage = await sut.rest('GET', '/api/v1/events?limit=2');
      assert.equal(firstPage.status, 200);
      const secondPage = await sut.rest('GET', `/api/v1/events?limit=2&cursor=${firstPage.body.nextCursor}`);
      assert.equal(secondPage.status, 200);
      assert.deepEqual(secondPage.body.items.map((item: { eventId: string }) => item.eventId), [events[0].eventId]);

      const forged = (id: unknown) => Buffer.from(JSON.stringify([base, id]), 'utf8').toString('base64url');
      for (const [path, cursor] of [
        ['/api/v1/events', 'WzEsImFiYyJd'],
        ['/api/v1/events', forged('12345678901234567890123')],
        ['/api/v1/events', forged('-1')],
        ['/api/v1/events', forged('1.5')],
        ['/api/v1/events', forged(randomUUID())],
        ['/api/v1/violations', 'WzEsImFiYyJd'],
        ['/api/v1/violations', forged('12345678901234567890123')],
      ]) {
        const answer: { status: number; body: { message: string } } = await sut.rest('GET', `${path}?cursor=${cursor}`);
        assert.equal(answer.status, 400, `${path} cursor ${Buffer.from(cursor, 'base64url').toString()}: ${JSON.stringify(answer.body)}`);
        assert.match(answer.body.message, /cursor/);
      }
    });

    test('enrollment tokens are refused when unknown, expired, revoked or used up', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const enroll = async (token: string) => {
        const { csrPem } = await makeAgentKey();
        return unary((cb) => enrollmentClient(t, sut).enroll({ enrollmentToken: token, certificateSigningRequestPem: csrPem, host: undefined }, cb));
      };
      const tokens = sut.collector.app.get(EnrollmentTokensService);

      const once = (await sut.rest('POST', '/api/v1/enrollment-tokens', { maxUses: 1 })).body;
      await enroll(once.token);
      const usedUp = await failure(enroll(once.token));
      assert.equal(usedUp.code, grpc.status.UNAUTHENTICATED);
      assert.match(usedUp.details, /used up/);

      const expired = await tokens.create({ expiresInSeconds: 60 }, new Date(Date.now() - 3_600_000));
      const expiredError = await failure(enroll(expired.token));
      assert.equal(expiredError.code, grpc.status.UNAUTHENTICATED);
      assert.match(expiredError.details, /expired/);

      const revoked = (await sut.rest('POST', '/api/v1/enrollment-tokens', {})).body;
      assert.equal((await sut.rest('POST', `/api/v1/enrollment-tokens/${revoked.id}/revoke`)).status, 200);
      const revokedError = await failure(enroll(revoked.token));
      assert.equal(revokedError.code, grpc.status.UNAUTHENTICATED);
      assert.match(revokedError.details, /revoked/);

      const [id, , pin] = (once.token as string).split('.');
      const forged = await failure(enroll(`${id}.${randomBytes(32).toString('base64url')}.${pin}`));
      assert.equal(forged.code, grpc.status.UNAUTHENTICATED);
      assert.match(forged.details, /unknown/);

      const valid = (await sut.rest('POST', '/api/v1/enrollment-tokens', {})).body;
      const badCsr = await failure(unary((cb) => enrollmentClient(t, sut).enroll({ enrollmentToken: valid.token, certificateSigningRequestPem: 'hello', host: undefined }, cb)));
      assert.equal(badCsr.code, grpc.status.INVALID_ARGUMENT);
      assert.match(badCsr.details, /certificate_signing_request_pem/);

      const listed = (await sut.rest('GET', '/api/v1/enrollment-tokens')).body.items as Array<Record<string, unknown>>;
      assert.equal(listed.length, 4);
      assert.ok(listed.every((token) => !('token' in token) && !('secretHash' in token)), 'listing shows no secrets');
      assert.deepEqual(listed.find((token) => token.id === once.id)?.uses, 1);
    });

    test('ten agents racing for a one-use token: exactly one enrolls and the token shows one use', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const token = (await sut.rest('POST', '/api/v1/enrollment-tokens', { maxUses: 1 })).body;
      const requests = await Promise.all(Array.from({ length: 10 }, () => makeAgentKey()));
      const client = enrollmentClient(t, sut);

      const outcomes = await Promise.allSettled(
        requests.map(({ csrPem }) =>
          unary<{ agentId: string }>((cb) => client.enroll({ enrollmentToken: token.token, certificateSigningRequestPem: csrPem, host: undefined }, cb)),
        ),
      );

      const enrolled = outcomes.filter((outcome) => outcome.status === 'fulfilled');
      const refused = outcomes.filter((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
      assert.equal(enrolled.length, 1);
      for (const outcome of refused) {
        assert.equal((outcome.reason as grpc.ServiceError).code, grpc.status.UNAUTHENTICATED);
        assert.match((outcome.reason as grpc.ServiceError).details, /used up/);
      }
      const listed = (await sut.rest('GET', '/api/v1/enrollment-tokens')).body.items as Array<{ id: string; uses: number }>;
      assert.equal(listed.find((item) => item.id === token.id)?.uses, 1);
      assert.equal((await sut.rest('GET', '/api/v1/agents')).body.items.length, 1);
    });

    test('five concurrent uploads of the same 300-event batch store 300 events and 300 violations', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const agent = await enrollAgent(t, sut);
      const request = { batchId: randomUUID(), events: Array.from({ length: 300 }, (_, i) => usbAttached({ ...SANDISK, serial: `RACE${i}` })) };
      // One channel per upload, so the five really arrive side by side.
      const answers = await Promise.all(
        Array.from({ length: 5 }, () => unary<UploadEventsResponse>((cb) => telemetryClient(t, sut, agent.credentials).uploadEvents(request, cb))),
      );

      assert.equal(answers.reduce((sum, answer) => sum + answer.storedCount, 0), 300, 'each event stored by exactly one upload');
      assert.equal(answers.reduce((sum, answer) => sum + answer.duplicateCount, 0), 4 * 300);
      assert.equal((await sut.rest('GET', `/api/v1/events/count?agentId=${agent.agentId}`)).body.count, 300);
      const violations = (await sut.rest('GET', '/api/v1/violations?limit=500')).body.items as Array<{ eventId: string }>;
      assert.equal(violations.length, 300);
      assert.equal(new Set(violations.map((violation) => violation.eventId)).size, 300, 'one violation per event');
    });

    test('calls without a client certificate, and calls of a revoked agent, are UNAUTHENTICATED', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const agent = await enrollAgent(t, sut);
      const batch = () => ({ batchId: randomUUID(), events: [usbAttached({ ...SANDISK, interfaceClasses: [3] })] });

      const anonymous = telemetryClient(t, sut, grpc.credentials.createSsl(Buffer.from(sut.caPem)));
      const noCertificate = await failure(unary((cb) => anonymous.uploadEvents(batch(), cb)));
      assert.equal(noCertificate.code, grpc.status.UNAUTHENTICATED);
      assert.match(noCertificate.details, /client certificate required/);

      const telemetry = telemetryClient(t, sut, agent.credentials);
      await unary((cb) => telemetry.uploadEvents(batch(), cb));
      const revoked = await sut.rest('POST', `/api/v1/agents/${agent.agentId}/revoke`);
      assert.equal(revoked.body.status, 'revoked');

      const refused = await failure(unary((cb) => telemetry.uploadEvents(batch(), cb)));
      assert.equal(refused.code, grpc.status.UNAUTHENTICATED);
      assert.match(refused.details, /revoked/);
      const policyRefused = await failure(unary((cb) => policyClient(t, sut, agent.credentials).getPolicy({ knownVersion: '0', knownLineageId: '' }, cb)));
      assert.equal(policyRefused.code, grpc.status.UNAUTHENTICATED);

      const shown = await sut.rest('GET', `/api/v1/agents/${agent.agentId}`);
      assert.equal(shown.body.status, 'revoked');
      assert.equal(shown.body.eventCount, 1);
    });

    test('heartbeat records host facts and answers with the policy version and interval', async (t) => {
      const sut = await startTestCollector(t, kind, { MAMORI_HEARTBEAT_SECONDS: '17' });
      if (sut === null) return;
      const agent = await enrollAgent(t, sut);
      const answer = await unary<{ currentPolicyVersion: string; nextHeartbeatSeconds: number }>((cb) =>
        telemetryClient(t, sut, agent.credentials).heartbeat(
          {
            host: { hostname: 'renamed-host', osFamily: 'linux', osVersion: '6.1', agentVersion: '0.2.0', loggedInUsers: ['bob'], networkInterfaces: [], architecture: 'arm64', machineId: 'abc', hardwareSerial: '', hardwareModel: '', hardwareVendor: '' },
            posture: { fixedDisksEncrypted: PostureCheck.POSTURE_CHECK_PASSED, systemVolumeEncrypted: PostureCheck.POSTURE_CHECK_FAILED, usbStorageDevicesAttached: 1, unregisteredUsbStorageDevices: 1, networkZone: 'office', volumes: [], encryptionProblems: [] },
            health: { spoolEvents: '3', spoolBytes: '100', droppedEvents: '0', policyVersion: '1', startedAt: undefined, sources: ['usb:fake'], capabilities: [] },
            trustedCaPins: [],
          },
          cb,
        ),
      );
      assert.equal(answer.currentPolicyVersion, '1');
      assert.equal(answer.nextHeartbeatSeconds, 17);
      const shown = (await sut.rest('GET', `/api/v1/agents/${agent.agentId}`)).body;
      assert.equal(shown.hostname, 'renamed-host');
      assert.deepEqual(shown.facts.loggedInUsers, ['bob']);
      assert.equal(shown.posture.networkZone, 'office');
      assert.equal(shown.posture.fixedDisksEncrypted, 'passed');
      assert.equal(shown.posture.systemVolumeEncrypted, 'failed');
      assert.equal(shown.posture.unregisteredUsbStorageDevices, 1);
      assert.equal(shown.policyVersion, 1);
      assert.notEqual(shown.lastSeenAt, null);
    });

    test('GetPolicy answers unchanged for the current version and WatchPolicy pushes a new version after a register change', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const agent = await enrollAgent(t, sut);
      const policy = policyClient(t, sut, agent.credentials);
      const lineageId = (await sut.rest('GET', '/api/v1/policy')).body.lineageId as string;
      const unchanged = await unary<GetPolicyResponse>((cb) => policy.getPolicy({ knownVersion: '1', knownLineageId: lineageId }, cb));
      assert.equal(unchanged.unchanged, true);

      const stream = policy.watchPolicy({ knownVersion: '0', knownLineageId: lineageId });
      t.after(() => stream.cancel());
      const received = collect(stream);
      const first = (await received.next()).policy;
      assert.equal(first?.version, '1', 'an agent with an older version gets the newest at once');
      assert.equal(first?.lineageId, lineageId);

      const entry = await sut.rest('POST', '/api/v1/usb-register', { vendorId: '0781', productId: '5567', serial: 'S1', label: 'stick', holder: 'Hanako', department: 'Sales' });
      const pushed = await received.next();
      assert.equal(pushed.policy?.version, '2');
      assert.deepEqual(
        pushed.policy?.usb?.registeredDevices.map((device) => [device.entryId, device.vendorId, device.productId, device.serial]),
        [[entry.body.id, 0x0781, 0x5567, 'S1']],
      );
      assert.equal((await sut.rest('DELETE', `/api/v1/usb-register/${entry.body.id}`)).status, 204);
      const afterDelete = await received.next();
      assert.equal(afterDelete.policy?.version, '3');
      assert.deepEqual(afterDelete.policy?.usb?.registeredDevices, []);
    });

    test('a request naming another policy lineage, or none, is outdated whatever its version number says', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const agent = await enrollAgent(t, sut);
      const policy = policyClient(t, sut, agent.credentials);
      const lineageId = (await sut.rest('GET', '/api/v1/policy')).body.lineageId as string;
      const foreign = randomUUID();

      for (const knownLineageId of ['', foreign]) {
        const answer = await unary<GetPolicyResponse>((cb) => policy.getPolicy({ knownVersion: '1', knownLineageId }, cb));
        assert.equal(answer.unchanged, false, `lineage "${knownLineageId}"`);
        assert.equal(answer.policy?.version, '1');
        assert.equal(answer.policy?.lineageId, lineageId);
        // A higher number from a recreated database's past must not hold the agent back either.
        const higher = await unary<GetPolicyResponse>((cb) => policy.getPolicy({ knownVersion: '42', knownLineageId }, cb));
        assert.equal(higher.unchanged, false);
        assert.equal(higher.policy?.version, '1');
      }

      const stream = policy.watchPolicy({ knownVersion: '42', knownLineageId: foreign });
      t.after(() => stream.cancel());
      const pushed = await collect(stream).next();
      assert.equal(pushed.policy?.version, '1', 'a foreign lineage gets the newest version at once');
      assert.equal(pushed.policy?.lineageId, lineageId);
    });

    test('the policy lineage survives a restart on the same database and differs on another database', async (t) => {
      const database = await provideDatabase(t, kind);
      if (database === null) return;
      const start = async (dataDir: string, url: string | undefined) => {
        const collector = await startCollector(
          loadCollectorConfig({
            MAMORI_DATA_DIR: dataDir,
            MAMORI_DATABASE_URL: url,
            MAMORI_GRPC_ADDRESS: `127.0.0.1:${await freePort()}`,
            MAMORI_HTTP_ADDRESS: `127.0.0.1:${await freePort()}`,
            MAMORI_ADMIN_TOKEN: 'lineage-test-admin-token',
            MAMORI_LOG_LEVEL: 'error',
          }),
          new JsonLogger('error', () => undefined),
        );
        t.after(() => collector.close());
        return collector;
      };
      const first = await start(database.dataDir, database.url);
      const lineageId = first.app.get(PolicyService).lineageId;
      assert.match(lineageId, UUID);
      await first.close();
      const again = await start(database.dataDir, database.url);
      assert.equal(again.app.get(PolicyService).lineageId, lineageId);
      await again.close();

      const other = await provideDatabase(t, kind);
      assert.ok(other !== null);
      const fresh = await start(other.dataDir, other.url);
      assert.notEqual(fresh.app.get(PolicyService).lineageId, lineageId, 'a recreated database starts a new lineage');
    });

    test('the data folder is made owner-only at every start, and the SQLite files are created and kept owner-only', async (t) => {
      const database = await provideDatabase(t, kind);
      if (database === null) return;
      mkdirSync(database.dataDir, { recursive: true });
      chmodSync(database.dataDir, 0o755);
      const start = async () => {
        const collector = await startCollector(
          loadCollectorConfig({
            MAMORI_DATA_DIR: database.dataDir,
            MAMORI_DATABASE_URL: database.url,
            MAMORI_GRPC_ADDRESS: `127.0.0.1:${await freePort()}`,
            MAMORI_HTTP_ADDRESS: `127.0.0.1:${await freePort()}`,
            MAMORI_ADMIN_TOKEN: 'permissions-test-admin-token',
            MAMORI_LOG_LEVEL: 'error',
          }),
          new JsonLogger('error', () => undefined),
        );
        t.after(() => collector.close());
        // A write, so SQLite has its -wal and -shm files in use.
        await collector.app.get(EnrollmentTokensService).create({ label: 'permissions' });
        return collector;
      };
      const sqliteFiles = ['mamori.sqlite', 'mamori.sqlite-wal', 'mamori.sqlite-shm'].map((name) => join(database.dataDir, name));
      const modeOf = (path: string) => statSync(path).mode & 0o777;

      const first = await start();
      assert.equal(modeOf(database.dataDir), 0o700, 'an existing 0755 data folder is tightened');
      if (kind === 'sqlite') {
        for (const file of sqliteFiles) assert.equal(modeOf(file), 0o600, file);
      }
      await first.close();

      // As an older version (or a hand-made copy) may have left them.
      chmodSync(database.dataDir, 0o755);
      for (const file of sqliteFiles) if (existsSync(file)) chmodSync(file, 0o644);
      const second = await start();
      assert.equal(modeOf(database.dataDir), 0o700, 'tightened again at the next start');
      if (kind === 'sqlite') {
        for (const file of sqliteFiles) assert.equal(modeOf(file), 0o600, file);
      }
      await second.close();
    });

    test('shutting the collector down ends open WatchPolicy streams instead of hanging', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const agent = await enrollAgent(t, sut);
      const stream = policyClient(t, sut, agent.credentials).watchPolicy({ knownVersion: '0', knownLineageId: '' });
      const ended = new Promise<grpc.StatusObject>((resolve) => stream.on('status', resolve));
      stream.on('error', () => undefined);
      await collect(stream).next();

      await sut.collector.close();

      const status = await ended;
      assert.equal(status.code, grpc.status.OK);
    });

    test('garbage bytes and oversized messages get a clean gRPC error and the collector keeps serving', async (t) => {
      const sut = await startTestCollector(t, kind, { MAMORI_GRPC_MAX_MESSAGE_BYTES: '65536' });
      if (sut === null) return;
      const agent = await enrollAgent(t, sut);
      const Raw = grpc.makeGenericClientConstructor({}, 'Raw');
      const raw = new Raw(sut.grpcTarget, agent.credentials);
      t.after(() => raw.close());
      const send = (path: string, bytes: Buffer) =>
        unary((cb) => raw.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, bytes, cb as grpc.requestCallback<Buffer>));

      for (const path of ['/mamori.v1.TelemetryService/UploadEvents', '/mamori.v1.TelemetryService/Heartbeat', '/mamori.v1.PolicyService/GetPolicy', '/mamori.v1.EnrollmentService/Enroll']) {
        const garbage = await failure(send(path, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])));
        assert.ok(garbage.code !== grpc.status.OK && garbage.code !== grpc.status.UNAVAILABLE, `${path}: ${garbage.code} ${garbage.details}`);
        const oversized = await failure(send(path, randomBytes(200_000)));
        assert.equal(oversized.code, grpc.status.RESOURCE_EXHAUSTED, `${path}: ${oversized.details}`);
      }

      const stillServing = await unary<UploadEventsResponse>((cb) =>
        telemetryClient(t, sut, agent.credentials).uploadEvents({ batchId: randomUUID(), events: [usbAttached(SANDISK)] }, cb),
      );
      assert.equal(stillServing.storedCount, 1);
    });
  });
}


