import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Event } from '../../../agent/src/generated/mamori/v1/events';
import { EVENT_KINDS, validateUploadBatch } from '../../../server/src/modules/ingest/event-validation';
import { parseLoadgenArgs, UsageError } from '../../bench/loadgen/cli';
import { DEFAULT_MIX, EventMix, seededRandom } from '../../bench/loadgen/event-mix';
import { summarizeCpuProfile } from '../../bench/loadgen/bench-support';
import { perSecondRates } from '../../bench/ingest/ingest.bench';

test('every event of the mix passes the collector validation, after a protobuf round trip as on the wire', () => {
  const mix = new EventMix(3, { seed: 42 });
  const events = mix.batch(5000, Date.UTC(2026, 10, 27, 12));
  const wire = events.map((e) => Event.decode(Event.encode(e).finish()));
  const validated = validateUploadBatch({ batchId: '0c7a3d52-5f38-4f53-9d3e-0d8b7e2f1a11', events: wire });
  assert.equal(validated.events.length, 5000);
  const kinds = new Set(validated.events.map((e) => e.kind));
  // Every kind with a weight shows up in 5,000 events.
  for (const field of Object.keys(DEFAULT_MIX)) assert.ok(kinds.has(EVENT_KINDS[field as keyof typeof EVENT_KINDS]), `no ${field} in the mix`);
});

test('the mix is realistic: transfers and destination accesses dominate, the stick events name the attach event, sequences grow by one', () => {
  const mix = new EventMix(0);
  const events = mix.batch(20_000);
  const share = (field: keyof Event) => events.filter((e) => e[field] !== undefined).length / events.length;
  assert.ok(share('fileTransfer') > 0.45 && share('fileTransfer') < 0.55, `file transfers ${share('fileTransfer')}`);
  assert.ok(share('destinationAccess') > 0.23 && share('destinationAccess') < 0.33);
  const attachIds = new Set(events.filter((e) => e.usbDeviceAttached).map((e) => e.eventId));
  const detaches = events.filter((e) => e.usbDeviceDetached);
  assert.ok(detaches.length > 0);
  // Every detach, volume report and transfer onto a stick names an attach event sent before it.
  for (const e of detaches) assert.ok(attachIds.has(e.usbDeviceDetached!.attachedEventId));
  for (const e of events.filter((x) => x.usbStorageVolumes)) assert.ok(attachIds.has(e.usbStorageVolumes!.attachedEventId));
  for (const e of events.filter((x) => x.fileTransfer?.attachedEventId)) assert.ok(attachIds.has(e.fileTransfer!.attachedEventId));
  const withFindings = events.filter((e) => (e.fileTransfer?.findings.length ?? 0) > 0);
  assert.ok(withFindings.length > 0 && withFindings.every((e) => /^[0-9a-f]{64}$/.test(e.fileTransfer!.sha256)));
  events.forEach((e, i) => assert.equal(e.sequence, String(i + 1)));
  assert.equal(new Set(events.map((e) => e.eventId)).size, events.length);
});

test('the same seed gives the same kinds in the same order; another agent index gives another order', () => {
  const kindsOf = (mix: EventMix) => mix.batch(200).map((e) => Object.keys(EVENT_KINDS).find((k) => e[k as keyof Event] !== undefined));
  assert.deepEqual(kindsOf(new EventMix(5, { seed: 9 })), kindsOf(new EventMix(5, { seed: 9 })));
  assert.notDeepEqual(kindsOf(new EventMix(5, { seed: 9 })), kindsOf(new EventMix(6, { seed: 9 })));
  const r = seededRandom(1);
  for (let i = 0; i < 1000; i++) {
    const x = r();
    assert.ok(x >= 0 && x < 1);
  }
});

test('a mix with no weight at all is refused with a clear error', () => {
  const zero = Object.fromEntries(Object.keys(DEFAULT_MIX).map((k) => [k, 0])) as unknown as typeof DEFAULT_MIX;
  assert.throws(() => new EventMix(0, { weights: zero }), /at least one kind/);
});

test('loadgen arguments: defaults, numbers, and errors that name the bad option; only loopback targets', () => {
  const options = parseLoadgenArgs(['--agents', '1000', '--rate', '0', '--batch', '200', '--duration', '5', '--server', '127.0.0.1:50051', '--token', 'tok']);
  assert.equal(options.agents, 1000);
  assert.equal(options.rate, 0);
  assert.equal(options.batch, 200);
  assert.equal(options.watch, true);
  assert.equal(parseLoadgenArgs(['--server', 'localhost:1', '--token', 't', '--no-watch']).watch, false);
  assert.throws(() => parseLoadgenArgs(['--server', '127.0.0.1:1']), (e: Error) => e instanceof UsageError && /--token/.test(e.message));
  assert.throws(() => parseLoadgenArgs(['--server', '10.0.0.5:50051', '--token', 't']), /loopback/);
  assert.throws(() => parseLoadgenArgs(['--server', '127.0.0.1:1', '--token', 't', '--batch', '6000']), /--batch/);
  assert.throws(() => parseLoadgenArgs(['--server', '127.0.0.1:1', '--token', 't', '--rate', 'fast']), /--rate must be a number/);
  assert.throws(() => parseLoadgenArgs(['--server', '127.0.0.1:1', '--token', 't', '--agents', '2.5']), /--agents/);
  assert.throws(() => parseLoadgenArgs(['--bogus', '1']), /unknown option --bogus/);
});

test('stored events are counted per whole second of the run; acks outside it are left out', () => {
  const rates = perSecondRates(
    [
      { stored: 100, atMs: 1000 },
      { stored: 50, atMs: 1999 },
      { stored: 70, atMs: 2500 },
      { stored: 999, atMs: 3500 },
      { stored: 5, atMs: 500 },
    ],
    1000,
    2999,
  );
  assert.deepEqual(rates, [150, 70]);
});

test('a V8 CPU profile is summarized by self time per function and per package', () => {
  const profile = {
    nodes: [
      { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 }, children: [3, 4] },
      { id: 2, callFrame: { functionName: 'run', url: 'file:///x/node_modules/better-sqlite3/lib/methods/wrappers.js', lineNumber: 9 } },
      { id: 3, callFrame: { functionName: 'upload', url: 'file:///x/dist/server/src/modules/ingest/ingest.service.js', lineNumber: 40 }, children: [5] },
      { id: 5, callFrame: { functionName: 'run', url: 'file:///x/dist/server/src/database/database.service.js', lineNumber: 123 }, children: [2] },
      { id: 4, callFrame: { functionName: 'decode', url: 'file:///x/node_modules/@grpc/grpc-js/build/src/x.js', lineNumber: 1 } },
    ],
    samples: [2, 2, 2, 3, 4, 4, 2, 3, 2, 2],
    timeDeltas: new Array(10).fill(1000),
    startTime: 0,
    endTime: 10_000,
  };
  const summary = summarizeCpuProfile(JSON.stringify(profile));
  assert.deepEqual(summary.packages, [
    { name: 'better-sqlite3', percent: 60 },
    { name: 'collector code', percent: 20 },
    { name: '@grpc/grpc-js', percent: 20 },
  ]);
  assert.deepEqual(summary.functions[0], { name: 'run better-sqlite3/lib/methods/wrappers.js:10', percent: 60 });
  assert.equal(summary.totalMs, 10);
  // The driver's time is charged to the code that called through the database wrapper.
  assert.deepEqual(summary.databaseCallers, [{ name: 'upload server/src/modules/ingest/ingest.service.js:41', percent: 60 }]);
});
