import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { build, parse, type PlistObject } from 'plist';
import { CommandError, type CommandRunner } from '../../../../agent/src/facts/command-runner';
import { createLogger } from '../../../../agent/src/logging/logger';
import { DarwinUsbBackend } from '../../../../agent/src/sources/usb/backends/darwin';
import type { UsbObservation, UsbObservationSink } from '../../../../agent/src/sources/usb/usb.source';

function fixturesDir(platform: string): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'test', 'fixtures', platform))) return join(dir, 'test', 'fixtures', platform);
  }
  return join(process.cwd(), 'test', 'fixtures', platform);
}
const fixture = (name: string) => readFileSync(join(fixturesDir('macos'), name), 'utf8');

/** The captured dump (SanDisk Extreme SSD attached) and the same dump with the SSD's node removed (unplugged). */
const WITH_SSD = fixture('system_profiler-SPUSBDataType-json-sandisk-extreme-ssd.json');
function withoutSsd(): string {
  const root = JSON.parse(WITH_SSD);
  const prune = (items: { _name: string; _items?: unknown[] }[]): unknown[] =>
    items.filter((item) => item._name !== 'Extreme SSD').map((item) => (item._items ? { ...item, _items: prune(item._items as never) } : item));
  root.SPUSBDataType = prune(root.SPUSBDataType);
  return JSON.stringify(root, null, 2);
}

/**
 * diskutil answers for the SSD's disk and EFI volume: the captured SD-reader plist with the keys
 * that name the disk changed, since no diskutil capture of this SSD exists.
 */
const CAPTURED_DISKUTIL = parse(fixture('diskutil-info-plist-usb-sd-card-reader-internal.plist')) as PlistObject;
function diskutilFor(changes: Record<string, string | number | boolean>): string {
  return build({ ...CAPTURED_DISKUTIL, ...changes });
}
const DISK2 = diskutilFor({ DeviceIdentifier: 'disk2', DeviceNode: '/dev/disk2', ParentWholeDisk: 'disk2', TotalSize: 1000204140544, Content: 'GUID_partition_scheme', Internal: false });
const DISK2S1 = diskutilFor({
  DeviceIdentifier: 'disk2s1',
  DeviceNode: '/dev/disk2s1',
  ParentWholeDisk: 'disk2',
  WholeDisk: false,
  TotalSize: 209715200,
  FilesystemType: 'msdos',
  VolumeName: 'EFI',
  Internal: false,
});

type Answer = string | Error;

function scriptedMac(profiler: Answer[], diskutil: Record<string, Answer[]>) {
  const calls: string[] = [];
  const runner: CommandRunner = {
    async run(file, args) {
      calls.push(`${file} ${args.join(' ')}`);
      const queue = file === 'system_profiler' && args.join(' ') === 'SPUSBDataType -json' ? profiler : file === 'diskutil' && args[0] === 'info' && args[1] === '-plist' ? diskutil[args[2]] : undefined;
      if (queue === undefined) throw new Error(`unexpected command ${file} ${args.join(' ')}`);
      const answer = queue.shift();
      if (answer === undefined) throw new Error(`script exhausted for ${file} ${args.join(' ')}`);
      if (answer instanceof Error) throw answer;
      return { stdout: answer, stderr: '' };
    },
  };
  return { runner, calls };
}

function collectingSink() {
  const batches: UsbObservation[][] = [];
  const sink: UsbObservationSink = {
    async accept(observations) {
      batches.push(observations);
    },
    async unavailable() {
      throw new Error('not expected');
    },
  };
  return { sink, batches };
}

test('macOS backend: devices present at start with the SSD\'s disks from diskutil, then the SSD unplugged', async () => {
  const timeout = new CommandError('diskutil did not finish within 10000 ms', 'timeout');
  const { runner, calls } = scriptedMac([WITH_SSD, WITH_SSD, withoutSsd()], { disk2: [DISK2], disk2s1: [DISK2S1], disk2s2: [timeout, timeout] });
  const lines: Record<string, unknown>[] = [];
  const sut = new DarwinUsbBackend({ logger: createLogger('debug', (l) => lines.push(JSON.parse(l))), runner });
  const { sink, batches } = collectingSink();

  await sut.pollOnce(sink);
  const first = batches[0];
  assert.equal(first.filter((o) => o.kind === 'attached' && o.presentAtStart).length, 28);
  const storage = first.filter((o) => o.kind === 'storage');
  assert.equal(storage.length, 1);
  const [ssd] = storage;
  assert.equal(ssd.kind, 'storage');
  if (ssd.kind !== 'storage') return;
  assert.deepEqual([ssd.device.vendorId, ssd.device.productId, ssd.device.busPath, ssd.device.interfaceClasses], [0x0781, 0x558c, '2-3.2', [8]]);
  assert.deepEqual(
    ssd.blockDevices.map((b) => [b.deviceNode, b.parentNode, b.sizeBytes, b.filesystemType, b.label, b.mountPoints]),
    [
      ['/dev/disk2', '', '1000204140544', '', '', []],
      ['/dev/disk2s1', '/dev/disk2', '209715200', 'msdos', 'EFI', []],
      // diskutil timed out for this one: system_profiler's own facts, encryption not judged.
      ['/dev/disk2s2', '/dev/disk2', '999994384384', '', '', []],
    ],
  );
  assert.equal(ssd.blockDevices[2].encryption, undefined);
  assert.ok(lines.some((l) => l.level === 'warn' && l.disk === 'disk2s2'));

  // Unchanged bus: nothing reported; diskutil answers are cached, the failed one is asked again.
  await sut.pollOnce(sink);
  assert.equal(batches.length, 1);
  assert.equal(calls.filter((c) => c === 'diskutil info -plist disk2').length, 1);
  assert.equal(calls.filter((c) => c === 'diskutil info -plist disk2s2').length, 2);

  await sut.pollOnce(sink);
  assert.equal(batches.length, 2);
  assert.deepEqual(
    batches[1].map((o) => `${o.kind} ${o.device.product}`),
    ['detached Extreme SSD'],
  );
  assert.equal(sut.attached().length, 27);
  assert.deepEqual(sut.capabilities().slice(1), [
    { name: 'usb.block', available: false, reason: 'audit-only on macOS in this version' },
    { name: 'usb.read_only', available: false, reason: 'audit-only on macOS in this version' },
  ]);
});

test('macOS backend: system_profiler failing keeps the last view and says why in the capabilities', async () => {
  const { runner } = scriptedMac([WITH_SSD, new CommandError('system_profiler did not finish within 30000 ms', 'timeout'), 'system_profiler: unknown data type'], {
    disk2: [DISK2],
    disk2s1: [DISK2S1],
    disk2s2: [DISK2S1.replace(/disk2s1/g, 'disk2s2')],
  });
  const sut = new DarwinUsbBackend({ logger: createLogger('error', () => undefined), runner });
  const { sink, batches } = collectingSink();
  await sut.pollOnce(sink);
  assert.equal(sut.attached().length, 28);
  await sut.pollOnce(sink);
  assert.equal(batches.length, 1);
  assert.equal(sut.attached().length, 28);
  assert.deepEqual(sut.capabilities()[0], { name: 'usb.detect', available: false, reason: 'system_profiler did not finish within 30000 ms' });
  await sut.pollOnce(sink);
  assert.equal(batches.length, 1);
  assert.equal(sut.attached().length, 28);
  assert.match(sut.capabilities()[0].reason, /not JSON/);
});
