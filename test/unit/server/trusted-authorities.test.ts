import 'reflect-metadata';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { generateCertificateAuthority, LoadedAuthority } from '../../../server/src/modules/pki/certificate-authority';
import { issuerPinOf, renewalReason, type AuthorityRole, type TrustedAuthority } from '../../../server/src/modules/pki/trusted-authorities';
import { caPinOf } from '../../../server/src/modules/pki/certificate-authority';
import { reportedCaPins } from '../../../server/src/modules/agents/agents.service';

async function authority(name: string, role: AuthorityRole) {
  const material = await generateCertificateAuthority(name);
  const trusted: TrustedAuthority = {
    role,
    pin: caPinOf(material.certificatePem),
    subject: `CN=${name}`,
    notAfter: new Date(Date.now() + 86_400_000),
    source: `${name}.crt`,
    certificatePem: material.certificatePem,
    certificate: new X509Certificate(material.certificatePem),
  };
  return { trusted, loaded: await LoadedAuthority.load(material) };
}

test('the issuer of a client certificate is found among the trusted CAs by signature, not by name', async () => {
  const signing = await authority('mamori collector CA', 'signing');
  const previous = await authority('mamori collector CA', 'previous'); // the same subject, another key
  const stranger = await authority('someone else', 'trusted');
  const issued = new X509Certificate((await previous.loaded.issueServerCertificate(['agent'])).certificatePem).raw;
  assert.equal(issuerPinOf(issued, [signing.trusted, previous.trusted]), previous.trusted.pin);
  assert.equal(issuerPinOf(issued, [signing.trusted, stranger.trusted]), null);
  // With one CA, the TLS handshake already verified the certificate against it.
  assert.equal(issuerPinOf(issued, [signing.trusted]), signing.trusted.pin);
});

test('an agent is asked to renew while its certificate comes from another CA than the signing one, or its CAs differ from the collector’s', async () => {
  const signing = (await authority('new CA', 'signing')).trusted;
  const next = (await authority('next CA', 'next')).trusted;
  const old = (await authority('old CA', 'previous')).trusted;
  assert.equal(renewalReason(signing.pin, [signing.pin], [signing]), null, 'steady');
  assert.equal(renewalReason(signing.pin, [], [signing, next]), null, 'an agent that reports no CAs is judged by its issuer only');
  assert.match(renewalReason(signing.pin, [signing.pin], [signing, next])!, new RegExp(`does not yet trust CA ${next.pin}`));
  assert.equal(renewalReason(signing.pin, [next.pin, signing.pin], [signing, next]), null, 'order does not matter');
  assert.match(renewalReason(old.pin, [signing.pin, old.pin], [signing, old])!, new RegExp(`now signs with CA ${signing.pin} \\(CN=new CA\\); this certificate was issued by CA ${old.pin}`));
  assert.match(renewalReason(null, [signing.pin], [signing, old])!, /issued by a CA it does not know/);
  assert.match(renewalReason(signing.pin, [signing.pin, old.pin], [signing])!, new RegExp(`still trusts CA ${old.pin}, which the collector no longer trusts`));
});

test('the CA pins a heartbeat reports are kept only when well-formed, without repeats, at most 16', () => {
  const pin = 'A'.repeat(43);
  assert.deepEqual(reportedCaPins([pin, pin, 'short', `${'B'.repeat(42)}=`, 'C'.repeat(43)]), [pin, 'C'.repeat(43)]);
  assert.deepEqual(reportedCaPins(undefined), []);
  assert.equal(reportedCaPins(Array.from({ length: 40 }, (_, i) => String(i).padStart(43, 'x'))).length, 16);
});
