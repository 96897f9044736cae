import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from '../../support/temp-dir';
import { Outbox } from '../../../agent/src/outbox/outbox';
import { FakeUsbBackend } from '../../../agent/src/sources/usb/backends/fake';
import { usbAttachedEvent, usbDetachedEvent } from '../../../agent/src/core/event-factory';
import { createLogger } from '../../../agent/src/logging/logger';
import type { Event } from '../../../agent/src/generated/mamori/v1/events';

const attach = (serial: string, busPath: string) =>
  JSON.stringify({ op: 'attach', device: { vendorId: '0781', productId: '5567', serial, manufacturer: 'SanDisk', product: 'Cruzer Blade', interfaceClasses: [8], busPath } });
const detach = (busPath: string) => JSON.stringify({ op: 'detach', busPath });

/** The fake backend wired to an outbox the way the daemon wires it. */
async function startReplay(t: import('node:test').TestContext, stateDir: string, scriptPath: string, logLines: string[]) {
  const outbox = await Outbox.open({ dir: join(stateDir, 'spool'), maxBytes: 1 << 24, maxBatchEvents: 100 });
  const sut = new FakeUsbBackend({ scriptPath, stateDir: join(stateDir, 'sources'), logger: createLogger('info', (l) => logLines.push(l)), pollMs: 20 });
  await sut.start({
    accept: async (observations) => {
      await Promise.all(
        observations.map((o) =>
          outbox.append(
            o.kind === 'attached'
              ? usbAttachedEvent({ device: o.device, presentAtStart: o.presentAtStart, occurredAt: o.occurredAt, userName: '', eventId: o.eventId })
              : usbDetachedEvent({ device: o.device, occurredAt: o.occurredAt, userName: '', eventId: o.eventId }),
          ),
        ),
      );
    },
    unavailable: async () => assert.fail('the fake backend is always available'),
  });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await sut.stop();
    await outbox.close();
  };
  t.after(stop);
  return { sut, outbox, stop };
}

async function eventsOnceAtLeast(outbox: Outbox, count: number): Promise<Event[]> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    await outbox.flush();
    const events: Event[] = [];
    for await (const e of outbox.scan()) events.push(e);
    if (events.length >= count) return events;
    if (Date.now() > deadline) throw new Error(`only ${events.length} of ${count} events arrived`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('the fake backend replays a script into the outbox with deterministic event ids; a replay after a crash yields the same ids', async (t) => {
  const temp = makeTempDir('mamori-fake-usb-');
  t.after(() => temp.cleanup());
  const script = join(temp.path, 'usb.jsonl');
  writeFileSync(script, [attach('A1', '1-1'), '{"op":"attach", broken', JSON.stringify({ op: 'sleep', ms: 10 }), attach('A2', '1-2'), detach('1-1'), ''].join('\n'));

  const logs: string[] = [];
  const first = await startReplay(t, join(temp.path, 'state-a'), script, logs);
  const firstEvents = await eventsOnceAtLeast(first.outbox, 3);
  assert.equal(firstEvents.length, 3);
  assert.deepEqual(first.sut.attached().map((d) => d.serial), ['A2']);
  assert.equal(firstEvents[2].usbDeviceDetached?.device?.serial, 'A1', 'a detach carries the device as it was attached');
  const bad = logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'fake USB script: bad line skipped');
  assert.equal(bad?.line, 2, 'the bad line is reported with its line number');
  await first.stop();

  // A crash before the read offset was persisted: the same script replays from the start.
  const second = await startReplay(t, join(temp.path, 'state-b'), script, []);
  const secondEvents = await eventsOnceAtLeast(second.outbox, 3);
  assert.deepEqual(secondEvents.map((e) => e.eventId), firstEvents.map((e) => e.eventId));
  await second.stop();

  // A normal restart reports what is still attached as present at start, like every real backend,
  // then continues after the persisted offset and follows the file as it grows.
  const resumed = await startReplay(t, join(temp.path, 'state-a'), script, []);
  const atStart = await eventsOnceAtLeast(resumed.outbox, 4);
  assert.equal(atStart[3].usbDeviceAttached?.device?.serial, 'A2', 'the attached set survived the restart');
  assert.equal(atStart[3].usbDeviceAttached?.presentAtStart, true);
  appendFileSync(script, detach('1-2') + '\n' + attach('A3', '1-3'));
  const afterGrowth = await eventsOnceAtLeast(resumed.outbox, 5);
  assert.equal(afterGrowth.length, 5, 'old lines are not taken again and the unfinished last line waits');
  assert.equal(afterGrowth[4].usbDeviceDetached?.device?.serial, 'A2');
  appendFileSync(script, '\n');
  const finished = await eventsOnceAtLeast(resumed.outbox, 6);
  assert.equal(finished[5].usbDeviceAttached?.device?.serial, 'A3');
  assert.equal(finished[5].usbDeviceAttached?.presentAtStart, false);
  assert.equal(new Set(finished.map((e) => e.eventId)).size, 6);
  await resumed.stop();
});
