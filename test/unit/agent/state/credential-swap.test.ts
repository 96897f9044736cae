import 'reflect-metadata';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateCertificateAuthority, LoadedAuthority } from '../../../../server/src/modules/pki/certificate-authority';
import { generateKeyAndCsr } from '../../../../agent/src/transport/key-material';
import { renewedCertificateProblem } from '../../../../agent/src/transport/certificate-renewer';
import { certificateMatchesKey, completeInterruptedRenewal, installRenewedCertificate, pendingRenewalPaths, storePendingKey } from '../../../../agent/src/state/credential-swap';
import { statePaths } from '../../../../agent/src/state/state-dir';
import { saveCredentials } from '../../../../agent/src/state/agent-identity';
import { makeTempDir } from '../../../support/temp-dir';

const AGENT_ID = '3f1c9d7e-8a51-4a0e-9c0b-1d2e3f4a5b6c';

async function issued(authority: LoadedAuthority): Promise<{ key: string; certificate: string }> {
  const { privateKeyPem, csrPem } = await generateKeyAndCsr('host');
  const signed = await authority.signAgentRequest(csrPem, AGENT_ID, 30);
  return { key: privateKeyPem, certificate: signed.certificatePem };
}

async function folder(t: { after(fn: () => void): void }) {
  const temp = makeTempDir('mamori-swap-');
  t.after(() => temp.cleanup());
  const paths = statePaths(join(temp.path, 'state'));
  mkdirSync(paths.root, { mode: 0o700 });
  const ca = await generateCertificateAuthority('test CA');
  const authority = await LoadedAuthority.load(ca);
  const current = await issued(authority);
  writeFileSync(paths.privateKey, current.key);
  writeFileSync(paths.certificate, current.certificate);
  writeFileSync(paths.caCertificate, ca.certificatePem);
  return { paths, authority, ca, current, pending: pendingRenewalPaths(paths) };
}

const pair = (paths: ReturnType<typeof statePaths>) => ({ key: readFileSync(paths.privateKey, 'utf8'), certificate: readFileSync(paths.certificate, 'utf8') });

test('a finished swap puts the new key and certificate in place together and leaves nothing pending', async (t) => {
  const { paths, authority, pending } = await folder(t);
  const next = await issued(authority);
  await storePendingKey(paths, next.key);
  await installRenewedCertificate(paths, next.certificate, null);
  assert.deepEqual(pair(paths), next);
  assert.equal(existsSync(pending.key) || existsSync(pending.certificate), false);
  assert.equal(await completeInterruptedRenewal(paths), null);
});

test('every crash point leaves a key and certificate that belong together (the old pair or the new one)', async (t) => {
  // The steps of a renewal in order; a crash can stop it after any of them.
  const steps = ['pending key stored', 'pending certificate stored', 'key renamed', 'certificate renamed'] as const;
  for (let done = 0; done <= steps.length; done++) {
    const { paths, authority, current, pending } = await folder(t);
    const next = await issued(authority);
    if (done >= 1) writeFileSync(pending.key, next.key);
    if (done >= 2) writeFileSync(pending.certificate, next.certificate);
    if (done >= 3) renameSync(pending.key, paths.privateKey);
    if (done >= 4) renameSync(pending.certificate, paths.certificate);
    const what = await completeInterruptedRenewal(paths);
    const after = pair(paths);
    assert.ok(certificateMatchesKey(after.certificate, after.key), `after "${steps[done - 1] ?? 'nothing'}" the pair matches`);
    assert.deepEqual(after, done >= 2 ? next : current, `after "${steps[done - 1] ?? 'nothing'}": ${what}`);
    assert.equal(existsSync(pending.key) || existsSync(pending.certificate), false);
  }
});

test('a pending certificate whose key is gone is dropped, the current pair stays', async (t) => {
  const { paths, authority, current, pending } = await folder(t);
  writeFileSync(pending.certificate, (await issued(authority)).certificate);
  assert.match((await completeInterruptedRenewal(paths)) ?? '', /dropped a renewed certificate whose key is gone/);
  assert.deepEqual(pair(paths), current);
});

test('a renewed certificate is refused when it is for another key, another agent or from a CA outside the bundle', async (t) => {
  const { authority, ca } = await folder(t);
  const next = await issued(authority);
  assert.equal(renewedCertificateProblem(next.certificate, next.key, AGENT_ID, ca.certificatePem), null);
  const other = await issued(authority);
  assert.match(renewedCertificateProblem(next.certificate, other.key, AGENT_ID, ca.certificatePem) ?? '', /does not certify the key/);
  assert.match(renewedCertificateProblem(next.certificate, next.key, '00000000-0000-4000-8000-000000000000', ca.certificatePem) ?? '', /does not name agent/);
  const stranger = await generateCertificateAuthority('another CA');
  assert.match(renewedCertificateProblem(next.certificate, next.key, AGENT_ID, stranger.certificatePem) ?? '', /not issued by a CA of the bundle/);
  assert.equal(renewedCertificateProblem(next.certificate, next.key, AGENT_ID, stranger.certificatePem + ca.certificatePem), null, 'a bundle with the issuer among others');
});

test('enrolling again drops a half-done renewal of the earlier identity, so the next start cannot put it back', async (t) => {
  const { paths, authority, ca, pending } = await folder(t);
  const stale = await issued(authority);
  writeFileSync(pending.key, stale.key);
  writeFileSync(pending.certificate, stale.certificate);
  const enrolled = await issued(authority);
  await saveCredentials(paths, {
    identity: { agentId: AGENT_ID, server: 'collector:50051', enrolledAt: new Date().toISOString() },
    privateKeyPem: enrolled.key,
    certificatePem: enrolled.certificate,
    caPem: ca.certificatePem,
  });
  assert.equal(await completeInterruptedRenewal(paths), null);
  assert.deepEqual(pair(paths), enrolled);
});
