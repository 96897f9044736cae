import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { UploadEventsResponse } from '../../../agent/src/generated/mamori/v1/telemetry';
import { DATABASE_KINDS } from '../../support/databases';
import { ADMIN_TOKEN, collect, enrollAgent, policyClient, startTestCollector, telemetryClient, unary, usbAttached, type TestCollector } from '../server/collector-harness';

/** The value of one sample in a Prometheus text exposition, 0 when the series is absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null || match[1] !== name) continue;
    const found: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) found[pair[1]] = pair[2];
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(match[3]);
  }
  return 0;
}

async function scrape(sut: TestCollector, token: string | null = ADMIN_TOKEN): Promise<{ status: number; contentType: string; text: string }> {
  const response = await fetch(`${sut.httpBase}/metrics`, { headers: token === null ? {} : { authorization: `Bearer ${token}` } });
  return { status: response.status, contentType: response.headers.get('content-type') ?? '', text: await response.text() };
}

for (const kind of DATABASE_KINDS) {
  describe(`collector operations on ${kind}`, () => {
    test('GET /healthz answers without a credential, 503 with the reason while the database does not answer', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const ok = await sut.rest('GET', '/healthz', undefined, null);
      assert.equal(ok.status, 200);
      assert.deepEqual(ok.body, { status: 'ok', database: kind });

      const dataSource = sut.collector.core.database.dataSource;
      await dataSource.destroy();
      const down = await sut.rest('GET', '/healthz', undefined, null);
      assert.equal(down.status, 503);
      assert.match(down.body.message, /^database does not answer: /);
      // Open again only so that the collector's own shutdown finds the data source it expects.
      await dataSource.initialize();
    });

    test('GET /metrics needs a reader credential and counts ingest, heartbeats, streams and requests by the right amounts', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      assert.equal((await scrape(sut, null)).status, 401, 'the metrics are not open to whoever reaches the port');
      const before = await scrape(sut);
      assert.equal(before.status, 200);
      assert.match(before.contentType, /^text\/plain; version=0\.0\.4/);
      assert.equal(sample(before.text, 'mamori_agents_heard'), 0);

      const agent = await enrollAgent(t, sut);
      const telemetry = telemetryClient(t, sut, agent.credentials);
      const request = { batchId: randomUUID(), events: [usbAttached({ serial: 'M1' }), usbAttached({ serial: 'M2' }), usbAttached({ serial: 'M3' })] };
      const first = await unary<UploadEventsResponse>((cb) => telemetry.uploadEvents(request, cb));
      assert.equal(first.storedCount, 3);
      const again = await unary<UploadEventsResponse>((cb) => telemetry.uploadEvents(request, cb));
      assert.equal(again.duplicateCount, 3);
      await unary((cb) =>
        telemetry.heartbeat(
          {
            host: { hostname: 'metrics-host', osFamily: 'linux', osVersion: '6.1', agentVersion: '0.1.0', loggedInUsers: [], networkInterfaces: [], architecture: 'x64', machineId: '', hardwareSerial: '', hardwareModel: '', hardwareVendor: '' },
            posture: undefined,
            health: { spoolEvents: '42', spoolBytes: '4200', droppedEvents: '5', policyVersion: '1', startedAt: undefined, sources: [], capabilities: [] },
            trustedCaPins: [],
          },
          cb,
        ),
      );
      const watch = policyClient(t, sut, agent.credentials).watchPolicy({ knownVersion: '0', knownLineageId: '' });
      t.after(() => watch.cancel());
      await collect(watch).next();
      assert.equal((await sut.rest('GET', '/api/v1/agents')).status, 200);
      assert.equal((await sut.rest('GET', '/api/v1/agents/00000000-0000-4000-8000-000000000001')).status, 404);

      const sse = new AbortController();
      t.after(() => sse.abort());
      const stream = await fetch(`${sut.httpBase}/api/v1/violations/stream`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, signal: sse.signal });
      assert.equal(stream.status, 200);
      await stream.body!.getReader().read();

      const after = await scrape(sut);
      const moved = (name: string, labels: Record<string, string> = {}) => sample(after.text, name, labels) - sample(before.text, name, labels);
      assert.equal(moved('mamori_events_ingested_total', { kind: 'usb_device_attached' }), 3, 'three new events, the resent batch not counted again');
      assert.equal(moved('mamori_events_duplicate_total'), 3);
      assert.equal(moved('mamori_ingest_batch_duration_seconds_count', { outcome: 'stored' }), 2);
      assert.equal(moved('mamori_violations_raised_total'), 3, 'each unregistered stick raised one violation');
      assert.equal(sample(after.text, 'mamori_violations', { rule: 'usb.unregistered_device', status: 'open' }), 3);
      assert.equal(sample(after.text, 'mamori_agents_heard'), 1);
      assert.equal(sample(after.text, 'mamori_agents_enrolled', { status: 'enrolled' }), 1);
      assert.equal(sample(after.text, 'mamori_agent_spool_events'), 42);
      assert.equal(sample(after.text, 'mamori_agent_spool_events_max'), 42);
      assert.equal(sample(after.text, 'mamori_agent_dropped_events'), 5);
      assert.equal(sample(after.text, 'mamori_grpc_streams_open', { method: '/mamori.v1.PolicyService/WatchPolicy' }), 1);
      assert.equal(moved('mamori_grpc_call_duration_seconds_count', { method: '/mamori.v1.TelemetryService/UploadEvents', code: 'OK' }), 2);
      assert.equal(moved('mamori_grpc_call_duration_seconds_count', { method: '/mamori.v1.TelemetryService/Heartbeat', code: 'OK' }), 1);
      assert.equal(moved('mamori_grpc_call_duration_seconds_count', { method: '/mamori.v1.EnrollmentService/Enroll', code: 'OK' }), 1);
      assert.equal(moved('mamori_http_request_duration_seconds_count', { method: 'GET', route: '/api/v1/agents', status: '200' }), 1);
      assert.equal(moved('mamori_http_request_duration_seconds_count', { method: 'GET', route: '/api/v1/agents/:id', status: '404' }), 1);
      assert.equal(moved('mamori_http_request_duration_seconds_count', { method: 'GET', route: '/metrics', status: '401' }), 0, 'the refused scrape came before the first one');
      assert.ok(sample(after.text, 'mamori_process_resident_memory_bytes') > 0);
      assert.equal(sample(after.text, 'mamori_violation_streams_open'), 1);

      // A refused batch is counted as refused, and an unauthenticated call by its code.
      const refused = { batchId: randomUUID(), events: [usbAttached({ vendorId: 70_000 })] };
      await assert.rejects(unary((cb) => telemetry.uploadEvents(refused, cb)));
      watch.cancel();
      sse.abort();
      // The gauges drop when the collector has handled the cancel and the closed response: scrape until they do.
      let last = await scrape(sut);
      for (const deadline = Date.now() + 10_000; Date.now() < deadline; last = await scrape(sut)) {
        const streams = sample(last.text, 'mamori_grpc_streams_open', { method: '/mamori.v1.PolicyService/WatchPolicy' }) + sample(last.text, 'mamori_violation_streams_open');
        if (streams === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(sample(last.text, 'mamori_ingest_batch_duration_seconds_count', { outcome: 'refused' }) - sample(after.text, 'mamori_ingest_batch_duration_seconds_count', { outcome: 'refused' }), 1);
      assert.equal(sample(last.text, 'mamori_grpc_call_duration_seconds_count', { method: '/mamori.v1.TelemetryService/UploadEvents', code: 'INVALID_ARGUMENT' }), 1);
      assert.equal(sample(last.text, 'mamori_grpc_streams_open', { method: '/mamori.v1.PolicyService/WatchPolicy' }), 0, 'the cancelled stream is no longer open');
      assert.equal(sample(last.text, 'mamori_violation_streams_open'), 0, 'the closed violation stream is no longer counted');
    });
  });
}
