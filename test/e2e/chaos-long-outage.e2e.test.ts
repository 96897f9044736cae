/**
 * Long outage: the collector is down while a real agent process produces far more events than
 * its outbox bound (MAMORI_AGENT_SPOOL_MAX_BYTES, set low here on purpose). The spool folder
 * stays within the bound the whole time, the agent counts exactly what it dropped (status, every
 * heartbeat, and the EVENTS_DROPPED status event once there is room again), and when the
 * collector returns it delivers the rest: stored + dropped == produced.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DATABASE_KINDS, type DatabaseKind } from '../support/databases';
import { AGENT_BIN, runNodeProgram, startNodeProgram } from '../support/processes';
import { AgentUnderTest, CollectorUnderTest, attachLine, detachLine } from './support/cluster';
import { eventually } from './support/rest-client';

const SPOOL_MAX_BYTES = 256 * 1024;
const PAIRS = 1_500; // 3,000 events, several times what 256 KiB of spool holds

/** Bytes of every file under `dir` (the spool's segments and its state). */
function folderBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += folderBytes(path);
    else if (entry.isFile()) total += statSync(path).size;
  }
  return total;
}

function segmentBytes(spoolDir: string): number {
  const segments = join(spoolDir, 'segments');
  return readdirSync(segments).reduce((n, name) => n + statSync(join(segments, name)).size, 0);
}

async function agentStatus(agent: AgentUnderTest): Promise<{ droppedEvents: number }> {
  const status = await runNodeProgram(AGENT_BIN, ['status', '--json', '--state-dir', agent.stateDir], {});
  return JSON.parse(status.stdout);
}

async function longOutage(t: TestContext, kind: DatabaseKind): Promise<void> {
  const collector = await CollectorUnderTest.start(t, kind);
  if (collector === null) return;
  const agent = await AgentUnderTest.enroll(t, collector);
  agent.process = startNodeProgram('mamori-agent', AGENT_BIN, ['run', '--state-dir', agent.stateDir], {
    ...agent.env,
    MAMORI_AGENT_SPOOL_MAX_BYTES: String(SPOOL_MAX_BYTES),
  });
  await agent.process.waitForLine(/"msg":"mamori-agent running"/, 30_000);
  // Everything the agent had to say at start is delivered before the outage.
  await eventually('the agent\'s start-up events stored', async () => ((await collector.countEvents({ agentId: agent.agentId, kind: 'agent_status' })) > 0 ? true : undefined));
  await sleep(1_500);

  await collector.process.kill9();
  const lines: string[] = [];
  for (let i = 0; i < PAIRS; i++) {
    const busPath = `4-${(i % 4) + 1}`;
    lines.push(
      attachLine({ vendorId: '0951', productId: '1666', serial: `OUTAGE${String(i).padStart(6, '0')}`, manufacturer: 'Kingston', product: 'DataTraveler', interfaceClasses: [8], busPath }),
      detachLine(busPath),
    );
  }
  const produced = lines.length;
  const scriptBytes = lines.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0);
  const spoolDir = join(agent.stateDir, 'spool');
  let largestSpool = 0;
  let largestSegments = 0;
  // Written a slice at a time, the spool measured after each.
  for (let i = 0; i < lines.length; i += 300) {
    agent.appendScript(lines.slice(i, i + 300));
    await sleep(200);
    largestSpool = Math.max(largestSpool, folderBytes(spoolDir));
    largestSegments = Math.max(largestSegments, segmentBytes(spoolDir));
  }
  // The fake source persists how far it read: wait until it took the whole script.
  await eventually(
    'the agent to read the whole script',
    async () => {
      largestSpool = Math.max(largestSpool, folderBytes(spoolDir));
      largestSegments = Math.max(largestSegments, segmentBytes(spoolDir));
      const progress = JSON.parse(readFileSync(join(agent.stateDir, 'sources', 'usb-fake.json'), 'utf8'));
      return progress.offset === scriptBytes ? true : undefined;
    },
    60_000,
  );
  const { droppedEvents } = await agentStatus(agent);
  t.diagnostic(`outage: ${produced} produced, ${droppedEvents} dropped, spool segments peaked at ${largestSegments} bytes (folder ${largestSpool}) of a ${SPOOL_MAX_BYTES}-byte bound`);
  assert.ok(droppedEvents > 0, 'the bound was reached: events were dropped');
  assert.ok(droppedEvents < produced, 'not everything was dropped');
  assert.ok(largestSegments <= SPOOL_MAX_BYTES, `the spool's segments stayed within the bound (${largestSegments} bytes)`);
  // Besides the segments the folder holds only the outbox's small state file (counters).
  assert.ok(largestSpool <= SPOOL_MAX_BYTES + 4096, `the spool folder stayed within the bound plus its state file (${largestSpool} bytes)`);

  await collector.launch();
  const stored = await eventually(
    'stored + dropped == produced',
    async () => {
      const attached = await collector.countEvents({ agentId: agent.agentId, kind: 'usb_device_attached' });
      const detached = await collector.countEvents({ agentId: agent.agentId, kind: 'usb_device_detached' });
      return attached + detached + droppedEvents >= produced ? attached + detached : undefined;
    },
    90_000,
  );
  await sleep(2_000);
  const settled =
    (await collector.countEvents({ agentId: agent.agentId, kind: 'usb_device_attached' })) +
    (await collector.countEvents({ agentId: agent.agentId, kind: 'usb_device_detached' }));
  assert.equal(settled, stored, 'nothing stored twice after the catch-up');
  assert.equal(stored + droppedEvents, produced, 'stored + dropped == produced');

  // The agent says how many it dropped: an EVENTS_DROPPED status event, and every heartbeat.
  const report = await eventually('the EVENTS_DROPPED status event', async () => {
    const page = await collector.rest.expect<{ items: Array<{ payload: Record<string, unknown> }> }>(
      200,
      'GET',
      `/api/v1/events?agentId=${agent.agentId}&kind=agent_status&limit=500`,
    );
    return page.items.find((e) => String(e.payload.state).includes('EVENTS_DROPPED'));
  });
  assert.equal(Number(report.payload.droppedEvents), droppedEvents, 'the EVENTS_DROPPED event names the exact count');
  await eventually('a heartbeat with the drop count', async () => {
    const view = await collector.rest.expect<{ health: Record<string, unknown> | null }>(200, 'GET', `/api/v1/agents/${agent.agentId}`);
    return Number(view.health?.droppedEvents) === droppedEvents ? true : undefined;
  });
  assert.equal((await agentStatus(agent)).droppedEvents, droppedEvents, 'no further drops once the collector is back');
  assert.ok(!agent.process.exited, 'the agent is still running');
}

for (const kind of DATABASE_KINDS) {
  describe(`long outage on ${kind}`, () => {
    test('the collector down while the agent produces more than its spool bound: bounded spool, exact drop count, the rest delivered', (t) =>
      longOutage(t, kind));
  });
}
