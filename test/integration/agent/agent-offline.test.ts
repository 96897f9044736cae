import 'reflect-metadata';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { webcrypto } from 'node:crypto';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { makeTempDir } from '../../support/temp-dir';
import { freePort } from '../../support/ports';
import { AGENT_BIN, runNodeProgram, startNodeProgram } from '../../support/processes';
import { Outbox } from '../../../agent/src/outbox/outbox';
import { AgentState } from '../../../agent/src/generated/mamori/v1/events';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** A state folder as enrollment leaves it, pointing at a collector that is not there. */
async function writeEnrolledState(stateDir: string, server: string): Promise<string> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const agentId = '9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f';
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: `CN=${agentId}`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys,
    signingAlgorithm: EC,
  });
  const keyPem = x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
  writeFileSync(join(stateDir, 'agent.key'), keyPem, { mode: 0o600 });
  writeFileSync(join(stateDir, 'agent.crt'), cert.toString('pem'));
  writeFileSync(join(stateDir, 'ca.crt'), cert.toString('pem'));
  writeFileSync(join(stateDir, 'agent.json'), JSON.stringify({ agentId, server, enrolledAt: new Date().toISOString() }));
  return agentId;
}

test('the agent collects into its spool while the collector is unreachable, reports it in status, and stops in order on SIGTERM', async (t) => {
  const temp = makeTempDir('mamori-agent-offline-');
  t.after(() => temp.cleanup());
  const stateDir = join(temp.path, 'state');

  const before = await runNodeProgram(AGENT_BIN, ['status', '--json', '--state-dir', stateDir], {});
  assert.equal(before.code, 3, 'not enrolled yet');
  assert.equal(JSON.parse(before.stdout).enrolled, false);

  mkdirSync(stateDir, { mode: 0o700 });
  const agentId = await writeEnrolledState(stateDir, `127.0.0.1:${await freePort()}`);
  const script = join(temp.path, 'usb.jsonl');
  const attach = (serial: string, bus: string) =>
    JSON.stringify({ op: 'attach', device: { vendorId: '0781', productId: '5567', serial, interfaceClasses: [8], busPath: bus } });
  writeFileSync(script, `${attach('S1', '1-1')}\n${attach('S2', '1-2')}\n`);

  const agent = startNodeProgram('mamori-agent', AGENT_BIN, ['run', '--state-dir', stateDir], {
    MAMORI_AGENT_USB_BACKEND: 'fake',
    MAMORI_AGENT_FAKE_USB_SCRIPT: script,
    MAMORI_AGENT_HEARTBEAT_SECONDS: '1',
  });
  t.after(() => agent.stop());
  await agent.waitForLine(/"msg":"mamori-agent running"/);

  const deadline = Date.now() + 30_000;
  let status: any;
  for (;;) {
    const result = await runNodeProgram(AGENT_BIN, ['status', '--json', '--state-dir', stateDir], {});
    assert.equal(result.code, 0, result.stderr);
    status = JSON.parse(result.stdout);
    if (status.spool.events >= 3 && status.connection.state === 'unavailable') break;
    if (Date.now() > deadline) assert.fail(`status never showed the offline spool: ${result.stdout}\n${agent.tail()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(status.agentId, agentId);
  assert.equal(status.daemon.running, true);
  assert.match(status.connection.lastError, /UNAVAILABLE/);

  await agent.stop();
  const exit = await agent.waitForExit();
  assert.equal(exit.code, 0, `orderly stop exit code; output:\n${agent.tail()}`);

  const outbox = await Outbox.open({ dir: join(stateDir, 'spool'), maxBytes: 1 << 24, maxBatchEvents: 500 });
  const events = [];
  for await (const e of outbox.scan()) events.push(e);
  await outbox.close();
  assert.equal(events[0].agentStatus?.state, AgentState.AGENT_STATE_STARTED);
  assert.deepEqual(events.filter((e) => e.usbDeviceAttached).map((e) => e.usbDeviceAttached?.device?.serial), ['S1', 'S2']);
  assert.equal(events[events.length - 1].agentStatus?.state, AgentState.AGENT_STATE_STOPPING);
  assert.deepEqual(events.map((e) => Number(e.sequence)), events.map((_, i) => i + 1), 'sequences 1..n without gaps');
});
