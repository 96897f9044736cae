import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { join } from 'node:path';
import { makeTempDir } from '../../support/temp-dir';
import {
  PolicyServiceClient,
  PolicyServiceService,
  UsbEnforcementMode,
  type GetPolicyRequest,
  type Policy,
  type WatchPolicyRequest,
  type WatchPolicyResponse,
} from '../../../agent/src/generated/mamori/v1/policy';
import { PolicyWatcher } from '../../../agent/src/transport/policy-watcher';
import { Backoff } from '../../../agent/src/transport/backoff';
import { ConnectionMonitor } from '../../../agent/src/state/status-file';
import { loadCachedPolicy } from '../../../agent/src/state/policy-cache';
import { createLogger } from '../../../agent/src/logging/logger';

const OLD_LINEAGE = '0b6f3c52-5f7e-4c43-9d7c-1c1f7f0e0a01';
const NEW_LINEAGE = '7d1e9a40-2f55-4b7e-8f0e-3b7d2f6c9b02';

function policy(version: number, lineageId: string, serial: string): Policy {
  return {
    version: String(version),
    lineageId,
    transfer: undefined,
    publishedAt: undefined,
    network: undefined,
    usb: {
      unregisteredDeviceMode: UsbEnforcementMode.USB_ENFORCEMENT_MODE_AUDIT,
    registeredDeviceMode: UsbEnforcementMode.USB_ENFORCEMENT_MODE_ALLOW,
    requireEncryptedMedia: false,
    unencryptedMediaMode: UsbEnforcementMode.USB_ENFORCEMENT_MODE_AUDIT,
    storageWithHidMode: UsbEnforcementMode.USB_ENFORCEMENT_MODE_AUDIT,
    exceptions: [],
      registeredDevices: [{ entryId: serial, vendorId: 0x0781, productId: 0x5567, serial, label: serial, holder: 'h', anyVendor: false, anyProduct: false, descriptorHash: '', department: '' }],
    },
  };
}

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('a recreated collector database (new lineage, lower version) replaces the cached policy; stale pushes of the same lineage do not', async (t) => {
  const temp = makeTempDir('mamori-policy-watcher-');
  t.after(() => temp.cleanup());
  const gets: GetPolicyRequest[] = [];
  const watches: WatchPolicyRequest[] = [];
  let push: ((policy: Policy) => void) | null = null;
  const server = new grpc.Server();
  server.addService(PolicyServiceService, {
    // The collector after its database was recreated: numbering restarted, under a new lineage.
    getPolicy: (call: grpc.ServerUnaryCall<GetPolicyRequest, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      gets.push(call.request);
      const current = policy(2, NEW_LINEAGE, 'NEW2');
      const same = call.request.knownLineageId === current.lineageId && call.request.knownVersion === current.version;
      callback(null, same ? { unchanged: true, policy: undefined } : { unchanged: false, policy: current });
    },
    watchPolicy: (call: grpc.ServerWritableStream<WatchPolicyRequest, WatchPolicyResponse>) => {
      watches.push(call.request);
      push = (p) => call.write({ policy: p });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, p) => (error ? reject(error) : resolve(p))),
  );
  t.after(() => server.forceShutdown());
  const client = new PolicyServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  t.after(() => client.close());

  const logs: Array<Record<string, unknown>> = [];
  const applied: string[] = [];
  const cachePath = join(temp.path, 'policy.bin');
  const sut = new PolicyWatcher({
    client,
    cachePath,
    monitor: new ConnectionMonitor(),
    logger: createLogger('debug', (line) => logs.push(JSON.parse(line) as Record<string, unknown>)),
    initial: policy(7, OLD_LINEAGE, 'OLD7'),
    onApplied: async (p) => void applied.push(`${p.lineageId}:${p.version}`),
    backoff: new Backoff(1, 5),
  });
  const abort = new AbortController();
  const running = sut.run(abort.signal);
  t.after(async () => {
    abort.abort();
    await running;
  });

  await until('the watch stream', () => push !== null);
  assert.deepEqual(gets[0], { knownVersion: '7', knownLineageId: OLD_LINEAGE }, 'GetPolicy names the cached version and its lineage');
  assert.deepEqual(applied, [`${NEW_LINEAGE}:2`], 'version 2 of a new lineage replaces version 7 of the old one');
  assert.deepEqual(watches[0], { knownVersion: '2', knownLineageId: NEW_LINEAGE }, 'the watch names the policy now running');
  const loud = logs.find((l) => l.level === 'warn' && /collector database was recreated or restored/.test(String(l.msg)));
  assert.ok(loud, 'the lineage change is logged as a warning');
  assert.equal(loud.previousLineageId, OLD_LINEAGE);
  assert.equal(loud.lineageId, NEW_LINEAGE);

  push!(policy(1, NEW_LINEAGE, 'STALE1'));
  push!(policy(3, NEW_LINEAGE, 'NEW3'));
  await until('version 3', () => sut.version === 3n);
  assert.deepEqual(applied, [`${NEW_LINEAGE}:2`, `${NEW_LINEAGE}:3`], 'a lower version of the same lineage is ignored');
  const cached = await loadCachedPolicy(cachePath);
  assert.equal(cached?.version, '3');
  assert.equal(cached?.lineageId, NEW_LINEAGE, 'the cache keeps the lineage for the next start');
  assert.equal(logs.filter((l) => /recreated or restored/.test(String(l.msg))).length, 1, 'only a real lineage change is announced');
});
