import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { UploadEventsResponse } from '../../../agent/src/generated/mamori/v1/telemetry';
import { provideDatabase } from '../../support/databases';
import { makeTempDir } from '../../support/temp-dir';
import { collect, enrollAgent, policyClient, startTestCollector, telemetryClient, unary, usbAttached } from '../server/collector-harness';

/**
 * What deploy/kubernetes relies on: replicas that share one PostgreSQL database and one CA (given
 * as MAMORI_TLS_CA_FILE / MAMORI_TLS_CA_KEY_FILE, each with its own data folder) serve the same
 * agents: enrolled on one, an agent uploads to the other, and a policy change made through one
 * reaches the agent's policy stream on the other.
 */
test('two collector replicas on one PostgreSQL database and one CA serve the same agents', async (t) => {
  const database = await provideDatabase(t, 'postgres');
  if (database === null) return;
  const folders = makeTempDir('mamori-replicas-');
  t.after(() => folders.cleanup());
  const secret = join(folders.path, 'secret');
  mkdirSync(secret, { mode: 0o700 });

  // The CA is made once (here by a first collector, as an operator would take it from an existing
  // collector's data folder) and handed to every replica as files, as the Kubernetes Secret does.
  const first = await startTestCollector(t, 'sqlite', { MAMORI_DATABASE_URL: database.url!, MAMORI_DATA_DIR: join(folders.path, 'seed') });
  assert.ok(first !== null);
  await first.collector.close();
  copyFileSync(join(folders.path, 'seed', 'ca.crt'), join(secret, 'ca.crt'));
  copyFileSync(join(folders.path, 'seed', 'ca.key'), join(secret, 'ca.key'));
  const replica = (name: string) =>
    startTestCollector(t, 'sqlite', {
      MAMORI_DATABASE_URL: database.url!,
      MAMORI_DATA_DIR: join(folders.path, name),
      MAMORI_TLS_CA_FILE: join(secret, 'ca.crt'),
      MAMORI_TLS_CA_KEY_FILE: join(secret, 'ca.key'),
    });
  const a = (await replica('replica-a'))!;
  const b = (await replica('replica-b'))!;
  assert.equal(a.caPem, b.caPem, 'one CA');
  const serverCertificate = (name: string) => new X509Certificate(readFileSync(join(folders.path, name, 'server.crt')));
  assert.notEqual(serverCertificate('replica-a').fingerprint256, serverCertificate('replica-b').fingerprint256, 'each replica has its own server certificate');
  const ca = new X509Certificate(a.caPem);
  for (const name of ['replica-a', 'replica-b']) assert.ok(serverCertificate(name).verify(ca.publicKey), `${name}'s server certificate is issued by the shared CA`);

  const agent = await enrollAgent(t, a, 'replicated-host');
  const upload = await unary<UploadEventsResponse>((cb) => telemetryClient(t, b, agent.credentials).uploadEvents({ batchId: '6f0c1f3a-0d7b-4d4e-9a57-6b2b2d1c0e11', events: [usbAttached()] }, cb));
  assert.equal(upload.storedCount, 1, 'an agent enrolled through replica A is accepted by replica B');
  assert.equal((await a.rest('GET', '/api/v1/events/count')).body.count, 1, 'and replica A sees what B stored');

  const watch = policyClient(t, b, agent.credentials).watchPolicy({ knownVersion: '0', knownLineageId: '' });
  t.after(() => watch.cancel());
  const stream = collect(watch);
  const initial = await stream.next();
  const changed = await a.rest('PUT', '/api/v1/policy/usb', { unregisteredDeviceMode: 'block' });
  assert.equal(changed.status, 200, JSON.stringify(changed.body));
  const next = await stream.next();
  assert.equal(Number(next.policy!.version), Number(initial.policy!.version) + 1, "a change made on replica A reaches an agent's stream on replica B");
  watch.cancel();
});
