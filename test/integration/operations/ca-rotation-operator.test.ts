import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { CertificateServiceClient, type RenewCertificateResponse } from '../../../agent/src/generated/mamori/v1/certificate';
import type { HeartbeatResponse, UploadEventsResponse } from '../../../agent/src/generated/mamori/v1/telemetry';
import { generateCertificateAuthority, LoadedAuthority } from '../../../server/src/modules/pki/certificate-authority';
import { CaRotationError, CaRotationService } from '../../../server/src/modules/pki/ca-rotation.service';
import { DATABASE_KINDS } from '../../support/databases';
import { makeTempDir } from '../../support/temp-dir';
import { enrollAgent, failure, makeAgentKey, startTestCollector, telemetryClient, unary, usbAttached, type TestCollector } from '../server/collector-harness';

const pinOf = (pem: string) => createHash('sha256').update(new X509Certificate(pem).raw).digest('base64url');

/**
 * The README's rotation of an operator's CA (the Kubernetes case: CA files from a Secret, several
 * replicas on one PostgreSQL database): MAMORI_TLS_CA_TRUST_FILE adds the next CA, then the CA
 * files are swapped with the old CA in the trust file, then the trust file goes. At each step the
 * heartbeat answer asks exactly the agents that are behind to renew, a renewal hands over the
 * collector's bundle, and `ca status` (the database's view, the same on every replica) counts them.
 */
for (const kind of DATABASE_KINDS) {
  test(`${kind}: an operator's CA is rotated with MAMORI_TLS_CA_TRUST_FILE; agents are asked to renew until they hold the bundle and a certificate from the signing CA`, async (t) => {
    const folder = makeTempDir('mamori-ca-rotation-');
    t.after(() => folder.cleanup());
    const file = (name: string) => join(folder.path, name);
    const oldCa = await generateCertificateAuthority('Example Corp mamori CA 2026');
    const newCa = await generateCertificateAuthority('Example Corp mamori CA 2027');
    for (const [name, material] of [['old', oldCa], ['new', newCa]] as const) {
      writeFileSync(file(`${name}.crt`), material.certificatePem);
      writeFileSync(file(`${name}.key`), material.privateKeyPem, { mode: 0o600 });
    }
    const [oldPin, newPin] = [pinOf(oldCa.certificatePem), pinOf(newCa.certificatePem)];

    const first = await startTestCollector(t, kind, { MAMORI_TLS_CA_FILE: file('old.crt'), MAMORI_TLS_CA_KEY_FILE: file('old.key') });
    if (first === null) return;
    const database = first.collector.core.config;
    // Every later start is the same installation: same database and data folder, other CA files.
    const start = async (env: Record<string, string>, dataDir = database.dataDir) =>
      (await startTestCollector(t, kind, { MAMORI_DATA_DIR: dataDir, ...(database.databaseUrl === undefined ? {} : { MAMORI_DATABASE_URL: database.databaseUrl }), ...env }))!;
    const agent = await enrollAgent(t, first, 'rotating-host');
    const heartbeat = (sut: TestCollector, credentials: grpc.ChannelCredentials, trustedCaPins: string[]) =>
      unary<HeartbeatResponse>((cb) => telemetryClient(t, sut, credentials).heartbeat({ host: undefined, posture: undefined, health: undefined, trustedCaPins }, cb));
    const renew = async (sut: TestCollector, credentials: grpc.ChannelCredentials) => {
      const key = await makeAgentKey();
      const client = new CertificateServiceClient(sut.grpcTarget, credentials, { 'grpc.use_local_subchannel_pool': 1 });
      t.after(() => client.close());
      const response = await unary<RenewCertificateResponse>((cb) => client.renewCertificate({ certificateSigningRequestPem: key.csrPem }, cb));
      return { response, credentials: grpc.credentials.createSsl(Buffer.from(response.caBundlePem), Buffer.from(key.keyPem), Buffer.from(response.clientCertificatePem)) };
    };
    const status = (sut: TestCollector) => sut.collector.app.get(CaRotationService).status();

    const steady = await heartbeat(first, agent.credentials, [oldPin]);
    assert.equal(steady.renewCertificate, false, 'one CA, held: nothing to do');
    assert.equal(steady.renewCertificateReason, '');
    await first.collector.close();

    // Step 1: the next CA is trusted and handed out; an agent that lacks it is asked to renew.
    const introducing = await start({ MAMORI_TLS_CA_FILE: file('old.crt'), MAMORI_TLS_CA_KEY_FILE: file('old.key'), MAMORI_TLS_CA_TRUST_FILE: file('new.crt') });
    const asked = await heartbeat(introducing, agent.credentials, [oldPin]);
    assert.equal(asked.renewCertificate, true);
    assert.match(asked.renewCertificateReason, new RegExp(`does not yet trust CA ${newPin}`));
    const before = await status(introducing);
    assert.equal(before.stage, 'trusting');
    assert.deepEqual(before.authorities.map((a) => [a.role, a.pin]), [['signing', oldPin], ['trusted', newPin]]);
    assert.equal(before.agents.trustingEveryCa, 0);
    assert.deepEqual(before.agents.notReady.map((a) => a.id), [agent.agentId]);
    const viaRest = await introducing.rest('GET', '/api/v1/certificate-authorities');
    assert.equal(viaRest.status, 200);
    assert.deepEqual(viaRest.body, JSON.parse(JSON.stringify(before)), 'REST shows what "ca status" shows');
    await assert.rejects(introducing.collector.app.get(CaRotationService).rotate(), (error: Error) => error instanceof CaRotationError && /MAMORI_TLS_CA_FILE/.test(error.message));
    const bundled = await renew(introducing, agent.credentials);
    assert.deepEqual(pemPins(bundled.response.caBundlePem), [oldPin, newPin], 'the renewal hands over both CAs');
    assert.ok(new X509Certificate(bundled.response.clientCertificatePem).checkIssued(new X509Certificate(oldCa.certificatePem)), 'still signed by the old CA');
    assert.equal((await heartbeat(introducing, bundled.credentials, [oldPin, newPin])).renewCertificate, false, 'ready: no more renewals asked');
    assert.equal((await status(introducing)).agents.trustingEveryCa, 1);
    await introducing.collector.close();

    // Step 2: the new CA signs (the server certificate is re-issued from it), the old one is still trusted.
    const switchedEnv = { MAMORI_TLS_CA_FILE: file('new.crt'), MAMORI_TLS_CA_KEY_FILE: file('new.key'), MAMORI_TLS_CA_TRUST_FILE: file('old.crt') };
    const switched = await start(switchedEnv);
    const again = await heartbeat(switched, bundled.credentials, [oldPin, newPin]);
    assert.equal(again.renewCertificate, true, 'a certificate from the old CA is renewed from the new one');
    assert.match(again.renewCertificateReason, new RegExp(`now signs with CA ${newPin}.*issued by CA ${oldPin}`));
    const moved = await renew(switched, bundled.credentials);
    assert.ok(new X509Certificate(moved.response.clientCertificatePem).checkIssued(new X509Certificate(newCa.certificatePem)), 'signed by the new CA');
    assert.deepEqual(pemPins(moved.response.caBundlePem), [newPin, oldPin]);
    assert.equal((await heartbeat(switched, moved.credentials, [newPin, oldPin])).renewCertificate, false);
    if (kind === 'postgres') {
      // A second replica (its own data folder, the same Secret) sees the same progress.
      const replica = await start(switchedEnv, join(folder.path, 'replica-data'));
      const seen = await status(replica);
      assert.equal(seen.agents.onSigningCa, 1);
      assert.equal(seen.agents.notReadyCount, 0);
      await replica.collector.close();
    }
    await switched.collector.close();

    // Step 3: the old CA is no longer trusted: its certificates are refused, the agent drops it from its bundle.
    const retired = await start({ MAMORI_TLS_CA_FILE: file('new.crt'), MAMORI_TLS_CA_KEY_FILE: file('new.key') });
    const last = await heartbeat(retired, moved.credentials, [newPin, oldPin]);
    assert.equal(last.renewCertificate, true);
    assert.match(last.renewCertificateReason, new RegExp(`still trusts CA ${oldPin}`));
    const final = await renew(retired, moved.credentials);
    assert.deepEqual(pemPins(final.response.caBundlePem), [newPin]);
    const upload = (credentials: grpc.ChannelCredentials) =>
      unary<UploadEventsResponse>((cb) => telemetryClient(t, retired, credentials).uploadEvents({ batchId: crypto.randomUUID(), events: [usbAttached()] }, cb));
    assert.equal((await upload(final.credentials)).storedCount, 1, 'the agent works on the new CA alone');
    const oldCertificate = grpc.credentials.createSsl(Buffer.from(newCa.certificatePem), Buffer.from(agent.keyPem), Buffer.from(agent.certificatePem));
    const refused = await failure(upload(oldCertificate));
    assert.ok(refused.code === grpc.status.UNAVAILABLE || refused.code === grpc.status.UNAUTHENTICATED, `a certificate from the retired CA is refused (${refused.code}: ${refused.details})`);
    const done = await status(retired);
    assert.equal(done.stage, 'steady');
    assert.equal(done.agents.notReadyCount, 0);
    await retired.collector.close();
  });
}

test('MAMORI_TLS_CA_TRUST_FILE must hold CA certificates: no certificate, or a certificate that is not a CA, stops the start naming the file', async (t) => {
  const folder = makeTempDir('mamori-ca-trust-');
  t.after(() => folder.cleanup());
  const file = (name: string) => join(folder.path, name);
  const ca = await generateCertificateAuthority('Example Corp mamori CA');
  writeFileSync(file('ca.crt'), ca.certificatePem);
  writeFileSync(file('ca.key'), ca.privateKeyPem, { mode: 0o600 });
  const env = { MAMORI_TLS_CA_FILE: file('ca.crt'), MAMORI_TLS_CA_KEY_FILE: file('ca.key'), MAMORI_TLS_CA_TRUST_FILE: file('trust.pem') };
  writeFileSync(file('trust.pem'), 'not a certificate\n');
  await assert.rejects(startTestCollector(t, 'sqlite', env), /MAMORI_TLS_CA_TRUST_FILE: .*trust\.pem holds no PEM certificate/);
  const leaf = await (await LoadedAuthority.load(ca)).issueServerCertificate(['localhost']);
  writeFileSync(file('trust.pem'), leaf.certificatePem);
  await assert.rejects(startTestCollector(t, 'sqlite', env), /trust\.pem \(certificate 1\): .* is not a certificate authority/);
  const otherKey = await generateCertificateAuthority('Another CA');
  writeFileSync(file('ca.key'), otherKey.privateKeyPem, { mode: 0o600 });
  writeFileSync(file('trust.pem'), ca.certificatePem);
  await assert.rejects(startTestCollector(t, 'sqlite', env), /MAMORI_TLS_CA_FILE and MAMORI_TLS_CA_KEY_FILE .*the CA key does not belong to the CA certificate/);
});

function pemPins(bundle: string): string[] {
  return (bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map(pinOf);
}
