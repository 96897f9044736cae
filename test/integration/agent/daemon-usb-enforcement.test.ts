import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from '../../support/temp-dir';
import { AgentDaemon } from '../../../agent/src/daemon/agent-daemon';
import { loadAgentConfig } from '../../../agent/src/config/agent-config';
import { LinuxUsbEnforcer } from '../../../agent/src/enforce/linux-usb-enforcer';
import type { CommandRunner } from '../../../agent/src/facts/command-runner';
import { createLogger } from '../../../agent/src/logging/logger';
import { statePaths } from '../../../agent/src/state/state-dir';
import type { UsbObservation, UsbObservationSink, UsbSource } from '../../../agent/src/sources/usb/usb.source';
import { SerialQuality, type UsbDevice } from '../../../agent/src/generated/mamori/v1/common';
import { EncryptionScheme, UsbEnforcementAction as A, type Event } from '../../../agent/src/generated/mamori/v1/events';
import {
  PolicyServiceClient,
  PolicyServiceService,
  UsbEnforcementMode as M,
  type GetPolicyRequest,
  type Policy,
  type WatchPolicyRequest,
  type WatchPolicyResponse,
} from '../../../agent/src/generated/mamori/v1/policy';
import {
  TelemetryServiceClient,
  TelemetryServiceService,
  type HeartbeatRequest,
  type UploadEventsRequest,
} from '../../../agent/src/generated/mamori/v1/telemetry';

const AGENT_ID = '5b0e7f55-8c1a-4f52-9d0e-2f4f0c7b1a11';
const LINEAGE = '3c1b7a0e-0d57-4b7e-9a51-7c2e8f3d9b40';

function policy(version: number, registered: string[], unregisteredMode = M.USB_ENFORCEMENT_MODE_BLOCK, registeredMode = M.USB_ENFORCEMENT_MODE_READ_ONLY): Policy {
  return {
    version: String(version),
    lineageId: LINEAGE,
    transfer: undefined,
    publishedAt: undefined,
    network: undefined,
    usb: {
      unregisteredDeviceMode: unregisteredMode,
      registeredDeviceMode: registeredMode,
      requireEncryptedMedia: false,
      unencryptedMediaMode: M.USB_ENFORCEMENT_MODE_AUDIT,
      storageWithHidMode: unregisteredMode,
      exceptions: [],
      registeredDevices: registered.map((serial) => ({ entryId: `e-${serial}`, vendorId: 0x46f4, productId: 1, serial, label: serial, holder: 'alice', anyVendor: false, anyProduct: false, descriptorHash: '', department: 'sales' })),
    },
  };
}

function device(busPath: string, interfaceClasses: number[], serial: string): UsbDevice {
  return { vendorId: 0x46f4, productId: 1, serial, manufacturer: 'QEMU', product: 'QEMU USB HARDDRIVE', interfaceClasses, busPath, descriptorHash: '', serialQuality: SerialQuality.SERIAL_QUALITY_PRESENT };
}

/** A source the test drives by hand: observations go to the daemon exactly as a backend hands them over. */
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
  push(...observations: UsbObservation[]) {
    return this.sink!.accept(observations);
  }
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

test('the daemon evaluates each device, enforces the verdict at birth, records the decision, re-evaluates on a policy change and restores the hubs at stop', async (t) => {
  const temp = makeTempDir('mamori-daemon-enforce-');
  let daemon: AgentDaemon | null = null;
  let stopped = false;
  // One hook, in this order: the daemon writes into the temp folder until it has stopped.
  t.after(async () => {
    if (daemon !== null && !stopped) await daemon.stop(500);
    temp.cleanup();
  });
  const sysDevices = join(temp.path, 'sys/bus/usb/devices');
  for (const name of ['usb1', '1-1', '1-2', '1-3']) mkdirSync(join(sysDevices, name), { recursive: true });
  writeFileSync(join(sysDevices, 'usb1/authorized_default'), '1\n');
  // usb2 is a controller that is hot-plugged later (a dock): its entry is not yet listed.
  const dock = join(temp.path, 'later/usb2');
  mkdirSync(dock, { recursive: true });
  writeFileSync(join(dock, 'authorized_default'), '1\n');
  for (const name of ['1-1', '1-2', '1-3']) writeFileSync(join(sysDevices, name, 'authorized'), '0\n');
  const sysfs = (rel: string) => readFileSync(join(sysDevices, rel), 'utf8').trim();

  const events: Event[] = [];
  const heartbeats: HeartbeatRequest[] = [];
  let push: ((p: Policy) => void) | null = null;
  const server = new grpc.Server();
  server.addService(TelemetryServiceService, {
    uploadEvents: (call: grpc.ServerUnaryCall<UploadEventsRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      events.push(...call.request.events);
      cb(null, { batchId: call.request.batchId, storedCount: call.request.events.length, duplicateCount: 0 });
    },
    heartbeat: (call: grpc.ServerUnaryCall<HeartbeatRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      heartbeats.push(call.request);
      cb(null, { serverTime: undefined, currentPolicyVersion: '0', nextHeartbeatSeconds: 1 });
    },
  });
  server.addService(PolicyServiceService, {
    getPolicy: (_call: grpc.ServerUnaryCall<GetPolicyRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, { unchanged: false, policy: policy(1, []) }),
    watchPolicy: (call: grpc.ServerWritableStream<WatchPolicyRequest, WatchPolicyResponse>) => {
      push = (p) => call.write({ policy: p });
      if (call.request.knownVersion !== '1') call.write({ policy: policy(1, []) });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  t.after(() => server.forceShutdown());
  const target = `127.0.0.1:${port}`;
  const telemetry = new TelemetryServiceClient(target, grpc.credentials.createInsecure());
  const policyClient = new PolicyServiceClient(target, grpc.credentials.createInsecure());

  const commands: string[] = [];
  const runner: CommandRunner = {
    async run(file, args) {
      commands.push([file, ...args].join(' '));
      return { stdout: '', stderr: '' };
    },
  };
  const logger = createLogger('error');
  const paths = statePaths(join(temp.path, 'state'));
  const source = new HandSource();
  const enforcer = new LinuxUsbEnforcer({ sysfsRoot: join(temp.path, 'sys'), runner, logger, statePath: join(paths.root, 'usb-root-hubs.json'), isRoot: () => true });
  daemon = new AgentDaemon({
    config: loadAgentConfig({ MAMORI_AGENT_USB_BACKEND: 'unsupported', MAMORI_AGENT_EGRESS_BACKEND: 'unsupported', MAMORI_AGENT_HEARTBEAT_SECONDS: '1' }),
    paths,
    credentials: { identity: { agentId: AGENT_ID, server: target, enrolledAt: new Date().toISOString() }, privateKeyPem: '', certificatePem: '', caPem: '' },
    logger,
    platformFacts: { name: 'test', loggedInUsers: async () => ({ users: ['alice'] }), machineId: async () => ({ id: 'm' }) },
    usbSource: source,
    usbEnforcer: enforcer,
    clients: { telemetry, policy: policyClient, close: () => (telemetry.close(), policyClient.close()) },
  });
  await daemon.start();
  await until('policy version 1 and block at birth', () => push !== null && sysfs('usb1/authorized_default') === '0');

  const seen = new Date(Date.now() - 3);
  await source.push(
    { kind: 'attached', device: device('1-1', [3], ''), presentAtStart: false, occurredAt: seen },
    { kind: 'attached', device: device('1-2', [8], 'STRANGER'), presentAtStart: false, occurredAt: seen },
    { kind: 'attached', device: device('1-3', [8], 'ISSUED'), presentAtStart: false, occurredAt: seen },
  );
  assert.equal(sysfs('1-1/authorized'), '1', 'the keyboard is let in at once');
  assert.equal(sysfs('1-2/authorized'), '0', 'the unregistered stick stays out');
  assert.equal(sysfs('1-3/authorized'), '0', 'not yet registered');

  const attached = await until('three attach events', () => {
    const list = events.filter((e) => e.usbDeviceAttached);
    return list.length >= 3 ? list : undefined;
  });
  const bySerial = (s: string) => attached.find((e) => e.usbDeviceAttached!.device!.serial === s)!.usbDeviceAttached!.enforcement!;
  assert.equal(bySerial('').action, A.USB_ENFORCEMENT_ACTION_AUTHORIZED);
  const stranger = bySerial('STRANGER');
  assert.equal(stranger.requestedMode, M.USB_ENFORCEMENT_MODE_BLOCK);
  assert.equal(stranger.appliedMode, M.USB_ENFORCEMENT_MODE_BLOCK);
  assert.equal(stranger.action, A.USB_ENFORCEMENT_ACTION_DEAUTHORIZED);
  assert.equal(stranger.policyVersion, '1');
  assert.ok(Number(stranger.latencyMicros) >= 3000, `latency counted from the observation: ${stranger.latencyMicros}`);

  const beat = await until('a heartbeat naming the enforcer', () => heartbeats.find((h) => h.health?.sources.includes('enforce:linux')));
  assert.deepEqual(
    beat.health!.capabilities.map((c) => `${c.name}:${c.available}`),
    // The network capabilities say no here: this test runs the egress backend `unsupported` and no proxy.
    ['usb.detect:true', 'usb.block:true', 'usb.read_only:true', 'network.enforce:false', 'network.proxy:false'],
  );

  // The stick is registered later: the new policy authorizes it where it sits (registered = read-only).
  push!(policy(2, ['ISSUED']));
  await until('the registered stick authorized', () => sysfs('1-3/authorized') === '1');
  assert.equal(sysfs('1-2/authorized'), '0');
  const revisit = await until('the re-evaluation event', () =>
    events.find((e) => e.usbDeviceReevaluated?.device?.serial === 'ISSUED' && e.usbDeviceReevaluated.enforcement?.policyVersion === '2'),
  );
  const issuedAttach = attached.find((e) => e.usbDeviceAttached!.device!.serial === 'ISSUED')!;
  const reevaluated = revisit.usbDeviceReevaluated!;
  assert.equal(reevaluated.enforcement!.action, A.USB_ENFORCEMENT_ACTION_AUTHORIZED);
  assert.equal(reevaluated.enforcement!.registerEntryId, 'e-ISSUED');
  assert.equal(reevaluated.enforcement!.policyLineageId, LINEAGE);
  assert.match(reevaluated.enforcement!.reason, /re-evaluated under policy version 2 \(was block\)/);
  assert.equal(reevaluated.previousAppliedMode, M.USB_ENFORCEMENT_MODE_BLOCK);
  assert.equal(reevaluated.previousPolicyVersion, '1');
  assert.equal(reevaluated.attachedEventId, issuedAttach.eventId, 'the same plug, named by its attach event');
  assert.equal(events.filter((e) => e.usbDeviceAttached?.device?.serial === 'ISSUED').length, 1, 're-evaluation is not a new attach');
  assert.equal(events.filter((e) => (e.usbDeviceAttached ?? e.usbDeviceReevaluated)?.device?.serial === 'STRANGER').length, 1, 'an unchanged verdict is not recorded again');

  // Its disk appears: read-only is applied and the volumes are recorded with the decision.
  await source.push({
    kind: 'storage',
    device: device('1-3', [8], 'ISSUED'),
    occurredAt: new Date(),
    blockDevices: [
      { deviceNode: '/dev/sdb', parentNode: '', sizeBytes: '67108864', filesystemType: '', label: '', mountPoints: [], encryption: undefined, readOnly: false },
      { deviceNode: '/dev/sdb1', parentNode: '/dev/sdb', sizeBytes: '66060288', filesystemType: 'vfat', label: 'ISSUED', mountPoints: ['/media/alice/ISSUED'], encryption: { scheme: EncryptionScheme.ENCRYPTION_SCHEME_NONE, fullyEncrypted: false, percentEncrypted: 0, protectionOn: false }, readOnly: false },
    ],
  });
  assert.deepEqual(commands.filter((c) => !c.includes('--version')), ['blockdev --setro /dev/sdb', 'blockdev --setro /dev/sdb1', 'mount -o remount,ro /media/alice/ISSUED']);
  const volumes = await until('the storage event', () => events.find((e) => e.usbStorageVolumes));
  assert.equal(volumes.usbStorageVolumes!.allDataVolumesEncrypted, false);
  assert.equal(volumes.usbStorageVolumes!.enforcement!.action, A.USB_ENFORCEMENT_ACTION_SET_READ_ONLY);
  assert.equal(volumes.usbStorageVolumes!.blockDevices.length, 2);
  assert.equal(volumes.usbStorageVolumes!.attachedEventId, issuedAttach.eventId);

  // Leaving block mode gives the hubs their previous default back; leaving read-only makes the stick writable again.
  commands.length = 0;
  push!(policy(3, ['ISSUED'], M.USB_ENFORCEMENT_MODE_AUDIT, M.USB_ENFORCEMENT_MODE_ALLOW));
  await until('block mode left', () => sysfs('usb1/authorized_default') === '1');
  await until('the stranger let in under audit', () => sysfs('1-2/authorized') === '1');
  const writable = await until('the read-only stick re-evaluated under version 3', () =>
    events.find((e) => e.usbDeviceReevaluated?.device?.serial === 'ISSUED' && e.usbDeviceReevaluated.enforcement?.policyVersion === '3'),
  );
  assert.deepEqual(commands, ['blockdev --setrw /dev/sdb', 'blockdev --setrw /dev/sdb1', 'mount -o remount,rw /media/alice/ISSUED'], 'exactly what was made read-only is undone');
  assert.equal(writable.usbDeviceReevaluated!.previousAppliedMode, M.USB_ENFORCEMENT_MODE_READ_ONLY);
  assert.equal(writable.usbDeviceReevaluated!.storageEnforcement!.action, A.USB_ENFORCEMENT_ACTION_SET_READ_WRITE);
  assert.equal(writable.usbDeviceReevaluated!.storageEnforcement!.appliedMode, M.USB_ENFORCEMENT_MODE_ALLOW);
  assert.equal(writable.usbDeviceReevaluated!.blockDevices.length, 2);

  // Back to blocking: the stranger, let in under audit, is deauthorized where it sits; the issued stick is read-only again.
  commands.length = 0;
  push!(policy(4, ['ISSUED']));
  await until('block mode again', () => sysfs('usb1/authorized_default') === '0');
  await until('the stranger deauthorized', () => sysfs('1-2/authorized') === '0');
  const blockedAgain = await until('the stranger re-evaluated under version 4', () =>
    events.find((e) => e.usbDeviceReevaluated?.device?.serial === 'STRANGER' && e.usbDeviceReevaluated.enforcement?.policyVersion === '4'),
  );
  assert.equal(blockedAgain.usbDeviceReevaluated!.enforcement!.action, A.USB_ENFORCEMENT_ACTION_DEAUTHORIZED);
  assert.equal(blockedAgain.usbDeviceReevaluated!.previousAppliedMode, M.USB_ENFORCEMENT_MODE_AUDIT);
  await until('the issued stick read-only again', () => commands.includes('blockdev --setro /dev/sdb1'));

  // A controller hot-plugged while blocking at birth (a dock's root hub) is armed when it arrives, not at the next policy change.
  renameSync(dock, join(sysDevices, 'usb2'));
  await source.push({ kind: 'attached', device: { ...device('usb2', [9], '0000:00:14.0'), vendorId: 0x1d6b, productId: 3 }, presentAtStart: false, occurredAt: new Date() });
  assert.equal(sysfs('usb2/authorized_default'), '0', 'devices behind the new root hub are born unauthorized');
  const hubEvent = await until('the root hub attach', () => events.find((e) => e.usbDeviceAttached?.device?.busPath === 'usb2'));
  assert.match(hubEvent.usbDeviceAttached!.enforcement!.reason, /root hub that arrived while blocking at birth: authorized_default=0 \(was 1\)/);

  await source.push({ kind: 'detached', device: device('1-2', [], 'STRANGER'), occurredAt: new Date() });
  await until('the detach event', () => events.find((e) => e.usbDeviceDetached?.device?.serial === 'STRANGER'));

  await daemon.stop(1_000);
  stopped = true;
  assert.equal(sysfs('usb1/authorized_default'), '1', 'the agent stopping restores the default');
  assert.equal(sysfs('usb2/authorized_default'), '1', 'the hot-plugged root hub gets its own previous default back');
});
