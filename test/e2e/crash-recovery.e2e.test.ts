import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { DATABASE_KINDS, type DatabaseKind } from '../support/databases';
import { AgentUnderTest, CollectorUnderTest, attachLine, detachLine } from './support/cluster';
import { eventually } from './support/rest-client';

const PAIRS = 5_000; // 5,000 attach + 5,000 detach = 10,000 events
const CHUNK_PAIRS = 100;
const CHUNK_PAUSE_MS = 100;

/** Appends the 10,000-event stream to the agent's fake USB script, a chunk at a time, as a live stream would arrive. */
async function streamEvents(agent: AgentUnderTest, stop: { requested: boolean }): Promise<void> {
  for (let first = 0; first < PAIRS && !stop.requested; first += CHUNK_PAIRS) {
    const lines: string[] = [];
    for (let i = first; i < Math.min(PAIRS, first + CHUNK_PAIRS); i++) {
      const busPath = `3-${(i % 8) + 1}`;
      lines.push(
        attachLine({
          vendorId: '0951',
          productId: '1666',
          serial: `KINGSTON${String(i).padStart(8, '0')}`,
          manufacturer: 'Kingston',
          product: 'DataTraveler 3.0',
          interfaceClasses: [8],
          busPath,
        }),
        detachLine(busPath),
      );
    }
    agent.appendScript(lines);
    await sleep(CHUNK_PAUSE_MS);
  }
}

async function storedUsbEvents(collector: CollectorUnderTest, agentId: string): Promise<{ attached: number; detached: number }> {
  const attached = await collector.countEvents({ agentId, kind: 'usb_device_attached' });
  const detached = await collector.countEvents({ agentId, kind: 'usb_device_detached' });
  return { attached, detached };
}

/** Every stored event of `kind`, walking all pages. */
async function listEvents(collector: CollectorUnderTest, agentId: string, kind: string): Promise<Array<{ eventId: string; payload: Record<string, unknown> }>> {
  const all: Array<{ eventId: string; payload: Record<string, unknown> }> = [];
  let cursor: string | null = null;
  do {
    const query: string = `/api/v1/events?agentId=${agentId}&kind=${kind}&limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const page: { items: Array<{ eventId: string; payload: Record<string, unknown> }>; nextCursor: string | null } = await collector.rest.expect(200, 'GET', query);
    all.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return all;
}

/**
 * The events of the script's lines, without the reports a restarted agent makes at start (like
 * every backend, the fake reports the sticks still attached as present at start, and those
 * gone as detached while it was stopped): those are new events, not duplicates.
 */
async function scriptedUsbEvents(collector: CollectorUnderTest, agentId: string) {
  const attached = (await listEvents(collector, agentId, 'usb_device_attached')).filter((e) => e.payload.presentAtStart !== true);
  const detached = (await listEvents(collector, agentId, 'usb_device_detached')).filter((e) => e.payload.leftWhileAgentStopped !== true);
  return { attached, detached };
}

async function expectExactlyAllStored(collector: CollectorUnderTest, agentId: string): Promise<void> {
  await eventually(
    'all 10,000 events stored',
    async () => {
      const counts = await storedUsbEvents(collector, agentId);
      return counts.attached >= PAIRS && counts.detached >= PAIRS ? counts : undefined;
    },
    180_000,
  );
  // A restarted agent's own reports count above, so the last script lines may still be on their
  // way: wait for them by their own count.
  await eventually(
    'every script line stored',
    async () => {
      const { attached, detached } = await scriptedUsbEvents(collector, agentId);
      return attached.length >= PAIRS && detached.length >= PAIRS ? true : undefined;
    },
    60_000,
  );
  // Give a late duplicate (a resent batch) the chance to show up before the final count.
  await sleep(2_000);
  const scripted = await scriptedUsbEvents(collector, agentId);
  assert.deepEqual({ attached: scripted.attached.length, detached: scripted.detached.length }, { attached: PAIRS, detached: PAIRS }, 'each script line stored once');
  const scriptedAttaches = new Set(scripted.attached.map((e) => e.eventId));
  // Violations are decided once per stored event: walk every page and count them.
  const seen = new Set<string>();
  const judged = new Set<string>();
  let cursor: string | null = null;
  do {
    const query: string = `/api/v1/violations?agentId=${agentId}&limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const page: { items: Array<{ eventId: string }>; nextCursor: string | null } = await collector.rest.expect(200, 'GET', query);
    for (const item of page.items) {
      assert.ok(!judged.has(item.eventId), `two violations for event ${item.eventId}`);
      judged.add(item.eventId);
      if (scriptedAttaches.has(item.eventId)) seen.add(item.eventId);
    }
    cursor = page.nextCursor;
  } while (cursor !== null);
  assert.equal(seen.size, PAIRS, 'one usb.unregistered_device violation per attached stick');
}

/**
 * Streams the 10,000 events, kills one side with SIGKILL once about a tenth is stored, restarts
 * it, and checks that every event was stored exactly once.
 */
async function killMidStream(t: TestContext, kind: DatabaseKind, victim: 'collector' | 'agent'): Promise<void> {
  const collector = await CollectorUnderTest.start(t, kind);
  if (collector === null) return;
  const agent = await AgentUnderTest.enroll(t, collector);
  await agent.start();
  const stop = { requested: false };
  t.after(() => {
    stop.requested = true;
  });
  const streaming = streamEvents(agent, stop);

  const atKill = await eventually('the stream to be under way', async () => {
    const counts = await storedUsbEvents(collector, agent.agentId);
    return counts.attached + counts.detached >= 1_000 ? counts : undefined;
  }, 60_000);
  await (victim === 'collector' ? collector.process : agent.process).kill9();
  assert.ok(atKill.attached + atKill.detached < 2 * PAIRS, `the ${victim} died before the stream ended`);
  // Meanwhile the survivor goes on: the agent spools, or the collector waits for the agent.
  await sleep(1_500);
  if (victim === 'collector') await collector.launch();
  else await agent.start();

  await streaming;
  await expectExactlyAllStored(collector, agent.agentId);
  assert.ok(!agent.process.exited, 'the agent is still running');
}

for (const kind of DATABASE_KINDS) {
  describe(`crash recovery on ${kind}`, () => {
    test('kill -9 of the collector mid-stream: exactly 10,000 events stored after restart', (t) =>
      killMidStream(t, kind, 'collector'));
    test('kill -9 of the agent mid-stream: exactly 10,000 events stored after restart', (t) =>
      killMidStream(t, kind, 'agent'));
  });
}
