import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AGENT_BIN, SERVER_BIN, runNodeProgram } from '../support/processes';
import { makeTempDir } from '../support/temp-dir';
import { AgentUnderTest, CollectorUnderTest, attachLine } from './support/cluster';
import { eventually } from './support/rest-client';

/**
 * The collector's generated CA replaced while a real agent keeps working, and the agent never
 * enrolled again: `ca rotate` (restart: the agent is handed the next CA), `ca switch` (restart:
 * the server certificate comes from the new CA, the agent renews from it), `ca retire` (restart:
 * the old CA is no longer trusted). Each step the CLI refuses while an agent is not ready says
 * which agent, and an enrollment token made before the switch no longer enrolls.
 */
test('the collector CA is rotated in three steps while an enrolled agent keeps uploading, without enrolling it again', { timeout: 600_000 }, async (t) => {
  const collector = await CollectorUnderTest.start(t, 'sqlite');
  if (collector === null) return;
  const ca = (args: string[]) => runNodeProgram(SERVER_BIN, ['ca', ...args], collector.env);
  const status = async () => {
    const result = await ca(['status', '--json']);
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout) as {
      stage: string;
      authorities: Array<{ role: string; pin: string }>;
      agents: { enrolled: number; trustingEveryCa: number; onSigningCa: number; notReadyCount: number; notReady: Array<{ id: string }> };
      nextStep: string;
    };
  };
  const restartCollector = async () => {
    await collector.process.stop();
    await collector.launch();
  };
  const agent = await AgentUnderTest.enroll(t, collector);
  const stateFile = (name: string) => join(agent.stateDir, name);
  const caPinsHeld = () =>
    (readFileSync(stateFile('ca.crt'), 'utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((pem) => pinOf(pem));
  const firstCa = caPinsHeld();
  assert.equal(firstCa.length, 1);
  const oldToken = await collector.createEnrollmentToken({ label: 'made before the switch', maxUses: 5 });
  await agent.start();

  const steady = await status();
  assert.equal(steady.stage, 'steady');
  assert.deepEqual(steady.authorities.map((a) => [a.role, a.pin]), [['signing', firstCa[0]]]);
  assert.equal(steady.agents.enrolled, 1);
  assert.equal(steady.agents.notReadyCount, 0, 'an enrolled agent holds the one CA');
  const noNext = await ca(['switch']);
  assert.equal(noNext.code, 1);
  assert.match(noNext.stderr, /no next CA to switch to.*ca rotate/);

  // Step 1: a next CA, handed to the agent after the restart.
  const rotated = await ca(['rotate', '--json']);
  assert.equal(rotated.code, 0, rotated.stderr);
  const nextPin = (JSON.parse(rotated.stdout) as { pin: string }).pin;
  assert.ok(existsSync(join(collector.dataDir, 'ca-next.key')), 'the next CA key is kept in the data folder');
  const again = await ca(['rotate']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already under way/);
  const early = await ca(['switch']);
  assert.equal(early.code, 1, 'the agent does not trust the next CA yet');
  assert.match(early.stderr, new RegExp(`1 enrolled agent\\(s\\) do not trust the next CA ${nextPin}.*${agent.agentId}`));
  await restartCollector();
  await agent.process.waitForLine(/"msg":"client certificate renewed".*"caBundleChanged":true/, 60_000);
  assert.deepEqual(caPinsHeld().sort(), [firstCa[0], nextPin].sort(), 'the agent stored both CAs');
  const introduced = await eventually('the agent reported trusting both CAs', async () => {
    const now = await status();
    return now.agents.trustingEveryCa === 1 ? now : undefined;
  });
  assert.equal(introduced.stage, 'introduced');
  assert.match(introduced.nextStep, /ca switch/);

  // Step 2: the next CA signs; the agent renews from it.
  const switched = await ca(['switch']);
  assert.equal(switched.code, 0, switched.stderr);
  // The test agent's own token (unlimited uses until it expires) and the one made for this.
  assert.match(switched.stdout, /2 usable enrollment token\(s\) pin the old CA/);
  await restartCollector();
  const servedCa = readFileSync(join(collector.dataDir, 'ca.crt'), 'utf8');
  assert.equal(pinOf(servedCa), nextPin);
  await eventually('a certificate from the new CA', async () => {
    const certificate = new X509Certificate(readFileSync(stateFile('agent.crt'), 'utf8'));
    return certificate.checkIssued(new X509Certificate(servedCa)) ? true : undefined;
  }, 120_000);
  const afterSwitch = await eventually('the agent reported its certificate from the new CA', async () => {
    const now = await status();
    return now.agents.onSigningCa === 1 ? now : undefined;
  });
  assert.equal(afterSwitch.stage, 'switched');
  assert.deepEqual(afterSwitch.authorities.map((a) => [a.role, a.pin]), [['signing', nextPin], ['previous', firstCa[0]]]);
  agent.appendScript([attachLine({ vendorId: '0781', productId: '5567', serial: 'ROTATION0001', interfaceClasses: [8], busPath: '1-3' })]);
  await eventually('an attach uploaded on the new CA', async () => ((await collector.countEvents({ agentId: agent.agentId, kind: 'usb_device_attached' })) >= 1 ? true : undefined));

  // A token made before the switch pins the old CA: the agent refuses the collector; a new token works.
  const spare = makeTempDir('mamori-agent-ca-');
  t.after(() => spare.cleanup());
  const refused = await runNodeProgram(AGENT_BIN, ['enroll', '--server', collector.grpcAddress, '--token', oldToken.token, '--state-dir', join(spare.path, 'old')], {});
  assert.notEqual(refused.code, 0);
  assert.match(`${refused.stdout}${refused.stderr}`, /pin/i, 'the refusal names the CA pin');
  const fresh = await collector.createEnrollmentToken({ label: 'made after the switch' });
  const enrolled = await runNodeProgram(AGENT_BIN, ['enroll', '--server', collector.grpcAddress, '--token', fresh.token, '--state-dir', join(spare.path, 'new')], {});
  assert.equal(enrolled.code, 0, `${enrolled.stdout}${enrolled.stderr}`);

  // Step 3: the old CA retired. The second agent enrolled on the new CA holds only that one,
  // so it is ready; its row must not hold up the retirement either.
  const retired = await ca(['retire']);
  assert.equal(retired.code, 0, retired.stderr);
  assert.equal(existsSync(join(collector.dataDir, 'ca-previous.crt')), false);
  await restartCollector();
  // The agent still trusts the retired CA until the collector hands it the one-CA bundle.
  await eventually('the agent trusting only the new CA', async () => (caPinsHeld().join() === nextPin ? true : undefined), 120_000);
  agent.appendScript([attachLine({ vendorId: '0781', productId: '5567', serial: 'ROTATION0002', interfaceClasses: [8], busPath: '1-4' })]);
  await eventually('an attach uploaded after the retirement', async () => {
    const attaches = await collector.rest.expect<{ items: Array<{ payload: unknown }> }>(200, 'GET', `/api/v1/events?agentId=${agent.agentId}&kind=usb_device_attached&limit=100`);
    return attaches.items.some((event) => JSON.stringify(event.payload).includes('ROTATION0002')) ? true : undefined;
  });
  const done = await eventually('every agent ready', async () => {
    const now = await status();
    return now.agents.notReadyCount === 0 ? now : undefined;
  });
  assert.equal(done.stage, 'steady');
  assert.deepEqual(done.authorities.map((a) => a.pin), [nextPin]);

  // The agent's status file is written every 2 s and a call that failed around the last restart
  // or renewal shows until the next one succeeds, so the state is awaited rather than sampled.
  let lastSeen: { connection: { state: string; lastError: string | null } } | undefined;
  const agentStatus = await eventually('the agent connected after the retirement', async () => {
    lastSeen = JSON.parse((await runNodeProgram(AGENT_BIN, ['status', '--json', '--state-dir', agent.stateDir], {})).stdout);
    return lastSeen!.connection.state === 'connected' ? (lastSeen as any) : undefined;
  }).catch((error: Error) => {
    throw new Error(`${error.message}; last status: ${JSON.stringify(lastSeen?.connection)}`);
  });
  assert.equal(agentStatus.agentId, agent.agentId, 'the same agent throughout');
  assert.deepEqual(agentStatus.collectorCas.map((authority: { pin: string }) => authority.pin), [nextPin]);
  const statusText = (await runNodeProgram(AGENT_BIN, ['status', '--state-dir', agent.stateDir], {})).stdout;
  assert.match(statusText, new RegExp(`^collector CA: +CN=mamori collector CA \\d{4}-\\d{2}-\\d{2} \\(pin ${nextPin}, until `, 'm'));
  const agents = await collector.rest.expect<{ items: unknown[] }>(200, 'GET', '/api/v1/agents');
  assert.equal(agents.items.length, 2, 'the first agent never enrolled again');
  const audit = await collector.rest.expect<{ items: Array<{ action: string }> }>(200, 'GET', '/api/v1/audit?subjectType=certificate_authority');
  assert.deepEqual(audit.items.map((item) => item.action).sort(), ['pki.ca.introduced', 'pki.ca.retired', 'pki.ca.switched']);
});

/** A CA's pin as tokens and heartbeats carry it: unpadded base64url SHA-256 of the DER. */
function pinOf(pem: string): string {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('base64url');
}
