import { before, after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { suiteScope } from '../support/cleanup-scope';
import { runNodeProgram, AGENT_BIN } from '../support/processes';
import { makeTempDir } from '../support/temp-dir';
import { CollectorUnderTest } from './support/cluster';
import { checkHealth, clientsFor, credentialsFor, enrollDirectly, minimalHeartbeat, unary } from './support/grpc-clients';
import { fetchPresentedCa, makeRogueClientCertificate } from './support/pki';

// Every RPC but Enroll needs a valid, unrevoked agent certificate from the collector's own CA,
// and enrollment tokens are checked for expiry, use count and revocation. Each refusal must
// come back with the right gRPC status, and the collector must keep serving afterwards.
describe('mutual TLS and enrollment tokens', () => {
  let collector: CollectorUnderTest;
  let ca: { pem: string; pin: string };

  const scope = suiteScope();
  before(async () => {
    const started = await CollectorUnderTest.start(scope, 'sqlite');
    assert.ok(started);
    collector = started;
    ca = await fetchPresentedCa(collector.grpcAddress);
  });
  after(() => scope.cleanup());

  async function assertStillServing(): Promise<void> {
    assert.equal(await checkHealth(collector.grpcAddress, ca.pem), 'SERVING');
    const { token } = await collector.createEnrollmentToken();
    const enrolled = await enrollDirectly(collector.grpcAddress, ca.pem, token);
    assert.equal(enrolled.error, null);
    const clients = clientsFor(collector.grpcAddress, credentialsFor(ca.pem, enrolled.identity));
    const beat = await unary(clients.telemetry, clients.telemetry.heartbeat as any, minimalHeartbeat);
    clients.close();
    assert.equal(beat.error, null, 'a valid agent is still served');
  }

  test('the token embeds the pin of the CA the collector presents', async () => {
    const { token } = await collector.createEnrollmentToken();
    assert.equal(token.split('.')[2], ca.pin);
  });

  test('a call without a client certificate is refused with UNAUTHENTICATED', async () => {
    const clients = clientsFor(collector.grpcAddress, credentialsFor(ca.pem));
    const beat = await unary(clients.telemetry, clients.telemetry.heartbeat as any, minimalHeartbeat);
    const policy = await unary(clients.policy, clients.policy.getPolicy as any, { knownVersion: '0' });
    const upload = await unary(clients.telemetry, clients.telemetry.uploadEvents as any, { batchId: crypto.randomUUID(), events: [] });
    clients.close();
    for (const result of [beat, policy, upload]) {
      assert.equal(result.error?.code, GrpcStatus.UNAUTHENTICATED, String(result.error?.details));
    }
    await assertStillServing();
  });

  test('a client certificate from another CA is refused with UNAUTHENTICATED', async () => {
    const rogue = await makeRogueClientCertificate();
    const clients = clientsFor(collector.grpcAddress, credentialsFor(ca.pem, rogue));
    const beat = await unary(clients.telemetry, clients.telemetry.heartbeat as any, minimalHeartbeat);
    clients.close();
    assert.equal(beat.error?.code, GrpcStatus.UNAUTHENTICATED, String(beat.error?.details));
    await assertStillServing();
  });

  test('a revoked agent is refused on its next call with UNAUTHENTICATED', async () => {
    const { token } = await collector.createEnrollmentToken();
    const enrolled = await enrollDirectly(collector.grpcAddress, ca.pem, token);
    assert.ok(enrolled.identity, String(enrolled.error?.details));
    const clients = clientsFor(collector.grpcAddress, credentialsFor(ca.pem, enrolled.identity));
    const before = await unary(clients.telemetry, clients.telemetry.heartbeat as any, minimalHeartbeat);
    assert.equal(before.error, null);

    await collector.rest.expect(200, 'POST', `/api/v1/agents/${enrolled.identity.agentId}/revoke`);
    const beat = await unary(clients.telemetry, clients.telemetry.heartbeat as any, minimalHeartbeat);
    const policy = await unary(clients.policy, clients.policy.getPolicy as any, { knownVersion: '0' });
    clients.close();
    assert.equal(beat.error?.code, GrpcStatus.UNAUTHENTICATED);
    assert.match(String(beat.error?.details), /revoked/i);
    assert.equal(policy.error?.code, GrpcStatus.UNAUTHENTICATED);
    const view = await collector.rest.expect<any>(200, 'GET', `/api/v1/agents/${enrolled.identity.agentId}`);
    assert.equal(view.status, 'revoked');
    await assertStillServing();
  });

  test('an expired token is refused with UNAUTHENTICATED', async () => {
    const { token } = await collector.createEnrollmentToken({ expiresInSeconds: 1 });
    await sleep(2_100);
    const result = await enrollDirectly(collector.grpcAddress, ca.pem, token);
    assert.equal(result.error?.code, GrpcStatus.UNAUTHENTICATED);
    assert.match(String(result.error?.details), /expired/i);
    await assertStillServing();
  });

  test('a single-use token cannot be used twice', async () => {
    const { token } = await collector.createEnrollmentToken({ maxUses: 1 });
    const first = await enrollDirectly(collector.grpcAddress, ca.pem, token);
    assert.equal(first.error, null);
    const second = await enrollDirectly(collector.grpcAddress, ca.pem, token);
    assert.equal(second.error?.code, GrpcStatus.UNAUTHENTICATED);
    assert.match(String(second.error?.details), /used/i);
    await assertStillServing();
  });

  test('a revoked token and a made-up token are refused with UNAUTHENTICATED', async () => {
    const created = await collector.createEnrollmentToken();
    await collector.rest.expect(200, 'POST', `/api/v1/enrollment-tokens/${created.id}/revoke`);
    const revoked = await enrollDirectly(collector.grpcAddress, ca.pem, created.token);
    assert.equal(revoked.error?.code, GrpcStatus.UNAUTHENTICATED);
    assert.match(String(revoked.error?.details), /revoked/i);
    const [id, , pin] = created.token.split('.');
    const madeUp = await enrollDirectly(collector.grpcAddress, ca.pem, `${id}.${'A'.repeat(43)}.${pin}`);
    assert.equal(madeUp.error?.code, GrpcStatus.UNAUTHENTICATED);
    await assertStillServing();
  });

  test('the agent refuses to enroll when the presented CA does not match the token pin', async () => {
    const { token } = await collector.createEnrollmentToken();
    const [id, secret] = token.split('.');
    const wrongPin = Buffer.alloc(32, 7).toString('base64url');
    const state = makeTempDir('mamori-agent-pin-');
    try {
      const result = await runNodeProgram(
        AGENT_BIN,
        ['enroll', '--server', collector.grpcAddress, '--token', `${id}.${secret}.${wrongPin}`, '--state-dir', state.path],
        {},
      );
      assert.notEqual(result.code, 0);
      assert.match(`${result.stdout}${result.stderr}`, /pin|fingerprint/i);
    } finally {
      state.cleanup();
    }
    await assertStillServing();
  });
});
