import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { createHash } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { appendFile, mkdir, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from '../../support/temp-dir';
import { AgentDaemon } from '../../../agent/src/daemon/agent-daemon';
import { loadAgentConfig } from '../../../agent/src/config/agent-config';
import { createLogger } from '../../../agent/src/logging/logger';
import { statePaths } from '../../../agent/src/state/state-dir';
import { createUsbSource } from '../../../agent/src/sources/usb/usb-backend-selector';
import { FileOperation, PersonalDataKind, TransferChannel, type Event, type FileTransfer } from '../../../agent/src/generated/mamori/v1/events';
import { PolicyServiceClient, PolicyServiceService, UsbEnforcementMode as M, type GetPolicyRequest, type Policy, type WatchPolicyRequest, type WatchPolicyResponse } from '../../../agent/src/generated/mamori/v1/policy';
import { TelemetryServiceClient, TelemetryServiceService, type HeartbeatRequest, type UploadEventsRequest } from '../../../agent/src/generated/mamori/v1/telemetry';
import type { TransferStatus } from '../../../agent/src/sources/transfers/transfer.source';
import { myNumberWithCheckDigit } from '../../unit/agent/inspect/check-digits';

const AGENT_ID = '2f6a1c7e-3b4d-4e8f-9a0b-7c6d5e4f3a21';
const sha = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

async function until<T>(what: string, check: () => T | undefined | false, timeoutMs = 30_000, explain: () => string = () => ''): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what} ${explain()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function policy(watchedFolders: string[]): Policy {
  return {
    version: '1',
    lineageId: '8d7c6b5a-4e3f-4a1b-9c8d-7e6f5a4b3c2d',
    publishedAt: undefined,
    network: undefined,
    usb: {
      unregisteredDeviceMode: M.USB_ENFORCEMENT_MODE_AUDIT,
      registeredDeviceMode: M.USB_ENFORCEMENT_MODE_ALLOW,
      requireEncryptedMedia: false,
      unencryptedMediaMode: M.USB_ENFORCEMENT_MODE_AUDIT,
      storageWithHidMode: M.USB_ENFORCEMENT_MODE_AUDIT,
      exceptions: [],
      registeredDevices: [],
    },
    transfer: { watchedFolders, inspectionByteBudget: '0', inspectionTimeBudgetMillis: 0 },
  };
}

const SETTLE_MS = 1000;

const stick = { vendorId: '0781', productId: '5567', serial: '4C530001231120115142', manufacturer: 'SanDisk', product: 'Cruzer Blade', interfaceClasses: [8], busPath: '1-2' };

test('the daemon watches a USB volume from the moment the USB source reports it mounted: hashes and findings, bursts, renames, deletes, slow writes, a stick pulled mid-copy, and policy folders', async (t) => {
  const temp = makeTempDir('mamori-transfers-daemon-');
  let daemon: AgentDaemon | null = null;
  t.after(async () => {
    if (daemon !== null) await daemon.stop(500);
    temp.cleanup();
  });
  const volume = join(temp.path, 'media', 'STICK');
  const share = join(temp.path, 'outbox-share');
  const missing = join(temp.path, 'not-on-this-host');
  mkdirSync(volume, { recursive: true });
  mkdirSync(share);
  writeFileSync(join(volume, 'already-there.txt'), 'on the stick before it was plugged in');

  const events: Event[] = [];
  const heartbeatsAt: number[] = [];
  const server = new grpc.Server();
  server.addService(TelemetryServiceService, {
    uploadEvents: (call: grpc.ServerUnaryCall<UploadEventsRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      events.push(...call.request.events);
      cb(null, { batchId: call.request.batchId, storedCount: call.request.events.length, duplicateCount: 0 });
    },
    heartbeat: (_call: grpc.ServerUnaryCall<HeartbeatRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      heartbeatsAt.push(Date.now());
      cb(null, { serverTime: undefined, currentPolicyVersion: '1', nextHeartbeatSeconds: 1 });
    },
  });
  server.addService(PolicyServiceService, {
    getPolicy: (_call: grpc.ServerUnaryCall<GetPolicyRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, { unchanged: false, policy: policy([share, missing]) }),
    watchPolicy: (_call: grpc.ServerWritableStream<WatchPolicyRequest, WatchPolicyResponse>) => undefined,
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  t.after(() => server.forceShutdown());
  const target = `127.0.0.1:${port}`;
  const telemetry = new TelemetryServiceClient(target, grpc.credentials.createInsecure());
  const policyClient = new PolicyServiceClient(target, grpc.credentials.createInsecure());

  const script = join(temp.path, 'usb.jsonl');
  writeFileSync(script, '');
  const appendScript = (op: unknown) => appendFileSync(script, JSON.stringify(op) + '\n');
  const config = loadAgentConfig({
    MAMORI_AGENT_USB_BACKEND: 'fake',
    MAMORI_AGENT_FAKE_USB_SCRIPT: script,
    MAMORI_AGENT_ENCRYPTION_BACKEND: 'unsupported',
    MAMORI_AGENT_EGRESS_BACKEND: 'unsupported',
    MAMORI_AGENT_HEARTBEAT_SECONDS: '1',
    // Well above the 150 ms between the slow writes below, so a stalled test process does not
    // look like a finished file.
    MAMORI_AGENT_TRANSFER_SETTLE_MS: String(SETTLE_MS),
    // Generous here: the suite must stay fast; the limit itself is measured in the bench.
    MAMORI_AGENT_TRANSFER_CPU_PERCENT: '400',
  });
  const logger = createLogger('error');
  const paths = statePaths(join(temp.path, 'state'));
  daemon = new AgentDaemon({
    config,
    paths,
    credentials: { identity: { agentId: AGENT_ID, server: target, enrolledAt: new Date().toISOString() }, privateKeyPem: '', certificatePem: '', caPem: '' },
    logger,
    platformFacts: { name: 'test', loggedInUsers: async () => ({ users: ['hanako', 'root'] }), machineId: async () => ({ id: 'm' }) },
    usbSource: createUsbSource(config, paths.sources, logger),
    clients: { telemetry, policy: policyClient, close: () => (telemetry.close(), policyClient.close()) },
    statusIntervalMs: 100,
  });
  await daemon.start();

  const transfers = () => events.filter((e) => e.fileTransfer !== undefined).map((e) => ({ ...e.fileTransfer!, eventUser: e.userName }));
  const status = () => (JSON.parse(readFileSync(paths.status, 'utf8')) as { transfers?: TransferStatus }).transfers;
  const root = (path: string) => status()?.roots.find((r) => r.root === path);

  // Policy folders: the one that exists is watched, the missing one is shown with the reason.
  await until('the policy folders in status', () => root(share)?.state === 'watching' && root(missing)?.state === 'failed');
  assert.match(root(missing)!.problem, /does not exist on this host/);
  assert.match(status()!.processAttribution, /fanotify/);

  // The stick is plugged in and its volume mounted.
  appendScript({ op: 'attach', device: stick });
  appendScript({ op: 'storage', busPath: '1-2', blockDevices: [{ deviceNode: '/dev/sdb', sizeBytes: 8_000_000_000 }, { deviceNode: '/dev/sdb1', parentNode: '/dev/sdb', filesystemType: 'vfat', mountPoints: [volume] }] });
  const attached = await until('the attach event', () => events.find((e) => e.usbDeviceAttached?.device?.serial === stick.serial));
  await until('the volume watched', () => root(volume)?.state === 'watching');
  assert.equal(root(volume)!.deviceNode, '/dev/sdb1');
  assert.equal(root(volume)!.encrypted, false);

  // One CSV with valid My Numbers and one plain file.
  const numbers = ['12345678901', '98765432109', '31415926535'].map(myNumberWithCheckDigit);
  const csv = `氏名,マイナンバー\n${numbers.map((n, i) => `山田${i},${n}`).join('\n')}\n`;
  await mkdir(join(volume, 'hr'));
  await writeFile(join(volume, 'hr', 'staff.csv'), csv);
  await writeFile(join(volume, 'notes.txt'), 'lunch at noon\n');
  const staff = await until('the CSV transfer', () => transfers().find((f) => f.path === 'hr/staff.csv'));
  assert.equal(staff.channel, TransferChannel.TRANSFER_CHANNEL_REMOVABLE_MEDIA);
  assert.equal(staff.operation, FileOperation.FILE_OPERATION_WRITTEN);
  assert.equal(staff.sha256, sha(csv));
  assert.equal(staff.sizeBytes, String(Buffer.byteLength(csv)));
  assert.equal(staff.findings.find((f) => f.kind === PersonalDataKind.PERSONAL_DATA_KIND_MY_NUMBER)?.count, 3);
  assert.equal(staff.format, 'csv');
  assert.equal(staff.destination, volume);
  assert.equal(staff.usbDevice?.serial, stick.serial);
  assert.equal(staff.attachedEventId, attached.eventId, 'the transfer names the plug');
  assert.equal(staff.deviceNode, '/dev/sdb1');
  assert.equal(staff.destinationEncrypted, false);
  assert.equal(staff.userName, 'hanako', 'the first session user');
  assert.equal(staff.eventUser, 'hanako');
  assert.equal(staff.processName, '');
  assert.equal(staff.processId, 0);
  const notes = await until('the plain file', () => transfers().find((f) => f.path === 'notes.txt'));
  assert.equal(notes.sha256, sha('lunch at noon\n'));
  assert.deepEqual(notes.findings, []);
  assert.ok(!transfers().some((f) => f.path === 'already-there.txt'), 'files on the stick before it was mounted are not transfers');

  // A burst of 2,000 files: every one reported with its hash; USB and heartbeats keep going meanwhile.
  const BURST = 2_000;
  await mkdir(join(volume, 'burst'));
  const burstStarted = Date.now();
  const expected = new Map<string, string>();
  for (let i = 0; i < BURST; i += 100) {
    await Promise.all(
      Array.from({ length: 100 }, (_, k) => {
        const body = `row ${i + k} of the burst\n`;
        expected.set(`burst/${String(i + k).padStart(5, '0')}.txt`, sha(body));
        return writeFile(join(volume, 'burst', `${String(i + k).padStart(5, '0')}.txt`), body);
      }),
    );
  }
  const secondStick = { ...stick, serial: 'SECOND0001', busPath: '1-3' };
  const pluggedAt = Date.now();
  appendScript({ op: 'attach', device: secondStick });
  await until('the second stick during the burst', () => events.some((e) => e.usbDeviceAttached?.device?.serial === 'SECOND0001'));
  const usbLatency = Date.now() - pluggedAt;
  await until('every burst file', () => transfers().filter((f) => f.path.startsWith('burst/')).length >= BURST, 120_000, () =>
    `(${transfers().filter((f) => f.path.startsWith('burst/')).length} arrived; status ${JSON.stringify(status())})`);
  const burstDone = Date.now();
  const burst = transfers().filter((f) => f.path.startsWith('burst/'));
  assert.equal(burst.length, BURST, 'each file once');
  for (const f of burst) assert.equal(f.sha256, expected.get(f.path), f.path);
  assert.ok(usbLatency < 5_000, `the USB source was not held up by the burst (attach recorded after ${usbLatency} ms)`);
  const beats = heartbeatsAt.filter((at) => at >= burstStarted && at <= burstDone);
  const gaps = beats.slice(1).map((at, i) => at - beats[i]!);
  assert.ok(burstDone - burstStarted < 3_000 || beats.length >= 2, 'heartbeats continued during the burst');
  assert.ok(gaps.every((g) => g < 4_000), `no heartbeat gap over 4 s during the burst: ${gaps.join(', ')}`);

  // A rename and a delete.
  await rename(join(volume, 'notes.txt'), join(volume, 'hr', 'notes-final.txt'));
  const renamed = await until('the rename', () => transfers().find((f) => f.operation === FileOperation.FILE_OPERATION_RENAMED));
  assert.equal(renamed.path, 'hr/notes-final.txt');
  assert.equal(renamed.previousPath, 'notes.txt');
  assert.equal(renamed.sha256, sha('lunch at noon\n'));
  await unlink(join(volume, 'hr', 'staff.csv'));
  const deleted = await until('the delete', () => transfers().find((f) => f.operation === FileOperation.FILE_OPERATION_DELETED && f.path === 'hr/staff.csv'));
  assert.equal(deleted.sha256, sha(csv), 'the delete names what was deleted');

  // A file written slowly in chunks is reported once, when complete.
  const chunks: Buffer[] = [];
  for (let i = 0; i < 6; i++) {
    const chunk = Buffer.from(`chunk ${i} `.repeat(5_000));
    chunks.push(chunk);
    await appendFile(join(volume, 'slow.log'), chunk);
    await new Promise((r) => setTimeout(r, 150));
  }
  const slow = await until('the slow file', () => transfers().find((f) => f.path === 'slow.log'));
  assert.equal(slow.sha256, sha(Buffer.concat(chunks)));
  await new Promise((r) => setTimeout(r, SETTLE_MS + 500));
  assert.equal(transfers().filter((f) => f.path === 'slow.log').length, 1);

  // A policy folder: its files are WATCHED_FOLDER transfers without a device; then it is removed mid-copy.
  await writeFile(join(share, 'quarterly.txt'), 'figures');
  const shared = await until('the folder transfer', () => transfers().find((f) => f.path === 'quarterly.txt'));
  assert.equal(shared.channel, TransferChannel.TRANSFER_CHANNEL_WATCHED_FOLDER);
  assert.equal(shared.destination, share);
  assert.equal(shared.usbDevice, undefined);
  await writeFile(join(share, 'half.bin'), Buffer.alloc(4096, 1));
  await rm(share, { recursive: true, force: true });
  await until('the removed folder in status', () => root(share)?.state === 'stopped');
  assert.match(root(share)!.problem, /was removed/);

  // The stick is pulled in the middle of a copy: the watcher stops, the half-written file is reported with the problem.
  await writeFile(join(volume, 'big-copy.iso'), Buffer.alloc(1 << 20, 7));
  appendScript({ op: 'detach', busPath: '1-2' });
  const pulled = await until('the file that was mid-copy', () => transfers().find((f) => f.path === 'big-copy.iso'));
  assert.match(pulled.problem, /the device was removed before the file was completely written/);
  assert.equal(pulled.sha256, '');
  await until('the volume no longer listed', () => status() !== undefined && root(volume) === undefined);
  assert.ok(status()!.roots.every((r) => r.state !== 'starting'), 'nothing hangs');
});
