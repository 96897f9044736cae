import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AGENT_BIN, runNodeProgram } from '../support/processes';
import { AgentUnderTest, CollectorUnderTest, attachLine } from './support/cluster';
import { eventually } from './support/rest-client';

/**
 * A real agent renews its client certificate by itself before it expires, with certificates
 * that live 30 s (MAMORI_AGENT_CERT_DAYS=30s): a new key and certificate replace the old ones in
 * its state folder, it keeps uploading after the first certificate has expired, survives a
 * restart on the renewed files, and was never enrolled again.
 */
test('a running agent renews its short-lived certificate before it expires and keeps working past the first one’s expiry', async (t) => {
  const collector = await CollectorUnderTest.start(t, 'sqlite', { MAMORI_AGENT_CERT_DAYS: '30s' });
  if (collector === null) return;
  const agent = await AgentUnderTest.enroll(t, collector);
  const file = (name: string) => join(agent.stateDir, name);
  const firstCertificate = new X509Certificate(readFileSync(file('agent.crt'), 'utf8'));
  const firstKey = readFileSync(file('agent.key'), 'utf8');
  const lifetimeMs = Date.parse(firstCertificate.validTo) - Date.parse(firstCertificate.validFrom);
  assert.ok(lifetimeMs <= 34_000, `a short-lived certificate (${lifetimeMs} ms)`);

  await agent.start();
  await agent.process.waitForLine(/"msg":"client certificate renewed"/, 40_000);
  const renewedCertificate = readFileSync(file('agent.crt'), 'utf8');
  const renewedKey = readFileSync(file('agent.key'), 'utf8');
  assert.notEqual(renewedKey, firstKey, 'a new key');
  assert.notEqual(new X509Certificate(renewedCertificate).fingerprint256, firstCertificate.fingerprint256);
  assert.ok(new X509Certificate(renewedCertificate).checkPrivateKey(createPrivateKey(renewedKey)), 'the stored certificate belongs to the stored key');
  assert.match(new X509Certificate(renewedCertificate).subjectAltName ?? '', new RegExp(agent.agentId), 'the same agent');
  assert.equal(existsSync(file('renewal.key')) || existsSync(file('renewal.crt')), false, 'no pending renewal files left');

  // Past the first certificate's end, the agent still delivers what it sees.
  const waitMs = Date.parse(firstCertificate.validTo) + 2_000 - Date.now();
  if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
  agent.appendScript([attachLine({ vendorId: '0781', productId: '5567', serial: 'RENEWAL0001', interfaceClasses: [8], busPath: '1-7' })]);
  await eventually('the attach uploaded with the renewed certificate', async () =>
    (await collector.countEvents({ agentId: agent.agentId, kind: 'usb_device_attached' })) === 1 ? true : undefined,
  );

  // And it takes a policy change published now.
  const changed = await collector.rest.expect<{ policyVersion: number }>(200, 'PUT', '/api/v1/policy/transfers', { watchedFolders: ['/srv/outbox'] });
  await eventually('the agent running the new policy', async () => {
    const daemon = JSON.parse(readFileSync(file('status.json'), 'utf8')) as { policyVersion: string };
    return daemon.policyVersion === String(changed.policyVersion) ? true : undefined;
  });

  const status = JSON.parse((await runNodeProgram(AGENT_BIN, ['status', '--json', '--state-dir', agent.stateDir], {})).stdout);
  assert.equal(status.connection.state, 'connected');
  assert.doesNotMatch(status.connection.lastError ?? '', /UNAUTHENTICATED/, 'no call was ever refused around the renewals');
  assert.equal(status.agentId, agent.agentId);
  assert.notEqual(status.renewal.lastRenewedAt, null);
  assert.equal(status.renewal.failedAttempts, 0);
  assert.notEqual(status.certificate.state, 'expired');
  const text = (await runNodeProgram(AGENT_BIN, ['status', '--state-dir', agent.stateDir], {})).stdout;
  assert.match(text, /^renewal: +(next at|renewing now).*last renewed /m);

  const audit = await collector.rest.expect<{ items: Array<{ subject: { id: string } }> }>(200, 'GET', '/api/v1/audit?action=agent.certificate.renewed');
  assert.ok(audit.items.length >= 1 && audit.items.every((item) => item.subject.id === agent.agentId), 'each renewal is audited');
  const agents = await collector.rest.expect<{ items: unknown[] }>(200, 'GET', '/api/v1/agents');
  assert.equal(agents.items.length, 1, 'never enrolled again');

  // A restart runs on the renewed files.
  await agent.process.stop();
  await agent.start();
  agent.appendScript([attachLine({ vendorId: '0781', productId: '5567', serial: 'RENEWAL0002', interfaceClasses: [8], busPath: '1-8' })]);
  // The restarted agent also reports RENEWAL0001 again as present at start, often in the same
  // batch as the new stick, so the new stick is looked for by its serial rather than by a count.
  await eventually('the second stick attached after the restart', async () => {
    const attaches = await collector.rest.expect<{ items: Array<{ payload: unknown }> }>(
      200,
      'GET',
      `/api/v1/events?agentId=${agent.agentId}&kind=usb_device_attached&limit=100`,
    );
    return attaches.items.some((event) => JSON.stringify(event.payload).includes('RENEWAL0002')) ? true : undefined;
  });
});
