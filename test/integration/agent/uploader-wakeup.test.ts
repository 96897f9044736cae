import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeTempDir } from '../../support/temp-dir';
import { Outbox } from '../../../agent/src/outbox/outbox';
import { usbAttachedEvent } from '../../../agent/src/core/event-factory';
import { Uploader } from '../../../agent/src/transport/uploader';
import { Backoff } from '../../../agent/src/transport/backoff';
import { ConnectionMonitor } from '../../../agent/src/state/status-file';
import { SerialQuality } from '../../../agent/src/generated/mamori/v1/common';
import { AgentState } from '../../../agent/src/generated/mamori/v1/events';
import { TelemetryServiceClient, TelemetryServiceService, type UploadEventsRequest } from '../../../agent/src/generated/mamori/v1/telemetry';
import { silentLogger } from '../../../agent/src/logging/logger';

/**
 * An idle agent must not poll its spool: the uploader sleeps until an append tells it (notify),
 * and its timer is only a long safety net. These tests set that net to ten minutes, so anything
 * delivered within seconds was delivered because of a notification (or, for the drop report the
 * outbox writes on its own, because room was just freed).
 */

const TEN_MINUTES = 600_000;

/** An in-process TelemetryService on loopback that records each UploadEvents request and accepts it. */
async function recordingCollector(t: TestContext): Promise<{ client: TelemetryServiceClient; received: UploadEventsRequest[] }> {
  const received: UploadEventsRequest[] = [];
  const server = new grpc.Server();
  server.addService(TelemetryServiceService, {
    uploadEvents: (call: grpc.ServerUnaryCall<UploadEventsRequest, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      received.push(call.request);
      callback(null, { batchId: call.request.batchId, storedCount: call.request.events.length, duplicateCount: 0 });
    },
    heartbeat: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback({ code: grpc.status.UNIMPLEMENTED }),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, p) => (error ? reject(error) : resolve(p))),
  );
  t.after(() => server.forceShutdown());
  const client = new TelemetryServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  t.after(() => client.close());
  return { client, received };
}

function attach(serial: string) {
  return usbAttachedEvent({
    device: { vendorId: 1, productId: 2, serial, manufacturer: 'Maker', product: 'Stick', interfaceClasses: [8], busPath: '1-1', descriptorHash: '', serialQuality: SerialQuality.SERIAL_QUALITY_PRESENT },
    presentAtStart: false,
    occurredAt: new Date(),
    userName: 'alice',
  });
}

async function until(what: string, condition: () => boolean, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) assert.fail(`${what} not within ${timeoutMs} ms`);
    await sleep(10);
  }
  return Date.now() - started;
}

test('an idle uploader leaves the spool alone until an append notifies it, then sends at once', async (t) => {
  const temp = makeTempDir('mamori-uploader-wake-');
  t.after(() => temp.cleanup());
  const { client, received } = await recordingCollector(t);
  const outbox = await Outbox.open({ dir: join(temp.path, 'spool'), maxBytes: 1 << 24, maxBatchEvents: 100 });
  t.after(() => outbox.close());
  // The one short look after a delivery kept far below the 1 s wait below, so a slow disk cannot push it past.
  const sut = new Uploader({ outbox, telemetry: client, monitor: new ConnectionMonitor(), logger: silentLogger, backoff: new Backoff(1, 5), idlePollMs: TEN_MINUTES, afterDeliveryPollMs: 50 });
  const abort = new AbortController();
  const running = sut.run(abort.signal);
  t.after(async () => {
    abort.abort();
    await running;
  });

  const first = attach('FIRST');
  await outbox.append(first);
  sut.notify();
  await until('the first event uploaded', () => sut.uploadedEvents === 1, 5_000);
  // Past the one short look after a delivery (afterDeliveryPollMs): from here it idles on its long timer.
  await sleep(1_000);

  // Written to the spool by something that does not tell the uploader: it stays there (no polling).
  const quiet = attach('QUIET');
  await outbox.append(quiet);
  await sleep(1_500);
  assert.equal(received.length, 1, 'nothing is read from the spool without a notification');
  assert.equal(outbox.stats().events, 1);

  sut.notify();
  const tookMs = await until('the event uploaded after notify', () => sut.uploadedEvents === 2, 5_000);
  assert.ok(tookMs < 5_000, `sent ${tookMs} ms after notify (not after the ten-minute poll)`);
  assert.deepEqual(received.map((r) => r.events.map((e) => e.eventId)), [[first.eventId], [quiet.eventId]]);
  assert.equal(outbox.stats().events, 0);
});

test('notifications during a burst are not lost: every event appended with notify reaches the collector while the poll is ten minutes', async (t) => {
  const temp = makeTempDir('mamori-uploader-burst-');
  t.after(() => temp.cleanup());
  const { client, received } = await recordingCollector(t);
  const outbox = await Outbox.open({ dir: join(temp.path, 'spool'), maxBytes: 1 << 24, maxBatchEvents: 7 });
  t.after(() => outbox.close());
  const sut = new Uploader({ outbox, telemetry: client, monitor: new ConnectionMonitor(), logger: silentLogger, backoff: new Backoff(1, 5), idlePollMs: TEN_MINUTES });
  const abort = new AbortController();
  const running = sut.run(abort.signal);
  t.after(async () => {
    abort.abort();
    await running;
  });

  // Appends arrive one by one, some while a batch is being read or uploaded, some while it idles.
  const ids: string[] = [];
  for (let i = 0; i < 60; i++) {
    const draft = attach(`B${i}`);
    ids.push(draft.eventId);
    await outbox.append(draft);
    sut.notify();
    if (i % 3 === 0) await sleep(i % 2 === 0 ? 0 : 5);
  }
  await until('all 60 events uploaded', () => sut.uploadedEvents === 60, 10_000);
  assert.deepEqual(received.flatMap((r) => r.events.map((e) => e.eventId)), ids, 'each event once, in order');
});

test('the drop report the outbox owes after a full spool is sent once room is freed, without an append to notify', async (t) => {
  const temp = makeTempDir('mamori-uploader-drops-');
  t.after(() => temp.cleanup());
  const { client, received } = await recordingCollector(t);
  // Small enough that the burst below overflows it.
  const outbox = await Outbox.open({ dir: join(temp.path, 'spool'), maxBytes: 4_000, maxBatchEvents: 1_000 });
  t.after(() => outbox.close());
  const outcomes = await Promise.all(Array.from({ length: 80 }, (_, i) => outbox.append(attach(`D${i}`))));
  const dropped = outcomes.filter((o) => !o.accepted).length;
  assert.ok(dropped > 0, 'the spool bound was hit');
  assert.equal(outbox.stats().droppedTotal, dropped);

  const sut = new Uploader({ outbox, telemetry: client, monitor: new ConnectionMonitor(), logger: silentLogger, backoff: new Backoff(1, 5), idlePollMs: TEN_MINUTES });
  const abort = new AbortController();
  const running = sut.run(abort.signal);
  t.after(async () => {
    abort.abort();
    await running;
  });

  const events = () => received.flatMap((r) => r.events);
  const reported = () => events().find((e) => e.agentStatus?.state === AgentState.AGENT_STATE_EVENTS_DROPPED);
  await until('the drop report uploaded', () => reported() !== undefined, 5_000);
  assert.equal(Number(reported()!.agentStatus!.droppedEvents), dropped, 'the report says how many were dropped');
  assert.equal(events().length, 80 - dropped + 1, 'every accepted event and the report, each once');
});
