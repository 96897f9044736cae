import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../support/ports';
import { SERVER_BIN, startNodeProgram } from '../support/processes';
import { makeTempDir } from '../support/temp-dir';
import { AgentUnderTest, CollectorUnderTest, attachLine } from './support/cluster';
import { eventually } from './support/rest-client';
import { fetchPresentedCa, makeOperatorPki } from './support/pki';

// An operator may bring the collector's CA and server certificate instead of the generated
// ones (MAMORI_TLS_*_FILE). Agents must then pin the operator's CA and work as usual.
describe("an operator's own certificate authority", () => {
  test('the collector serves the operator certificate, and an agent enrolls and reports through it', async (t) => {
    const dir = makeTempDir('mamori-operator-pki-');
    t.after(() => dir.cleanup());
    const pki = await makeOperatorPki();
    const files = {
      MAMORI_TLS_CA_FILE: join(dir.path, 'ca.crt'),
      MAMORI_TLS_CA_KEY_FILE: join(dir.path, 'ca.key'),
      MAMORI_TLS_CERT_FILE: join(dir.path, 'server.crt'),
      MAMORI_TLS_KEY_FILE: join(dir.path, 'server.key'),
    };
    writeFileSync(files.MAMORI_TLS_CA_FILE, pki.caPem);
    writeFileSync(files.MAMORI_TLS_CA_KEY_FILE, pki.caKeyPem, { mode: 0o600 });
    writeFileSync(files.MAMORI_TLS_CERT_FILE, pki.serverCertPem);
    writeFileSync(files.MAMORI_TLS_KEY_FILE, pki.serverKeyPem, { mode: 0o600 });

    const collector = await CollectorUnderTest.start(t, 'sqlite', files);
    assert.ok(collector);
    const presented = await fetchPresentedCa(collector.grpcAddress);
    assert.equal(presented.pin, pki.caPin, 'the operator CA ends the served chain');

    const agent = await AgentUnderTest.enroll(t, collector);
    await agent.start();
    agent.appendScript([
      attachLine({ vendorId: '0781', productId: '5567', serial: 'OPERATOR-PKI-1', interfaceClasses: [8], busPath: '1-1' }),
    ]);
    await eventually('the violation from an agent enrolled under the operator CA', async () => {
      const page = await collector.rest.expect<{ items: unknown[] }>(200, 'GET', `/api/v1/violations?agentId=${agent.agentId}`);
      return page.items.length === 1 ? page : undefined;
    });
  });

  test('a server certificate from another authority stops the start with a message naming the file', async (t) => {
    const dir = makeTempDir('mamori-operator-pki-');
    t.after(() => dir.cleanup());
    const signing = await makeOperatorPki('Signing CA');
    const other = await makeOperatorPki('Some other CA');
    const env = {
      MAMORI_DATA_DIR: join(dir.path, 'data'),
      MAMORI_GRPC_ADDRESS: `127.0.0.1:${await freePort()}`,
      MAMORI_HTTP_ADDRESS: `127.0.0.1:${await freePort()}`,
      MAMORI_ADMIN_TOKEN: 'operator-pki-test-token',
      MAMORI_TLS_CA_FILE: join(dir.path, 'ca.crt'),
      MAMORI_TLS_CA_KEY_FILE: join(dir.path, 'ca.key'),
      MAMORI_TLS_CERT_FILE: join(dir.path, 'server.crt'),
      MAMORI_TLS_KEY_FILE: join(dir.path, 'server.key'),
    };
    writeFileSync(env.MAMORI_TLS_CA_FILE, signing.caPem);
    writeFileSync(env.MAMORI_TLS_CA_KEY_FILE, signing.caKeyPem, { mode: 0o600 });
    writeFileSync(env.MAMORI_TLS_CERT_FILE, other.serverCertPem);
    writeFileSync(env.MAMORI_TLS_KEY_FILE, other.serverKeyPem, { mode: 0o600 });
    const server = startNodeProgram('mamori-server(wrong cert)', SERVER_BIN, ['run'], env);
    t.after(() => server.stop());
    const exit = await server.waitForExit();
    assert.notEqual(exit.code, 0);
    assert.match(server.tail(), /MAMORI_TLS_CERT_FILE/);
  });
});
