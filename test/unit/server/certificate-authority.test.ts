import 'reflect-metadata';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, webcrypto, X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import {
  agentIdOfCertificate,
  caPinOf,
  CertificateRequestError,
  generateCertificateAuthority,
  LoadedAuthority,
  serverCertificateCovers,
} from '../../../server/src/modules/pki/certificate-authority';

const AGENT_ID = '0f8b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d';

async function csr(algorithm: { name: string; namedCurve?: string; modulusLength?: number; publicExponent?: Uint8Array; hash?: string }, signing: object): Promise<string> {
  const keys = (await webcrypto.subtle.generateKey(algorithm as webcrypto.EcKeyGenParams, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const request = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=ignored', keys: keys as never, signingAlgorithm: signing as never });
  return request.toString('pem');
}

test('an agent CSR is signed into a clientAuth certificate that chains to the CA', async () => {
  const now = new Date();
  const ca = await generateCertificateAuthority('test CA', now);
  const sut = await LoadedAuthority.load(ca);
  const signed = await sut.signAgentRequest(await csr({ name: 'ECDSA', namedCurve: 'P-256' }, { name: 'ECDSA', hash: 'SHA-256' }), AGENT_ID, 30, now);

  const certificate = new X509Certificate(signed.certificatePem);
  const authority = new X509Certificate(ca.certificatePem);
  assert.ok(certificate.verify(authority.publicKey), 'signature verifies with the CA key');
  assert.ok(certificate.checkIssued(authority));
  assert.ok(authority.ca);
  assert.equal(certificate.ca, false);
  assert.equal(certificate.subject, `CN=${AGENT_ID}`);
  assert.equal(certificate.subjectAltName, `URI:urn:mamori:agent:${AGENT_ID}`);
  assert.deepEqual(certificate.keyUsage, ['1.3.6.1.5.5.7.3.2']);
  assert.equal(agentIdOfCertificate(certificate.raw), AGENT_ID);
  assert.equal(signed.fingerprint, createHash('sha256').update(certificate.raw).digest('hex'));
  const days = (Date.parse(certificate.validTo) - now.getTime()) / 86_400_000;
  assert.ok(days > 29 && days <= 30, `valid for 30 days, got ${days}`);
});

test('the CA pin is the base64url SHA-256 of the CA certificate DER', async () => {
  const ca = await generateCertificateAuthority('test CA');
  const der = new X509Certificate(ca.certificatePem).raw;
  assert.equal(caPinOf(ca.certificatePem), createHash('sha256').update(der).digest('base64url'));
});

test('malformed, RSA and tampered requests are refused with a reason', async () => {
  const sut = await LoadedAuthority.load(await generateCertificateAuthority('test CA'));
  await assert.rejects(sut.signAgentRequest('hello', AGENT_ID, 1), CertificateRequestError);
  await assert.rejects(
    sut.signAgentRequest('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n', AGENT_ID, 1),
    /cannot be parsed/,
  );
  const rsa = await csr(
    { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
    { name: 'RSASSA-PKCS1-v1_5' },
  );
  await assert.rejects(sut.signAgentRequest(rsa, AGENT_ID, 1), /ECDSA P-256 or P-384/);

  const good = new x509.Pkcs10CertificateRequest(await csr({ name: 'ECDSA', namedCurve: 'P-256' }, { name: 'ECDSA', hash: 'SHA-256' }));
  const bytes = new Uint8Array(good.rawData);
  bytes[bytes.length - 5] ^= 0xff; // flips a bit of the signature
  const tampered = x509.PemConverter.encode(bytes.buffer, 'CERTIFICATE REQUEST');
  await assert.rejects(sut.signAgentRequest(tampered, AGENT_ID, 1), /signature does not verify/);
});

test('the server certificate covers the configured names and is renewed when it does not', async () => {
  const sut = await LoadedAuthority.load(await generateCertificateAuthority('test CA'));
  const server = await sut.issueServerCertificate(['collector.example', '127.0.0.1', '::1']);
  const soon = new Date();
  assert.ok(serverCertificateCovers(server.certificatePem, ['collector.example', '127.0.0.1', '::1'], soon));
  assert.ok(!serverCertificateCovers(server.certificatePem, ['other.example'], soon));
  assert.ok(!serverCertificateCovers(server.certificatePem, ['collector.example'], new Date(Date.now() + 900 * 86_400_000)));
  assert.ok(new X509Certificate(server.certificatePem).checkIssued(new X509Certificate(sut.certificatePem)));
});

test('an operator CA with an RSA key can sign, and a key that does not match is refused', async () => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ca = await generateCertificateAuthority('ec CA');
  await assert.rejects(LoadedAuthority.load({ certificatePem: ca.certificatePem, privateKeyPem: privateKey.export({ type: 'pkcs1', format: 'pem' }) as string }), /does not belong/);
});
