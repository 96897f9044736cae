import 'reflect-metadata';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateCertificateAuthority, LoadedAuthority } from '../../../../server/src/modules/pki/certificate-authority';
import { generateKeyAndCsr } from '../../../../agent/src/transport/key-material';
import { caBundlePins, CertificateRenewer } from '../../../../agent/src/transport/certificate-renewer';
import { statePaths } from '../../../../agent/src/state/state-dir';
import type { AgentCredentials } from '../../../../agent/src/state/agent-identity';
import type { CertificateServiceClient, RenewCertificateRequest, RenewCertificateResponse } from '../../../../agent/src/generated/mamori/v1/certificate';
import { silentLogger } from '../../../../agent/src/logging/logger';
import { makeTempDir } from '../../../support/temp-dir';

const AGENT_ID = '3f1c9d7e-8a51-4a0e-9c0b-1d2e3f4a5b6c';

/**
 * A renewal the collector asks for (CA rotation) runs at once although the certificate is far
 * from due, stores the bundle the answer carries, and a second request right after a renewal is
 * not followed (a collector whose bundle the agent cannot match must not get one per heartbeat).
 */
test('a renewal requested by the collector runs before the certificate is due, stores the new CA bundle, and is not repeated for the same reason within a minute', async (t) => {
  const temp = makeTempDir('mamori-requested-renewal-');
  t.after(() => temp.cleanup());
  const paths = statePaths(join(temp.path, 'state'));
  mkdirSync(paths.root, { mode: 0o700 });
  const oldCa = await generateCertificateAuthority('old CA');
  const nextCa = await generateCertificateAuthority('next CA');
  const signer = await LoadedAuthority.load(oldCa);
  const first = await generateKeyAndCsr('host');
  // 30 days: renewal is due only with 10 days left.
  const certificatePem = (await signer.signAgentRequest(first.csrPem, AGENT_ID, 30)).certificatePem;
  writeFileSync(paths.privateKey, first.privateKeyPem);
  writeFileSync(paths.certificate, certificatePem);
  writeFileSync(paths.caCertificate, oldCa.certificatePem);
  const credentials: AgentCredentials = { identity: { agentId: AGENT_ID, server: '127.0.0.1:1', enrolledAt: new Date().toISOString() }, privateKeyPem: first.privateKeyPem, certificatePem, caPem: oldCa.certificatePem };

  const calls: string[] = [];
  const client = {
    renewCertificate(request: RenewCertificateRequest, _metadata: unknown, _options: unknown, callback: (error: null, response: RenewCertificateResponse) => void) {
      calls.push(request.certificateSigningRequestPem);
      void signer.signAgentRequest(request.certificateSigningRequestPem, AGENT_ID, 30).then((signed) =>
        callback(null, { clientCertificatePem: signed.certificatePem, certificateExpiresAt: undefined, caBundlePem: oldCa.certificatePem + nextCa.certificatePem }),
      );
      return {};
    },
  } as unknown as CertificateServiceClient;
  const renewed: AgentCredentials[] = [];
  const renewer = new CertificateRenewer({ paths, credentials, client: () => client, onRenewed: (c) => renewed.push(c), logger: silentLogger, hostname: () => 'host' });
  const abort = new AbortController();
  const loop = renewer.run(abort.signal);
  t.after(async () => {
    abort.abort();
    await loop;
  });

  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(calls.length, 0, 'not due: no renewal');
  assert.equal(renewer.status().state, 'idle');

  renewer.requestRenewal('the collector\'s CA bundle changed');
  await waitFor(() => renewed.length === 1);
  assert.equal(calls.length, 1);
  assert.deepEqual(caBundlePins(readFileSync(paths.caCertificate, 'utf8')), caBundlePins(oldCa.certificatePem + nextCa.certificatePem), 'the bundle is stored');
  assert.deepEqual(caBundlePins(renewed[0].caPem).length, 2, 'and used for the next connection');

  renewer.requestRenewal('the collector\'s CA bundle changed');
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(calls.length, 1, 'the same reason again: not within a minute of the renewal that answered it');

  // The next step of a rotation gives another reason, which is followed at once.
  renewer.requestRenewal('the collector now signs with the next CA');
  await waitFor(() => renewed.length === 2);
  assert.equal(calls.length, 2);
  assert.equal(renewer.status().requestedReason, null);
});

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
