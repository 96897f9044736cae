import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import type { EnrollResponse } from '../../../agent/src/generated/mamori/v1/enrollment';
import { PostureCheck } from '../../../agent/src/generated/mamori/v1/telemetry';
import { DATABASE_KINDS } from '../../support/databases';
import { enrollmentClient, failure, makeAgentKey, startTestCollector, telemetryClient, unary, type TestCollector } from './collector-harness';

// The zone a device must be in, chosen at enrollment (install.sh --zone), against a collector on
// each database: an undefined zone is refused with the defined ones listed, nothing enrolled and
// the token's use kept; a defined one is the new agent's required zone at once (judged by its
// first heartbeat) and audited; a token bound to a zone gives its zone and refuses any other.

/** Enrolls through the real Enroll RPC; the response with the agent's private key. */
async function enroll(t: TestContext, sut: TestCollector, token: string, requiredZone?: string): Promise<EnrollResponse & { keyPem: string }> {
  const { keyPem, csrPem } = await makeAgentKey();
  const response = await unary<EnrollResponse>((callback) =>
    enrollmentClient(t, sut).enroll(
      {
        enrollmentToken: token,
        certificateSigningRequestPem: csrPem,
        requiredZone,
        host: { hostname: 'partner-pc', osFamily: 'linux', osVersion: '6.1', agentVersion: '0.2.0', loggedInUsers: ['alice'], networkInterfaces: [], architecture: 'x64', machineId: '', hardwareSerial: '', hardwareModel: '', hardwareVendor: '' },
      },
      callback,
    ),
  );
  return { ...response, keyPem };
}

async function createToken(sut: TestCollector, body: Record<string, unknown>): Promise<{ id: string; token: string; zone: string | null }> {
  const created = await sut.rest('POST', '/api/v1/enrollment-tokens', body);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body;
}

async function agentIds(sut: TestCollector): Promise<string[]> {
  return (await sut.rest('GET', '/api/v1/agents')).body.items.map((agent: { id: string }) => agent.id);
}

async function tokenUses(sut: TestCollector, id: string): Promise<number> {
  return (await sut.rest('GET', '/api/v1/enrollment-tokens')).body.items.find((token: { id: string }) => token.id === id).uses;
}

async function requiredZoneOf(sut: TestCollector, agentId: string): Promise<string | null> {
  return (await sut.rest('GET', `/api/v1/agents/${agentId}`)).body.requiredZone;
}

async function defineZones(sut: TestCollector): Promise<void> {
  for (const zone of [
    { name: 'dev-lan', cidrs: ['10.20.0.0/16'], mode: 'audit' },
    { name: 'office-lan', cidrs: ['10.10.0.0/16'], mode: 'off' },
  ]) {
    const created = await sut.rest('POST', '/api/v1/zones', zone);
    assert.equal(created.status, 201, JSON.stringify(created.body));
  }
}

for (const kind of DATABASE_KINDS) {
  describe(`required zone at enrollment on ${kind}`, () => {
    test('an install naming an undefined zone is refused and enrolls nothing; a defined zone is required from the first heartbeat and audited', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const token = await createToken(sut, { label: 'partner laptops', maxUses: 1 });

      const none = await failure(enroll(t, sut, token.token, 'dev-lan'));
      assert.equal(none.code, grpc.status.INVALID_ARGUMENT);
      assert.match(none.details, /^zone dev-lan is not a defined zone: no zones are defined yet/);

      await defineZones(sut);
      const typo = await failure(enroll(t, sut, token.token, 'dev-lab'));
      assert.equal(typo.code, grpc.status.INVALID_ARGUMENT);
      assert.equal(typo.details, 'zone dev-lab is not a defined zone; defined zones: dev-lan, office-lan');
      assert.deepEqual(await agentIds(sut), [], 'nothing enrolled');
      assert.equal(await tokenUses(sut, token.id), 0, "the token's only use is kept");

      const enrolled = await enroll(t, sut, token.token, ' dev-lan ');
      assert.equal(enrolled.requiredZone, 'dev-lan');
      assert.equal(await requiredZoneOf(sut, enrolled.agentId), 'dev-lan');
      assert.equal(await tokenUses(sut, token.id), 1);

      const audit = (await sut.rest('GET', `/api/v1/audit?subjectType=agent&subjectId=${enrolled.agentId}`)).body.items.filter(
        (record: { action: string }) => record.action === 'agent.required_zone.set',
      );
      assert.deepEqual(
        audit.map((record: { actor: { kind: string; id: string }; onBehalfOf: string; before: unknown; after: unknown }) => [record.actor.kind, record.actor.id, record.onBehalfOf, record.before, record.after]),
        [['system', 'collector', `enrollment-token:${token.id}`, { requiredZone: null }, { requiredZone: 'dev-lan' }]],
      );
      const steps = (await sut.rest('GET', `/api/v1/whitelist/history?limit=50&subjectId=${enrolled.agentId}`)).body.items;
      assert.deepEqual(
        steps.map((step: { kind: string; reason: string; after: unknown }) => [step.kind, step.reason, step.after]),
        [['agent.required_zone', 'set at enrollment: named by the install', { requiredZone: 'dev-lan' }]],
      );
      assert.equal((await sut.rest('DELETE', '/api/v1/zones/dev-lan')).status, 409, 'a zone a device is required in cannot go');

      // The requirement is live: the first heartbeat from office-lan raises network.wrong_zone.
      const credentials = grpc.credentials.createSsl(Buffer.from(sut.caPem), Buffer.from(enrolled.keyPem), Buffer.from(enrolled.clientCertificatePem));
      await unary((callback) =>
        telemetryClient(t, sut, credentials).heartbeat(
          {
            host: { hostname: 'partner-pc', osFamily: 'linux', osVersion: '6.1', agentVersion: '0.2.0', loggedInUsers: ['alice'], networkInterfaces: [], architecture: 'x64', machineId: '', hardwareSerial: 'SN-1', hardwareModel: '', hardwareVendor: '' },
            posture: { fixedDisksEncrypted: PostureCheck.POSTURE_CHECK_PASSED, systemVolumeEncrypted: PostureCheck.POSTURE_CHECK_PASSED, usbStorageDevicesAttached: 0, unregisteredUsbStorageDevices: 0, networkZone: 'office-lan', volumes: [], encryptionProblems: [] },
            health: { spoolEvents: '0', spoolBytes: '0', droppedEvents: '0', policyVersion: '1', startedAt: undefined, sources: [], capabilities: [] },
            trustedCaPins: [],
          },
          callback,
        ),
      );
      const raised = (await sut.rest('GET', '/api/v1/violations?limit=50&rule=network.wrong_zone')).body.items;
      assert.deepEqual(
        raised.map((violation: { device: { requiredZone: string; reportedZone: string } }) => [violation.device.requiredZone, violation.device.reportedZone]),
        [['dev-lan', 'office-lan']],
      );

      const plain = await enroll(t, sut, (await createToken(sut, { label: 'no zone' })).token);
      assert.equal(plain.requiredZone, undefined);
      assert.equal(await requiredZoneOf(sut, plain.agentId), null, 'no --zone and a token without one: required in no zone');
    });

    test('a token bound to a zone gives new agents its zone, refuses an install naming another, and holds the zone while usable', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const undefinedZone = await sut.rest('POST', '/api/v1/enrollment-tokens', { label: 'lab', zone: 'lab' });
      assert.equal(undefinedZone.status, 400);
      assert.match(JSON.stringify(undefinedZone.body), /zone lab is not a defined zone/);
      await defineZones(sut);
      const bound = await createToken(sut, { label: 'office laptops', zone: 'office-lan' });
      assert.equal(bound.zone, 'office-lan');
      const listed = (await sut.rest('GET', '/api/v1/enrollment-tokens')).body.items.find((token: { id: string }) => token.id === bound.id);
      assert.equal(listed.zone, 'office-lan');
      // A zone a usable token is bound to cannot go (the rollout would refuse every install); a revoked token does not hold it.
      const held = await sut.rest('DELETE', '/api/v1/zones/office-lan');
      assert.equal(held.status, 409);
      assert.match(held.body.message, /0 devices required in it, 1 usable enrollment tokens bound to it/);
      assert.equal((await sut.rest('POST', '/api/v1/zones', { name: 'lab-lan', cidrs: ['10.50.0.0/16'], mode: 'off' })).status, 201);
      const revoked = await createToken(sut, { label: 'lab', zone: 'lab-lan' });
      assert.equal((await sut.rest('POST', `/api/v1/enrollment-tokens/${revoked.id}/revoke`)).status, 200);
      const gone = await sut.rest('DELETE', '/api/v1/zones/lab-lan');
      assert.equal(gone.status, 204, JSON.stringify(gone.body));

      const elsewhere = await failure(enroll(t, sut, bound.token, 'dev-lan'));
      assert.equal(elsewhere.code, grpc.status.INVALID_ARGUMENT);
      assert.match(elsewhere.details, /^this enrollment token is bound to zone office-lan and cannot enroll a device into zone dev-lan/);
      assert.deepEqual(await agentIds(sut), []);
      assert.equal(await tokenUses(sut, bound.id), 0);

      const byToken = await enroll(t, sut, bound.token);
      assert.equal(byToken.requiredZone, 'office-lan');
      assert.equal(await requiredZoneOf(sut, byToken.agentId), 'office-lan');
      const named = await enroll(t, sut, bound.token, 'office-lan');
      assert.equal(await requiredZoneOf(sut, named.agentId), 'office-lan');
      const steps = (await sut.rest('GET', `/api/v1/whitelist/history?limit=50&subjectId=${byToken.agentId}`)).body.items;
      assert.deepEqual(
        steps.map((step: { reason: string }) => step.reason),
        ["set at enrollment: the token's zone"],
      );
    });
  });
}
