import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from '../../support/temp-dir';
import { AgentDaemon } from '../../../agent/src/daemon/agent-daemon';
import { loadAgentConfig } from '../../../agent/src/config/agent-config';
import { createLogger } from '../../../agent/src/logging/logger';
import { statePaths, type StatePaths } from '../../../agent/src/state/state-dir';
import { FakeUsbBackend } from '../../../agent/src/sources/usb/backends/fake';
import type { UsbObservation, UsbObservationSink, UsbSource } from '../../../agent/src/sources/usb/usb.source';
import { SerialQuality, type UsbDevice } from '../../../agent/src/generated/mamori/v1/common';
import { EncryptionScheme, type Event } from '../../../agent/src/generated/mamori/v1/events';
import {
  PolicyServiceClient,
  PolicyServiceService,
  UsbEnforcementMode as M,
  type GetPolicyRequest,
  type Policy,
  type WatchPolicyRequest,
  type WatchPolicyResponse,
} from '../../../agent/src/generated/mamori/v1/policy';
import { TelemetryServiceClient, TelemetryServiceService, type HeartbeatRequest, type UploadEventsRequest } from '../../../agent/src/generated/mamori/v1/telemetry';

// A restarted agent must not start new plugs: a device that stayed attached is reported with the
// attach event of its plug (the collector counts each rule once per plug), while a device swapped
// in the same port, or one that left while the agent was down, is told apart.

const AGENT_ID = '7a3e2c51-4b0d-4f8e-9c6a-52d1e0f3b8a4';

function policy(version: number, mode: M): Policy {
  return {
    version: String(version),
    lineageId: '6f1d2b3c-8a4e-4c5f-9d7e-0a1b2c3d4e5f',
    transfer: undefined,
    publishedAt: undefined,
    network: undefined,
    usb: {
      unregisteredDeviceMode: mode,
      registeredDeviceMode: M.USB_ENFORCEMENT_MODE_ALLOW,
      requireEncryptedMedia: false,
      unencryptedMediaMode: M.USB_ENFORCEMENT_MODE_AUDIT,
      storageWithHidMode: mode,
      exceptions: [],
      registeredDevices: [],
    },
  };
}

/** A collector that takes every upload and serves one policy, pushing newer ones on demand. */
async function fakeCollector(t: TestContext) {
  const events: Event[] = [];
  let current = policy(1, M.USB_ENFORCEMENT_MODE_AUDIT);
  const watchers = new Set<grpc.ServerWritableStream<WatchPolicyRequest, WatchPolicyResponse>>();
  const server = new grpc.Server();
  server.addService(TelemetryServiceService, {
    uploadEvents: (call: grpc.ServerUnaryCall<UploadEventsRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      events.push(...call.request.events);
      cb(null, { batchId: call.request.batchId, storedCount: call.request.events.length, duplicateCount: 0 });
    },
    heartbeat: (_call: grpc.ServerUnaryCall<HeartbeatRequest, unknown>, cb: grpc.sendUnaryData<unknown>) =>
      cb(null, { serverTime: undefined, currentPolicyVersion: current.version, nextHeartbeatSeconds: 1 }),
  });
  server.addService(PolicyServiceService, {
    getPolicy: (_call: grpc.ServerUnaryCall<GetPolicyRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, { unchanged: false, policy: current }),
    watchPolicy: (call: grpc.ServerWritableStream<WatchPolicyRequest, WatchPolicyResponse>) => {
      watchers.add(call);
      call.on('cancelled', () => watchers.delete(call));
      if (call.request.knownVersion !== current.version) call.write({ policy: current });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  t.after(() => server.forceShutdown());
  return {
    target: `127.0.0.1:${port}`,
    events,
    publish(next: Policy) {
      current = next;
      for (const call of watchers) call.write({ policy: next });
    },
  };
}

type Collector = Awaited<ReturnType<typeof fakeCollector>>;

async function startDaemon(collector: Collector, paths: StatePaths, usbSource: UsbSource, logLines?: string[]): Promise<AgentDaemon> {
  const telemetry = new TelemetryServiceClient(collector.target, grpc.credentials.createInsecure());
  const policyClient = new PolicyServiceClient(collector.target, grpc.credentials.createInsecure());
  const daemon = new AgentDaemon({
    config: loadAgentConfig({ MAMORI_AGENT_USB_BACKEND: 'unsupported', MAMORI_AGENT_ENCRYPTION_BACKEND: 'unsupported', MAMORI_AGENT_EGRESS_BACKEND: 'unsupported', MAMORI_AGENT_HEARTBEAT_SECONDS: '1' }),
    paths,
    credentials: { identity: { agentId: AGENT_ID, server: collector.target, enrolledAt: new Date().toISOString() }, privateKeyPem: '', certificatePem: '', caPem: '' },
    logger: logLines === undefined ? createLogger('error') : createLogger('warn', (line) => logLines.push(line)),
    platformFacts: { name: 'test', loggedInUsers: async () => ({ users: ['alice'] }), machineId: async () => ({ id: 'm' }) },
    usbSource,
    clients: { telemetry, policy: policyClient, close: () => (telemetry.close(), policyClient.close()) },
  });
  await daemon.start();
  return daemon;
}

async function until<T>(what: string, check: () => T | undefined | false): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const stickLine = (serial: string, busPath: string) =>
  JSON.stringify({ op: 'attach', device: { vendorId: '0781', productId: '5567', serial, manufacturer: 'SanDisk', product: 'Cruzer Blade', interfaceClasses: [8], busPath } });

test('the daemon with the fake USB backend, restarted while a stick stays attached, names the same plug in its attach, re-evaluation and detach', async (t) => {
  const temp = makeTempDir('mamori-daemon-plugs-fake-');
  let daemon: AgentDaemon | null = null;
  t.after(async () => {
    if (daemon !== null) await daemon.stop(500);
    temp.cleanup();
  });
  const collector = await fakeCollector(t);
  const paths = statePaths(join(temp.path, 'state'));
  const script = join(temp.path, 'usb.jsonl');
  writeFileSync(script, `${stickLine('STAYS', '1-4')}\n`);
  const fakeUsb = () => new FakeUsbBackend({ scriptPath: script, stateDir: paths.sources, logger: createLogger('error'), pollMs: 20 });
  const attaches = () => collector.events.filter((e) => e.usbDeviceAttached?.device?.serial === 'STAYS');

  daemon = await startDaemon(collector, paths, fakeUsb());
  const [first] = await until('the first attach', () => (attaches().length === 1 ? attaches() : undefined));
  assert.equal(first!.usbDeviceAttached!.presentAtStart, false);
  assert.equal(first!.usbDeviceAttached!.continuesAttachedEventId, '', 'a new plug continues nothing');
  await daemon.stop(1_000);
  daemon = null;

  // Restarted with the same state folder; the stick never left.
  daemon = await startDaemon(collector, paths, fakeUsb());
  const again = await until('the attach reported at start', () => attaches()[1]);
  assert.equal(again.usbDeviceAttached!.presentAtStart, true);
  assert.notEqual(again.eventId, first!.eventId, 'a report of its own');
  assert.equal(again.usbDeviceAttached!.continuesAttachedEventId, first!.eventId, 'it continues the plug of the first run');

  // A policy change while it stays: the re-evaluation names the original plug.
  collector.publish(policy(2, M.USB_ENFORCEMENT_MODE_BLOCK));
  const reevaluated = await until('the re-evaluation', () => collector.events.find((e) => e.usbDeviceReevaluated?.device?.serial === 'STAYS'));
  assert.equal(reevaluated.usbDeviceReevaluated!.attachedEventId, first!.eventId);

  // It leaves: the detach ends that plug, and the saved plug is forgotten.
  appendFileSync(script, `${JSON.stringify({ op: 'detach', busPath: '1-4' })}\n`);
  const detached = await until('the detach', () => collector.events.find((e) => e.usbDeviceDetached?.device?.serial === 'STAYS'));
  assert.equal(detached.usbDeviceDetached!.attachedEventId, first!.eventId);
  assert.equal(detached.usbDeviceDetached!.leftWhileAgentStopped, false);
  await daemon.stop(1_000);
  daemon = null;
  assert.deepEqual(JSON.parse(readFileSync(join(paths.root, 'usb-plugs.json'), 'utf8')).plugs, []);

  // Once more: nothing attached, so nothing is reported at start.
  daemon = await startDaemon(collector, paths, fakeUsb());
  collector.publish(policy(3, M.USB_ENFORCEMENT_MODE_AUDIT));
  await until('the policy change recorded', () => collector.events.find((e) => e.agentStatus?.policyVersion === '3'));
  assert.equal(attaches().length, 2);
});

/** A source the test drives by hand, as a real backend would report a bus at start. */
class HandSource implements UsbSource {
  readonly name = 'usb:hand';
  sink: UsbObservationSink | null = null;
  async start(sink: UsbObservationSink) {
    this.sink = sink;
  }
  async stop() {}
  attached() {
    return [];
  }
  capabilities() {
    return [{ name: 'usb.detect', available: true, reason: '' }];
  }
  async push(...observations: UsbObservation[]) {
    await this.sink!.accept(observations);
  }
}

function stick(busPath: string, serial: string, descriptorHash = 'a'.repeat(64)): UsbDevice {
  return { vendorId: 0x0781, productId: 0x5567, serial, manufacturer: 'SanDisk', product: 'Cruzer Blade', interfaceClasses: [8], busPath, descriptorHash, serialQuality: SerialQuality.SERIAL_QUALITY_PRESENT };
}

test('after a restart a stick that stayed continues its plug (storage events name it), a stick swapped in the same port is a new plug, and those that left while the agent was down are detached as such', async (t) => {
  const temp = makeTempDir('mamori-daemon-plugs-');
  let daemon: AgentDaemon | null = null;
  t.after(async () => {
    if (daemon !== null) await daemon.stop(500);
    temp.cleanup();
  });
  const collector = await fakeCollector(t);
  const paths = statePaths(join(temp.path, 'state'));
  const attachOf = (serial: string) => collector.events.filter((e) => e.usbDeviceAttached?.device?.serial === serial);

  let source = new HandSource();
  daemon = await startDaemon(collector, paths, source);
  const now = () => new Date();
  await source.push(
    { kind: 'attached', device: stick('1-1', 'STAYS'), presentAtStart: false, occurredAt: now() },
    { kind: 'attached', device: stick('1-2', 'SWAPPED-OUT'), presentAtStart: false, occurredAt: now() },
    { kind: 'attached', device: stick('1-3', 'LEFT'), presentAtStart: false, occurredAt: now() },
    { kind: 'attached', device: stick('1-5', 'SAME-SERIAL'), presentAtStart: false, occurredAt: now() },
  );
  await until('four attaches', () => collector.events.filter((e) => e.usbDeviceAttached).length === 4);
  const plugOf = (serial: string) => attachOf(serial)[0]!.eventId;
  await daemon.stop(1_000);
  daemon = null;

  // While it was down: 1-2 got another stick, 1-3 was pulled, 1-5 got a different stick with the same serial (other descriptors).
  source = new HandSource();
  daemon = await startDaemon(collector, paths, source);
  await source.push(
    { kind: 'attached', device: stick('1-1', 'STAYS'), presentAtStart: true, occurredAt: now() },
    { kind: 'attached', device: stick('1-2', 'SWAPPED-IN'), presentAtStart: true, occurredAt: now() },
    { kind: 'attached', device: stick('1-5', 'SAME-SERIAL', 'b'.repeat(64)), presentAtStart: true, occurredAt: now() },
  );
  await source.sink!.presentAtStartReported!();
  await source.push({
    kind: 'storage',
    device: stick('1-1', 'STAYS'),
    occurredAt: now(),
    blockDevices: [
      { deviceNode: '/dev/sdb', parentNode: '', sizeBytes: '67108864', filesystemType: '', label: '', mountPoints: [], encryption: undefined, readOnly: false },
      { deviceNode: '/dev/sdb1', parentNode: '/dev/sdb', sizeBytes: '66060288', filesystemType: 'vfat', label: 'STAYS', mountPoints: ['/media/alice/STAYS'], encryption: { scheme: EncryptionScheme.ENCRYPTION_SCHEME_NONE, fullyEncrypted: false, percentEncrypted: 0, protectionOn: false }, readOnly: false },
    ],
  });

  const stays = await until('the continuing attach', () => attachOf('STAYS')[1]);
  assert.equal(stays.usbDeviceAttached!.continuesAttachedEventId, plugOf('STAYS'));
  const volumes = await until('the storage event', () => collector.events.find((e) => e.usbStorageVolumes?.device?.serial === 'STAYS'));
  assert.equal(volumes.usbStorageVolumes!.attachedEventId, plugOf('STAYS'), 'the volumes name the original plug');

  const swappedIn = await until('the swapped-in attach', () => attachOf('SWAPPED-IN')[0]);
  assert.equal(swappedIn.usbDeviceAttached!.continuesAttachedEventId, '', 'another stick in the same port is a new plug');
  const sameSerial = await until('the other same-serial stick', () => attachOf('SAME-SERIAL')[1]);
  assert.equal(sameSerial.usbDeviceAttached!.continuesAttachedEventId, '', 'other descriptors: a new plug');

  const leftWhileDown = await until('three detaches for what left while down', () => {
    const list = collector.events.filter((e) => e.usbDeviceDetached);
    return list.length === 3 ? list : undefined;
  });
  const detachOf = (serial: string) => leftWhileDown.find((e) => e.usbDeviceDetached!.device!.serial === serial)?.usbDeviceDetached;
  for (const serial of ['SWAPPED-OUT', 'LEFT']) {
    assert.equal(detachOf(serial)?.leftWhileAgentStopped, true, `${serial} left while the agent was stopped`);
    assert.equal(detachOf(serial)?.attachedEventId, plugOf(serial));
  }
  assert.equal(leftWhileDown.filter((e) => e.usbDeviceDetached!.device!.serial === 'SAME-SERIAL').length, 1);
  assert.equal(leftWhileDown.find((e) => e.usbDeviceDetached!.device!.serial === 'SAME-SERIAL')!.usbDeviceDetached!.device!.descriptorHash, 'a'.repeat(64));
  await daemon.stop(1_000);
  daemon = null;

  // A second restart keeps naming the first plug, not the continuing report.
  const saved = JSON.parse(readFileSync(join(paths.root, 'usb-plugs.json'), 'utf8')).plugs as Array<{ device: { busPath: string }; attachedEventId: string }>;
  assert.deepEqual(saved.map((p) => p.device.busPath).sort(), ['1-1', '1-2', '1-5']);
  source = new HandSource();
  daemon = await startDaemon(collector, paths, source);
  await source.push({ kind: 'attached', device: stick('1-1', 'STAYS'), presentAtStart: true, occurredAt: now() });
  const third = await until('the third report', () => attachOf('STAYS')[2]);
  assert.equal(third.usbDeviceAttached!.continuesAttachedEventId, plugOf('STAYS'));
  await source.sink!.presentAtStartReported!();
  await until('the others detached as left while down', () => collector.events.filter((e) => e.usbDeviceDetached?.leftWhileAgentStopped).length === 5);
});

test('a saved-plugs file that cannot be read is reported and the agent starts with new plugs', async (t) => {
  const temp = makeTempDir('mamori-daemon-plugs-bad-');
  let daemon: AgentDaemon | null = null;
  t.after(async () => {
    if (daemon !== null) await daemon.stop(500);
    temp.cleanup();
  });
  const collector = await fakeCollector(t);
  const paths = statePaths(join(temp.path, 'state'));
  mkdirSync(paths.root, { recursive: true, mode: 0o700 });
  writeFileSync(join(paths.root, 'usb-plugs.json'), '{"plugs": [{"device": 7}]}');
  const source = new HandSource();
  const logs: string[] = [];
  daemon = await startDaemon(collector, paths, source, logs);
  assert.ok(
    logs.some((line) => /the saved USB plugs .*usb-plugs\.json are unreadable \(a plug entry is malformed.*devices still attached start new plugs/.test(JSON.parse(line).msg)),
    `the problem is logged: ${logs.join('\n')}`,
  );
  await source.push({ kind: 'attached', device: stick('1-1', 'ANY'), presentAtStart: true, occurredAt: new Date() });
  await source.sink!.presentAtStartReported!();
  const attach = await until('the attach', () => collector.events.find((e) => e.usbDeviceAttached));
  assert.equal(attach.usbDeviceAttached!.continuesAttachedEventId, '');
  await until('the plugs file rewritten', () => existsSync(join(paths.root, 'usb-plugs.json')) && readFileSync(join(paths.root, 'usb-plugs.json'), 'utf8').includes(attach.eventId));
});

test('a backend that replays after a crash may offer the attach that began a saved plug again: the same plug, no detach for it', async (t) => {
  const temp = makeTempDir('mamori-daemon-plugs-replay-');
  let daemon: AgentDaemon | null = null;
  t.after(async () => {
    if (daemon !== null) await daemon.stop(500);
    temp.cleanup();
  });
  const collector = await fakeCollector(t);
  const paths = statePaths(join(temp.path, 'state'));
  const replayedId = '0f8e3a52-6b1d-5c2e-8f4a-9d3b7c1e2a60';
  let source = new HandSource();
  daemon = await startDaemon(collector, paths, source);
  await source.push({ kind: 'attached', device: stick('1-7', 'REPLAYED'), presentAtStart: false, occurredAt: new Date(), eventId: replayedId });
  await until('the attach', () => collector.events.find((e) => e.eventId === replayedId));
  await daemon.stop(1_000);
  daemon = null;

  source = new HandSource();
  daemon = await startDaemon(collector, paths, source);
  await source.push({ kind: 'attached', device: stick('1-7', 'REPLAYED'), presentAtStart: false, occurredAt: new Date(), eventId: replayedId });
  await source.sink!.presentAtStartReported!();
  await source.push({ kind: 'detached', device: stick('1-7', 'REPLAYED'), occurredAt: new Date() });
  const detaches = await until('the detach', () => {
    const list = collector.events.filter((e) => e.usbDeviceDetached);
    return list.length > 0 ? list : undefined;
  });
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(
    collector.events.filter((e) => e.usbDeviceDetached).map((e) => [e.usbDeviceDetached!.attachedEventId, e.usbDeviceDetached!.leftWhileAgentStopped]),
    [[replayedId, false]],
    `one ordinary detach of the plug: ${JSON.stringify(detaches.map((e) => e.usbDeviceDetached))}`,
  );
});
