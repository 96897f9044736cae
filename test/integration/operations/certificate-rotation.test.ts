import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import type { UploadEventsResponse } from '../../../agent/src/generated/mamori/v1/telemetry';
import { generateCertificateAuthority, LoadedAuthority } from '../../../server/src/modules/pki/certificate-authority';
import { makeTempDir } from '../../support/temp-dir';
import { enrollAgent, startTestCollector, telemetryClient, unary, usbAttached, type TestCollector } from '../server/collector-harness';

/** The SHA-256 fingerprint of the certificate the gRPC port presents. */
function servedFingerprint(sut: TestCollector): Promise<string> {
  const [host, port] = sut.grpcTarget.split(':');
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port: Number(port), ALPNProtocols: ['h2'], rejectUnauthorized: false, servername: 'localhost' }, () => {
      resolve(socket.getPeerX509Certificate()!.fingerprint256);
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

/**
 * The README's rotation of an operator-provided server certificate: issue a new one from the
 * collector's CA, replace the files, restart. Agents pinned the CA, so they keep working without
 * enrolling again; a certificate from another CA is refused at start.
 */
test('an operator-provided server certificate is rotated by replacing its files and restarting; enrolled agents keep working', async (t) => {
  const folder = makeTempDir('mamori-rotation-');
  t.after(() => folder.cleanup());
  const file = (name: string) => join(folder.path, name);
  const ca = await generateCertificateAuthority('Example Corp mamori CA');
  writeFileSync(file('ca.crt'), ca.certificatePem);
  writeFileSync(file('ca.key'), ca.privateKeyPem, { mode: 0o600 });
  const authority = await LoadedAuthority.load(ca);
  const install = async (issuer: LoadedAuthority) => {
    const issued = await issuer.issueServerCertificate(['localhost', '127.0.0.1']);
    writeFileSync(file('server.crt'), issued.certificatePem);
    writeFileSync(file('server.key'), issued.privateKeyPem, { mode: 0o600 });
    return new X509Certificate(issued.certificatePem).fingerprint256;
  };
  const env = {
    MAMORI_DATA_DIR: file('data'),
    MAMORI_TLS_CA_FILE: file('ca.crt'),
    MAMORI_TLS_CA_KEY_FILE: file('ca.key'),
    MAMORI_TLS_CERT_FILE: file('server.crt'),
    MAMORI_TLS_KEY_FILE: file('server.key'),
  };

  const first = await install(authority);
  const before = (await startTestCollector(t, 'sqlite', env))!;
  assert.equal(await servedFingerprint(before), first);
  const agent = await enrollAgent(t, before, 'rotation-host');
  const upload = async (sut: TestCollector) =>
    (await unary<UploadEventsResponse>((cb) => telemetryClient(t, sut, agent.credentials).uploadEvents({ batchId: crypto.randomUUID(), events: [usbAttached()] }, cb))).storedCount;
  assert.equal(await upload(before), 1);
  await before.collector.close();

  const second = await install(authority);
  assert.notEqual(second, first);
  const after = (await startTestCollector(t, 'sqlite', env))!;
  assert.equal(await servedFingerprint(after), second, 'the restarted collector presents the new certificate');
  assert.equal(await upload(after), 1, 'the agent enrolled before the rotation is still accepted, and still trusts the server');
  await after.collector.close();

  // A certificate from some other CA would fail every agent's check: the collector refuses it.
  await install(await LoadedAuthority.load(await generateCertificateAuthority('Some other CA')));
  await assert.rejects(startTestCollector(t, 'sqlite', env), /MAMORI_TLS_CERT_FILE: the server certificate is not issued by the collector's CA/);
});
