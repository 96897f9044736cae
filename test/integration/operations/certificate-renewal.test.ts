import 'reflect-metadata'; // @peculiar/x509 uses tsyringe, which needs the Reflect polyfill loaded first
import * as x509 from '@peculiar/x509';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, webcrypto, X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { CertificateServiceClient, type RenewCertificateResponse } from '../../../agent/src/generated/mamori/v1/certificate';
import type { UploadEventsResponse } from '../../../agent/src/generated/mamori/v1/telemetry';
import type { DatabaseKind } from '../../support/databases';
import { enrollAgent, failure, makeAgentKey, startTestCollector, telemetryClient, unary, usbAttached, type TestCollector } from '../server/collector-harness';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

function certificateClient(t: { after(fn: () => void): void }, sut: TestCollector, credentials: grpc.ChannelCredentials): CertificateServiceClient {
  const client = new CertificateServiceClient(sut.grpcTarget, credentials, { 'grpc.use_local_subchannel_pool': 1 });
  t.after(() => client.close());
  return client;
}

const renew = (client: CertificateServiceClient, csrPem: string) =>
  unary<RenewCertificateResponse>((cb) => client.renewCertificate({ certificateSigningRequestPem: csrPem }, cb));

/** A CSR signed by an existing key (what a careless client would send for a "renewal"). */
async function csrForExistingKey(keyPem: string): Promise<string> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256' };
  const privateKey = await webcrypto.subtle.importKey('pkcs8', createPublicKeyless(keyPem), algorithm, true, ['sign']);
  const spki = createPublicKey(keyPem).export({ type: 'spki', format: 'der' });
  const publicKey = await webcrypto.subtle.importKey('spki', spki, algorithm, true, ['verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'CN=mamori-agent',
    keys: { privateKey, publicKey } as never,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } as never,
  });
  return csr.toString('pem');
}

function createPublicKeyless(keyPem: string): Buffer {
  return Buffer.from(keyPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

for (const kind of ['sqlite', 'postgres'] as DatabaseKind[]) {
  test(`${kind}: an enrolled agent renews its certificate for a new key; the old one works until the new one is used, then is refused; audited`, async (t) => {
    const sut = await startTestCollector(t, kind);
    if (sut === null) return;
    const agent = await enrollAgent(t, sut, 'renewal-host');
    const upload = (credentials: grpc.ChannelCredentials) =>
      unary<UploadEventsResponse>((cb) => telemetryClient(t, sut, credentials).uploadEvents({ batchId: crypto.randomUUID(), events: [usbAttached()] }, cb));

    const fresh = await makeAgentKey();
    const response = await renew(certificateClient(t, sut, agent.credentials), fresh.csrPem);
    const renewed = new X509Certificate(response.clientCertificatePem);
    assert.ok(renewed.checkIssued(new X509Certificate(sut.caPem)), 'issued by the collector CA');
    assert.match(renewed.subjectAltName ?? '', new RegExp(`urn:mamori:agent:${agent.agentId}`), 'for the same agent: no new enrollment');
    assert.ok(renewed.checkPrivateKey(createPrivateKey(fresh.keyPem)), 'for the new key');
    assert.notEqual(renewed.fingerprint256, new X509Certificate(agent.certificatePem).fingerprint256);
    assert.equal(response.caBundlePem, sut.caPem);

    // Until the agent has used the new certificate, the old one still works (a crash before the swap loses nothing).
    assert.equal((await upload(agent.credentials)).storedCount, 1);
    const renewedCredentials = grpc.credentials.createSsl(Buffer.from(sut.caPem), Buffer.from(fresh.keyPem), Buffer.from(response.clientCertificatePem));
    assert.equal((await upload(renewedCredentials)).storedCount, 1);
    const refused = await failure(upload(agent.credentials));
    assert.equal(refused.code, grpc.status.UNAUTHENTICATED);
    assert.match(refused.details, /not the current certificate/);

    const audit = await sut.rest('GET', '/api/v1/audit?action=agent.certificate.renewed');
    assert.equal(audit.status, 200);
    assert.equal(audit.body.items.length, 1);
    assert.deepEqual(audit.body.items[0].subject, { type: 'agent', id: agent.agentId });
    assert.equal(audit.body.items[0].after.certFingerprint.length, 64);
    const agentView = await sut.rest('GET', `/api/v1/agents/${agent.agentId}`);
    assert.equal(new Date(agentView.body.certificateExpiresAt).getTime(), new Date(renewed.validTo).getTime());
  });

  test(`${kind}: a renewal request names what is wrong (INVALID_ARGUMENT), and a revoked agent cannot renew (UNAUTHENTICATED)`, async (t) => {
    const sut = await startTestCollector(t, kind);
    if (sut === null) return;
    const agent = await enrollAgent(t, sut, 'bad-renewal-host');
    const client = certificateClient(t, sut, agent.credentials);

    const garbage = await failure(renew(client, 'hello'));
    assert.equal(garbage.code, grpc.status.INVALID_ARGUMENT);
    assert.match(garbage.details, /^certificate_signing_request_pem: not a PEM certificate request/);

    const sameKey = await failure(renew(client, await csrForExistingKey(agent.keyPem)));
    assert.equal(sameKey.code, grpc.status.INVALID_ARGUMENT);
    assert.match(sameKey.details, /current certificate's key; generate a new key/);

    const { csrPem } = await makeAgentKey();
    const tampered = csrPem.replace(/-----BEGIN CERTIFICATE REQUEST-----\n(.{20})(.)/, (_m, head: string, c: string) => `-----BEGIN CERTIFICATE REQUEST-----\n${head}${c === 'A' ? 'B' : 'A'}`);
    const broken = await failure(renew(client, tampered));
    assert.equal(broken.code, grpc.status.INVALID_ARGUMENT);
    assert.match(broken.details, /^certificate_signing_request_pem: /);

    const anonymous = await failure(renew(certificateClient(t, sut, grpc.credentials.createSsl(Buffer.from(sut.caPem))), csrPem));
    assert.equal(anonymous.code, grpc.status.UNAUTHENTICATED);

    assert.equal((await sut.rest('POST', `/api/v1/agents/${agent.agentId}/revoke`)).status, 200);
    const revoked = await failure(renew(client, csrPem));
    assert.equal(revoked.code, grpc.status.UNAUTHENTICATED);
    assert.match(revoked.details, /has been revoked/);
    const audit = await sut.rest('GET', '/api/v1/audit?action=agent.certificate.renewed');
    assert.equal(audit.body.items.length, 0, 'nothing was renewed');
  });
}
