import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { makeTempDir } from '../../support/temp-dir';
import { AGENT_BIN } from '../../support/processes';
import { AgentDaemon } from '../../../agent/src/daemon/agent-daemon';
import { loadAgentConfig } from '../../../agent/src/config/agent-config';
import { createLogger } from '../../../agent/src/logging/logger';
import { statePaths } from '../../../agent/src/state/state-dir';
import type { UsbSource } from '../../../agent/src/sources/usb/usb.source';
import { EncryptionScheme, type Event } from '../../../agent/src/generated/mamori/v1/events';
import { PolicyServiceClient, PolicyServiceService, type GetPolicyRequest, type WatchPolicyRequest, type WatchPolicyResponse } from '../../../agent/src/generated/mamori/v1/policy';
import { PostureCheck, TelemetryServiceClient, TelemetryServiceService, type HeartbeatRequest, type UploadEventsRequest } from '../../../agent/src/generated/mamori/v1/telemetry';
import { writeFileAtomic } from '../../../agent/src/state/atomic-file';

const AGENT_ID = '0d4a9a2e-5f3c-4b8e-9a51-1b2c3d4e5f60';

const idleUsb: UsbSource = {
  name: 'usb:idle',
  start: async () => undefined,
  stop: async () => undefined,
  attached: () => [],
  capabilities: () => [],
};

async function until<T>(what: string, check: () => T | undefined | false): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const root = (scheme: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    volumes: [
      { device: '/dev/mapper/root', mountPoint: '/', systemVolume: true, encryption: { scheme, fullyEncrypted: scheme !== 'ENCRYPTION_SCHEME_NONE', percentEncrypted: scheme !== 'ENCRYPTION_SCHEME_NONE' ? 100 : 0, protectionOn: scheme !== 'ENCRYPTION_SCHEME_NONE' }, filesystemType: 'ext4', ...extra },
    ],
    problems: [],
  });

test('the daemon sends the disk-encryption posture with every heartbeat and an event at start and on each change, not on every check; status shows it', async (t) => {
  const temp = makeTempDir('mamori-daemon-encryption-');
  let daemon: AgentDaemon | null = null;
  t.after(async () => {
    if (daemon !== null) await daemon.stop(500);
    temp.cleanup();
  });
  const events: Event[] = [];
  const heartbeats: HeartbeatRequest[] = [];
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
    getPolicy: (_call: grpc.ServerUnaryCall<GetPolicyRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, { unchanged: true, policy: undefined }),
    watchPolicy: (_call: grpc.ServerWritableStream<WatchPolicyRequest, WatchPolicyResponse>) => undefined,
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  t.after(() => server.forceShutdown());
  const target = `127.0.0.1:${port}`;
  const telemetry = new TelemetryServiceClient(target, grpc.credentials.createInsecure());
  const policyClient = new PolicyServiceClient(target, grpc.credentials.createInsecure());

  const file = join(temp.path, 'disks.json');
  writeFileSync(file, root('ENCRYPTION_SCHEME_NONE'));
  const paths = statePaths(join(temp.path, 'state'));
  daemon = new AgentDaemon({
    config: loadAgentConfig({
      MAMORI_AGENT_USB_BACKEND: 'unsupported',
      MAMORI_AGENT_HEARTBEAT_SECONDS: '1',
      MAMORI_AGENT_ENCRYPTION_BACKEND: 'fake',
      MAMORI_AGENT_EGRESS_BACKEND: 'unsupported',
      MAMORI_AGENT_FAKE_ENCRYPTION_FILE: file,
      MAMORI_AGENT_ENCRYPTION_CHECK_SECONDS: '1',
    }),
    paths,
    credentials: { identity: { agentId: AGENT_ID, server: target, enrolledAt: new Date().toISOString() }, privateKeyPem: '', certificatePem: '', caPem: '' },
    logger: createLogger('error'),
    platformFacts: { name: 'test', loggedInUsers: async () => ({ users: ['alice'] }), machineId: async () => ({ id: 'm' }) },
    usbSource: idleUsb,
    clients: { telemetry, policy: policyClient, close: () => (telemetry.close(), policyClient.close()) },
  });
  await daemon.start();
  const statusEvents = () => events.filter((e) => e.diskEncryptionStatus);

  const plainBeat = await until('a heartbeat with the plain root', () => heartbeats.find((h) => h.posture?.systemVolumeEncrypted === PostureCheck.POSTURE_CHECK_FAILED));
  assert.equal(plainBeat.posture!.fixedDisksEncrypted, PostureCheck.POSTURE_CHECK_FAILED);
  assert.equal(plainBeat.posture!.volumes[0]!.device, '/dev/mapper/root');
  assert.ok(plainBeat.health!.sources.includes('encryption:fake'));
  await until('the first DiskEncryptionStatus event', () => statusEvents().length === 1);
  assert.equal(statusEvents()[0]!.diskEncryptionStatus!.volumes[0]!.encryption!.scheme, EncryptionScheme.ENCRYPTION_SCHEME_NONE);
  assert.equal(statusEvents()[0]!.userName, 'alice');

  // Several checks with nothing changed: no new event.
  await new Promise((r) => setTimeout(r, 2_500));
  assert.equal(statusEvents().length, 1, 'an unchanged posture is not sent again');

  // The host is encrypted: the next check sends one event and the heartbeats say PASSED.
  await writeFileAtomic(file, root('ENCRYPTION_SCHEME_LUKS2', { encryptedBy: '/dev/vda3', method: 'aes-xts-plain64' }));
  await until('the change event', () => statusEvents().length === 2);
  const changed = statusEvents()[1]!.diskEncryptionStatus!;
  assert.equal(changed.volumes[0]!.encryption!.scheme, EncryptionScheme.ENCRYPTION_SCHEME_LUKS2);
  assert.equal(changed.volumes[0]!.encryptedBy, '/dev/vda3');
  await until('a heartbeat saying PASSED', () => heartbeats.find((h) => h.posture?.systemVolumeEncrypted === PostureCheck.POSTURE_CHECK_PASSED && h.posture.fixedDisksEncrypted === PostureCheck.POSTURE_CHECK_PASSED));

  // A broken file: the check could not run, so the posture is "not checked" (not FAILED), and that change is an event too.
  await writeFileAtomic(file, '{"volumes": [{"device": "C:", "encrypted": true}]}');
  await until('the problem event', () => statusEvents().length === 3);
  assert.match(statusEvents()[2]!.diskEncryptionStatus!.problems[0]!, /volumes\[0\]\.encrypted is not a field/);
  const unchecked = await until('a heartbeat saying not checked', () => {
    const last = heartbeats[heartbeats.length - 1];
    return last?.posture?.encryptionProblems.length ? last : undefined;
  });
  assert.equal(unchecked.posture!.systemVolumeEncrypted, PostureCheck.POSTURE_CHECK_UNSPECIFIED);

  // `mamori-agent status` shows the posture the running daemon wrote.
  await writeFileAtomic(file, root('ENCRYPTION_SCHEME_LUKS2', { encryptedBy: '/dev/vda3' }));
  await until('encrypted again', () => statusEvents().length === 4);
  await writeFileAtomic(join(paths.root, 'agent.json'), JSON.stringify({ agentId: AGENT_ID, server: target, enrolledAt: new Date().toISOString() }));
  // status.json is rewritten every 2 s: ask until the daemon's latest posture shows (a busy disk can delay a rewrite).
  const posture = /disk encryption: fixed disks encrypted: yes; system volume encrypted: yes/;
  const volume = /volume: +\/dev\/mapper\/root \(\/, system, in \/dev\/vda3\): LUKS2, fully encrypted, protection on/;
  let stdout = '';
  for (const deadline = Date.now() + 20_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 500))) {
    ({ stdout } = await promisify(execFile)(process.execPath, [AGENT_BIN, 'status', '--state-dir', paths.root]).catch((e: { stdout: string }) => ({ stdout: e.stdout })));
    if (posture.test(stdout) && volume.test(stdout)) break;
  }
  assert.match(stdout, posture);
  assert.match(stdout, volume);
});
