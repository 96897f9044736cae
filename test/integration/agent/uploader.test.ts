import { SerialQuality } from '../../../agent/src/generated/mamori/v1/common';
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { join } from 'node:path';
import { makeTempDir } from '../../support/temp-dir';
import { Outbox } from '../../../agent/src/outbox/outbox';
import { usbAttachedEvent } from '../../../agent/src/core/event-factory';
import { Uploader } from '../../../agent/src/transport/uploader';
import { Backoff } from '../../../agent/src/transport/backoff';
import { ConnectionMonitor } from '../../../agent/src/state/status-file';
import { TelemetryServiceClient, TelemetryServiceService, type UploadEventsRequest } from '../../../agent/src/generated/mamori/v1/telemetry';
import { batchIdFor, inspectSpool } from '../../../agent/src/outbox/outbox';
import { readdir, readFile } from 'node:fs/promises';
import { silentLogger } from '../../../agent/src/logging/logger';

/** The uploader never heartbeats; the in-process collector refuses it so a stray call shows. */
function unimplementedHeartbeat(_call: unknown, callback: grpc.sendUnaryData<unknown>): void {
  callback({ code: grpc.status.UNIMPLEMENTED });
}

/** Starts an in-process stand-in for the collector's TelemetryService on loopback and returns a client for it; both end with the test. */
async function serveTelemetry(t: TestContext, server: grpc.Server): Promise<TelemetryServiceClient> {
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, p) => (error ? reject(error) : resolve(p))),
  );
  t.after(() => server.forceShutdown());
  const client = new TelemetryServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  t.after(() => client.close());
  return client;
}

test('the uploader retries an unavailable collector, quarantines the event the collector names as invalid, and delivers the rest once', async (t) => {
  const temp = makeTempDir('mamori-uploader-');
  t.after(() => temp.cleanup());
  const received: UploadEventsRequest[] = [];
  const stored = new Set<string>();
  let calls = 0;
  const server = new grpc.Server();
  server.addService(TelemetryServiceService, {
    uploadEvents: (call: grpc.ServerUnaryCall<UploadEventsRequest, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      calls += 1;
      received.push(call.request);
      if (calls === 1) return callback({ code: grpc.status.UNAVAILABLE, details: 'collector warming up' });
      const bad = call.request.events.findIndex((e) => e.usbDeviceAttached?.device?.serial === 'BAD');
      if (bad >= 0) {
        const trailer = new grpc.Metadata();
        trailer.set('mamori-invalid-event-index', String(bad));
        return callback({ code: grpc.status.INVALID_ARGUMENT, details: `events[${bad}].usb_device_attached.device.serial: not allowed`, metadata: trailer });
      }
      for (const e of call.request.events) stored.add(e.eventId);
      callback(null, { batchId: call.request.batchId, storedCount: call.request.events.length, duplicateCount: 0 });
    },
    heartbeat: unimplementedHeartbeat,
  });
  const client = await serveTelemetry(t, server);

  const outbox = await Outbox.open({ dir: join(temp.path, 'spool'), maxBytes: 1 << 24, maxBatchEvents: 10 });
  const serials = ['A', 'BAD', 'C', 'D'];
  const drafts = serials.map((serial, i) =>
    usbAttachedEvent({
      device: { vendorId: 1, productId: 2, serial, manufacturer: '', product: '', interfaceClasses: [8], busPath: `1-${i}`, descriptorHash: '', serialQuality: SerialQuality.SERIAL_QUALITY_PRESENT },
      presentAtStart: false,
      occurredAt: new Date(),
      userName: '',
    }),
  );
  await Promise.all(drafts.map((d) => outbox.append(d)));

  const monitor = new ConnectionMonitor();
  const sut = new Uploader({ outbox, telemetry: client, monitor, logger: silentLogger, backoff: new Backoff(1, 5), idlePollMs: 10 });
  const abort = new AbortController();
  const running = sut.run(abort.signal);
  t.after(async () => {
    abort.abort();
    await running;
  });

  const deadline = Date.now() + 20_000;
  while (outbox.stats().events > 0) {
    if (Date.now() > deadline) assert.fail(`outbox never drained; ${calls} calls`);
    await new Promise((r) => setTimeout(r, 10));
  }
  abort.abort();
  await running;

  assert.equal(received[0].batchId, received[1].batchId, 'a retry after UNAVAILABLE sends the same batch id');
  assert.notEqual(received[2].batchId, received[1].batchId, 'the batch without the rejected event is a new batch');
  assert.deepEqual(received[2].events.map((e) => e.usbDeviceAttached?.device?.serial), ['A', 'C', 'D']);
  assert.deepEqual([...stored].sort(), [drafts[0], drafts[2], drafts[3]].map((d) => d.eventId).sort());
  assert.equal(sut.rejectedEvents, 1);
  assert.equal(sut.uploadedEvents, 3);
  assert.equal((await inspectSpool(join(temp.path, 'spool'))).rejected, 1);
  assert.equal(monitor.state, 'connected');
  await outbox.close();
});

test('a batch the collector refuses as too large is halved until it fits; a single event still too large goes to rejected/', async (t) => {
  const temp = makeTempDir('mamori-uploader-big-');
  t.after(() => temp.cleanup());
  const accepted: UploadEventsRequest[] = [];
  let refusals = 0;
  // The collector's message limit, as MAMORI_GRPC_MAX_MESSAGE_BYTES sets it: larger requests
  // are refused by grpc-js itself with RESOURCE_EXHAUSTED before the handler runs.
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 2_000 });
  server.addService(TelemetryServiceService, {
    uploadEvents: (call: grpc.ServerUnaryCall<UploadEventsRequest, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      accepted.push(call.request);
      callback(null, { batchId: call.request.batchId, storedCount: call.request.events.length, duplicateCount: 0 });
    },
    heartbeat: unimplementedHeartbeat,
  });
  const client = await serveTelemetry(t, server);

  const outbox = await Outbox.open({ dir: join(temp.path, 'spool'), maxBytes: 1 << 24, maxBatchEvents: 100 });
  const serials = Array.from({ length: 40 }, (_, i) => (i === 25 ? 'X'.repeat(3_000) : `S${i}`));
  const drafts = serials.map((serial, i) =>
    usbAttachedEvent({
      device: { vendorId: 1, productId: 2, serial, manufacturer: 'Maker', product: 'Stick', interfaceClasses: [8], busPath: `1-${i}`, descriptorHash: '', serialQuality: SerialQuality.SERIAL_QUALITY_PRESENT },
      presentAtStart: false,
      occurredAt: new Date(),
      userName: 'alice',
    }),
  );
  await Promise.all(drafts.map((d) => outbox.append(d)));

  const sent: string[] = [];
  const telemetry = new Proxy(client, {
    get(target, key) {
      if (key !== 'uploadEvents') return Reflect.get(target, key);
      // Observe every attempt (refused ones never reach the handler) without changing it.
      return (request: UploadEventsRequest, ...rest: unknown[]) => {
        sent.push(request.batchId);
        assert.equal(request.batchId, batchIdFor(request.events), 'the batch id is derived from the events it carries');
        const callback = rest[rest.length - 1] as (error: grpc.ServiceError | null, response: unknown) => void;
        rest[rest.length - 1] = (error: grpc.ServiceError | null, response: unknown) => {
          if (error?.code === grpc.status.RESOURCE_EXHAUSTED) refusals += 1;
          callback(error, response);
        };
        return (target.uploadEvents as (...args: unknown[]) => unknown).call(target, request, ...rest);
      };
    },
  });
  const monitor = new ConnectionMonitor();
  const sut = new Uploader({ outbox, telemetry, monitor, logger: silentLogger, backoff: new Backoff(1, 5), idlePollMs: 10 });
  const abort = new AbortController();
  const running = sut.run(abort.signal);
  t.after(async () => {
    abort.abort();
    await running;
  });

  const deadline = Date.now() + 20_000;
  while (outbox.stats().events > 0) {
    if (Date.now() > deadline) assert.fail(`outbox never drained; ${sent.length} calls, ${refusals} refused as too large`);
    await new Promise((r) => setTimeout(r, 10));
  }
  abort.abort();
  await running;

  const stored = accepted.flatMap((r) => r.events.map((e) => e.eventId)).sort();
  assert.deepEqual(stored, drafts.filter((_, i) => i !== 25).map((d) => d.eventId).sort(), 'every event but the oversized one arrived, once');
  assert.ok(refusals > 0);
  assert.equal(sut.rejectedEvents, 1);
  const spool = await inspectSpool(join(temp.path, 'spool'));
  assert.equal(spool.rejected, 1);
  const rejectedDir = join(temp.path, 'spool', 'rejected');
  const [file] = await readdir(rejectedDir);
  const saved = JSON.parse(await readFile(join(rejectedDir, file), 'utf8'));
  assert.equal(saved.eventId, drafts[25].eventId);
  assert.match(saved.message, /larger than max/i, 'the collector message is kept');
  await outbox.close();
});
