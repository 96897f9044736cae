import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from '../../../support/temp-dir';
import { LinuxUsbEnforcer, nodeSysfsIo, type SysfsIo } from '../../../../agent/src/enforce/linux-usb-enforcer';
import { CommandError, type CommandRunner } from '../../../../agent/src/facts/command-runner';
import { createLogger } from '../../../../agent/src/logging/logger';
import { evaluateUsbDevice, evaluateUsbStorage } from '../../../../agent/src/core/usb-policy';
import { SerialQuality, type UsbDevice } from '../../../../agent/src/generated/mamori/v1/common';
import { EncryptionScheme, UsbEnforcementAction, type BlockDevice } from '../../../../agent/src/generated/mamori/v1/events';
import { UsbEnforcementMode, type UsbPolicy } from '../../../../agent/src/generated/mamori/v1/policy';

const M = UsbEnforcementMode;
const A = UsbEnforcementAction;
const logger = createLogger('error');
const ctx = { agentId: 'agent-1', userName: 'alice', at: new Date() };

function usbPolicy(over: Partial<UsbPolicy> = {}): UsbPolicy {
  return {
    unregisteredDeviceMode: M.USB_ENFORCEMENT_MODE_AUDIT,
    registeredDevices: [],
    registeredDeviceMode: M.USB_ENFORCEMENT_MODE_ALLOW,
    requireEncryptedMedia: false,
    unencryptedMediaMode: M.USB_ENFORCEMENT_MODE_AUDIT,
    storageWithHidMode: M.USB_ENFORCEMENT_MODE_AUDIT,
    exceptions: [],
    ...over,
  };
}

function device(busPath: string, interfaceClasses: number[], serial = 'SER1'): UsbDevice {
  return {
    vendorId: 0x46f4,
    productId: 0x0001,
    serial,
    manufacturer: 'QEMU',
    product: 'QEMU USB HARDDRIVE',
    interfaceClasses,
    busPath,
    descriptorHash: '',
    serialQuality: SerialQuality.SERIAL_QUALITY_PRESENT,
  };
}

/** Device, configuration, one mass-storage interface (class 8, SCSI, bulk-only) and two bulk endpoints, as USB 2.0 §9.6 lays them out. */
const STORAGE_DESCRIPTORS = Buffer.from([
  0x12, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x40, 0xf4, 0x46, 0x01, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x01,
  0x09, 0x02, 0x20, 0x00, 0x01, 0x01, 0x00, 0x80, 0x32,
  0x09, 0x04, 0x00, 0x00, 0x02, 0x08, 0x06, 0x50, 0x00,
  0x07, 0x05, 0x81, 0x02, 0x00, 0x02, 0x00,
  0x07, 0x05, 0x02, 0x02, 0x00, 0x02, 0x00,
]);

/** A fake sysfs tree: two root hubs (one with a non-default value) and the given devices. */
function fakeSysfs(devices: Record<string, { authorized: string; descriptors?: Buffer }>) {
  const temp = makeTempDir('mamori-sysfs-');
  const dir = join(temp.path, 'sys/bus/usb/devices');
  for (const [hub, value] of [['usb1', '1'], ['usb2', '2']]) {
    mkdirSync(join(dir, hub), { recursive: true });
    writeFileSync(join(dir, hub, 'authorized_default'), `${value}\n`);
    writeFileSync(join(dir, hub, 'authorized'), '1\n');
  }
  for (const [name, d] of Object.entries(devices)) {
    mkdirSync(join(dir, name), { recursive: true });
    writeFileSync(join(dir, name, 'authorized'), `${d.authorized}\n`);
    if (d.descriptors) writeFileSync(join(dir, name, 'descriptors'), d.descriptors);
  }
  const read = (rel: string) => readFileSync(join(dir, rel), 'utf8').trim();
  return { temp, root: join(temp.path, 'sys'), read, statePath: join(temp.path, 'state/usb-root-hubs.json') };
}

function recordingRunner(fail?: (file: string, args: readonly string[]) => Error | null): CommandRunner & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    async run(file, args) {
      calls.push([file, ...args].join(' '));
      const error = fail?.(file, args) ?? null;
      if (error) throw error;
      return { stdout: file === 'blockdev' && args[0] === '--version' ? 'blockdev from util-linux 2.38.1\n' : '', stderr: '' };
    },
  };
}

const blockUnregistered = usbPolicy({ unregisteredDeviceMode: M.USB_ENFORCEMENT_MODE_BLOCK });

function request(d: UsbDevice, usb: UsbPolicy, observedAt = new Date(Date.now() - 5)) {
  return { device: d, verdict: evaluateUsbDevice(d, usb, ctx), observedAt, policyVersion: 7n };
}

test('block mode arms blocking at birth on every root hub and restores the previous defaults at stop', async (t) => {
  const fs = fakeSysfs({});
  t.after(() => fs.temp.cleanup());
  const sut = new LinuxUsbEnforcer({ sysfsRoot: fs.root, runner: recordingRunner(), logger, statePath: fs.statePath, isRoot: () => true });

  await sut.configure(usbPolicy());
  assert.equal(fs.read('usb1/authorized_default'), '1', 'audit-only policy leaves the hubs alone');
  assert.equal(sut.armed, false);

  await sut.configure(blockUnregistered);
  assert.equal(fs.read('usb1/authorized_default'), '0');
  assert.equal(fs.read('usb2/authorized_default'), '0');
  assert.deepEqual(JSON.parse(readFileSync(fs.statePath, 'utf8')), { hubs: { usb1: '1', usb2: '2' } }, 'previous values are saved before the zeros');
  assert.deepEqual(sut.capabilities(), [
    { name: 'usb.block', available: true, reason: '' },
    { name: 'usb.read_only', available: true, reason: '' },
  ]);

  await sut.stop();
  assert.equal(fs.read('usb1/authorized_default'), '1');
  assert.equal(fs.read('usb2/authorized_default'), '2');
  assert.equal(existsSync(fs.statePath), false);
});

test('a policy that leaves block mode restores the defaults; read-only rules arm it too', async (t) => {
  const fs = fakeSysfs({});
  t.after(() => fs.temp.cleanup());
  const sut = new LinuxUsbEnforcer({ sysfsRoot: fs.root, runner: recordingRunner(), logger, statePath: fs.statePath, isRoot: () => true });
  await sut.configure(usbPolicy({ registeredDeviceMode: M.USB_ENFORCEMENT_MODE_READ_ONLY }));
  assert.equal(fs.read('usb1/authorized_default'), '0');
  await sut.configure(usbPolicy());
  assert.equal(fs.read('usb1/authorized_default'), '1');
  assert.equal(fs.read('usb2/authorized_default'), '2');
  await sut.configure(usbPolicy({ requireEncryptedMedia: true, unencryptedMediaMode: M.USB_ENFORCEMENT_MODE_BLOCK }));
  assert.equal(fs.read('usb2/authorized_default'), '0');
  await sut.stop();
  assert.equal(fs.read('usb2/authorized_default'), '2');
});

test('after a crash while armed, the next run restores the saved previous values, not its own zeros', async (t) => {
  const fs = fakeSysfs({});
  t.after(() => fs.temp.cleanup());
  const first = new LinuxUsbEnforcer({ sysfsRoot: fs.root, runner: recordingRunner(), logger, statePath: fs.statePath, isRoot: () => true });
  await first.configure(blockUnregistered);
  // The first agent dies here without stop(); a new one starts under the same policy, then stops.
  const second = new LinuxUsbEnforcer({ sysfsRoot: fs.root, runner: recordingRunner(), logger, statePath: fs.statePath, isRoot: () => true });
  await second.configure(blockUnregistered);
  assert.equal(fs.read('usb1/authorized_default'), '0');
  await second.stop();
  assert.equal(fs.read('usb1/authorized_default'), '1');
  assert.equal(fs.read('usb2/authorized_default'), '2');
});

test('devices born unauthorized: non-storage and allowed sticks are authorized, blocked sticks stay out, latency is recorded', async (t) => {
  const fs = fakeSysfs({ '1-1': { authorized: '0' }, '1-2': { authorized: '0' }, '2-1': { authorized: '1' }, '2-2': { authorized: '0' } });
  t.after(() => fs.temp.cleanup());
  const sut = new LinuxUsbEnforcer({ sysfsRoot: fs.root, runner: recordingRunner(), logger, statePath: fs.statePath, isRoot: () => true });
  const usb = usbPolicy({
    unregisteredDeviceMode: M.USB_ENFORCEMENT_MODE_BLOCK,
    registeredDevices: [{ entryId: 'e1', vendorId: 0x46f4, productId: 1, serial: 'REG1', label: 'Sales 1', holder: 'alice', anyVendor: false, anyProduct: false, descriptorHash: '', department: '' }],
  });
  await sut.configure(usb);

  const keyboard = await sut.enforceDevice(request(device('1-1', [3], ''), usb, new Date(Date.now() - 20)));
  assert.equal(keyboard.action, A.USB_ENFORCEMENT_ACTION_AUTHORIZED);
  assert.equal(keyboard.appliedMode, M.USB_ENFORCEMENT_MODE_ALLOW);
  assert.equal(fs.read('1-1/authorized'), '1');
  assert.ok(Number(keyboard.latencyMicros) >= 20_000, `latency from the observation: ${keyboard.latencyMicros}`);
  assert.equal(keyboard.policyVersion, '7');

  const stranger = await sut.enforceDevice(request(device('1-2', [8], 'NOPE'), usb));
  assert.equal(stranger.requestedMode, M.USB_ENFORCEMENT_MODE_BLOCK);
  assert.equal(stranger.appliedMode, M.USB_ENFORCEMENT_MODE_BLOCK);
  assert.equal(stranger.action, A.USB_ENFORCEMENT_ACTION_DEAUTHORIZED);
  assert.match(stranger.reason, /born unauthorized/);
  assert.equal(fs.read('1-2/authorized'), '0');

  const present = await sut.enforceDevice(request(device('2-1', [8], 'OLD'), usb));
  assert.equal(present.action, A.USB_ENFORCEMENT_ACTION_DEAUTHORIZED);
  assert.equal(fs.read('2-1/authorized'), '0', 'an already authorized stick is deauthorized');

  const registered = await sut.enforceDevice(request(device('2-2', [8], 'REG1'), usb));
  assert.equal(registered.action, A.USB_ENFORCEMENT_ACTION_AUTHORIZED);
  assert.equal(registered.registerEntryId, 'e1');
  assert.equal(fs.read('2-2/authorized'), '1');

  const again = await sut.enforceDevice(request(device('2-2', [8], 'REG1'), usb));
  assert.equal(again.action, A.USB_ENFORCEMENT_ACTION_NONE, 'an authorized, allowed device needs nothing');

  const gone = await sut.enforceDevice(request(device('3-9', [8], 'GONE'), usb));
  assert.equal(gone.action, A.USB_ENFORCEMENT_ACTION_NOT_POSSIBLE);
  assert.match(gone.reason, /left before/);
});

test('reveal reads the interface classes of a device born unauthorized from its raw descriptors', async (t) => {
  const fs = fakeSysfs({ '1-3': { authorized: '0', descriptors: STORAGE_DESCRIPTORS } });
  t.after(() => fs.temp.cleanup());
  const sut = new LinuxUsbEnforcer({ sysfsRoot: fs.root, runner: recordingRunner(), logger, statePath: fs.statePath, isRoot: () => true });
  const seen = device('1-3', []);
  assert.equal(evaluateUsbDevice(seen, blockUnregistered, ctx).mode, M.USB_ENFORCEMENT_MODE_ALLOW, 'without interfaces it looks harmless');
  const revealed = await sut.reveal(seen);
  assert.deepEqual(revealed.interfaceClasses, [8]);
  assert.equal(evaluateUsbDevice(revealed, blockUnregistered, ctx).mode, M.USB_ENFORCEMENT_MODE_BLOCK);
  assert.deepEqual((await sut.reveal(device('1-3', [3]))).interfaceClasses, [3], 'classes the source saw are kept');
});

const VOLUMES: BlockDevice[] = [
  { deviceNode: '/dev/sdb1', parentNode: '/dev/sdb', sizeBytes: '66060288', filesystemType: 'vfat', label: 'STICK', mountPoints: ['/media/alice/STICK'], encryption: { scheme: EncryptionScheme.ENCRYPTION_SCHEME_NONE, fullyEncrypted: false, percentEncrypted: 0, protectionOn: false }, readOnly: false },
  { deviceNode: '/dev/sdb', parentNode: '', sizeBytes: '67108864', filesystemType: '', label: '', mountPoints: [], encryption: undefined, readOnly: false },
];

test('read-only: blockdev --setro on the disk then its partitions, remount ro; a failing command is reported, not hidden', async (t) => {
  const fs = fakeSysfs({});
  t.after(() => fs.temp.cleanup());
  const usb = usbPolicy({ unregisteredDeviceMode: M.USB_ENFORCEMENT_MODE_READ_ONLY });
  const runner = recordingRunner();
  const sut = new LinuxUsbEnforcer({ sysfsRoot: fs.root, runner, logger, statePath: fs.statePath, isRoot: () => true });
  await sut.configure(usb);
  const d = device('1-4', [8], 'X');
  const storage = { ...request(d, usb), blockDevices: VOLUMES };
  storage.verdict = evaluateUsbStorage(storage.verdict, VOLUMES, usb);
  const done = await sut.enforceStorage(storage);
  assert.deepEqual(runner.calls, ['blockdev --version', 'blockdev --setro /dev/sdb', 'blockdev --setro /dev/sdb1', 'mount -o remount,ro /media/alice/STICK']);
  assert.equal(done.action, A.USB_ENFORCEMENT_ACTION_SET_READ_ONLY);
  assert.equal(done.appliedMode, M.USB_ENFORCEMENT_MODE_READ_ONLY);

  const failing = recordingRunner((file, args) => (file === 'mount' ? new CommandError('mount failed: /media/alice/STICK: mount point is busy', 'failed') : args[0] === '--version' ? null : null));
  const sut2 = new LinuxUsbEnforcer({ sysfsRoot: fs.root, runner: failing, logger, statePath: fs.statePath, isRoot: () => true });
  const refused = await sut2.enforceStorage(storage);
  assert.equal(refused.action, A.USB_ENFORCEMENT_ACTION_NOT_POSSIBLE);
  assert.equal(refused.appliedMode, M.USB_ENFORCEMENT_MODE_AUDIT);
  assert.equal(refused.requestedMode, M.USB_ENFORCEMENT_MODE_READ_ONLY);
  assert.match(refused.reason, /mount point is busy.*blockdev --setro \/dev\/sdb1/);

  const hostile = await sut.enforceStorage({ ...storage, blockDevices: [{ ...VOLUMES[1]!, deviceNode: '--setrw' }] });
  assert.equal(hostile.action, A.USB_ENFORCEMENT_ACTION_NOT_POSSIBLE, 'a device node that is not /dev/... never reaches the command line');
});

test('without root nothing is touched, and capabilities and decisions say why', async (t) => {
  const fs = fakeSysfs({ '1-1': { authorized: '1' } });
  t.after(() => fs.temp.cleanup());
  const runner = recordingRunner();
  const sut = new LinuxUsbEnforcer({ sysfsRoot: fs.root, runner, logger, statePath: fs.statePath, isRoot: () => false });
  await sut.configure(blockUnregistered);
  assert.equal(fs.read('usb1/authorized_default'), '1');
  for (const c of sut.capabilities()) {
    assert.equal(c.available, false);
    assert.match(c.reason, /not running as root/);
  }
  const blocked = await sut.enforceDevice(request(device('1-1', [8]), blockUnregistered));
  assert.equal(blocked.action, A.USB_ENFORCEMENT_ACTION_NOT_POSSIBLE);
  assert.equal(blocked.appliedMode, M.USB_ENFORCEMENT_MODE_AUDIT);
  assert.match(blocked.reason, /block requested but not possible: not running as root/);
  assert.equal(fs.read('1-1/authorized'), '1');
  const usb = usbPolicy({ unregisteredDeviceMode: M.USB_ENFORCEMENT_MODE_READ_ONLY });
  const ro = await sut.enforceStorage({ ...request(device('1-1', [8]), usb), blockDevices: VOLUMES });
  assert.equal(ro.action, A.USB_ENFORCEMENT_ACTION_NOT_POSSIBLE);
  assert.deepEqual(runner.calls.filter((c) => c.includes('setro')), []);
});

test('a sysfs that refuses writes (EROFS) downgrades to audit and says so', async (t) => {
  const fs = fakeSysfs({ '1-1': { authorized: '1' } });
  t.after(() => fs.temp.cleanup());
  const readOnlySysfs: SysfsIo = {
    ...nodeSysfsIo,
    write: async (path) => {
      throw Object.assign(new Error(`EROFS: read-only file system, open '${path}'`), { code: 'EROFS' });
    },
  };
  const sut = new LinuxUsbEnforcer({ sysfsRoot: fs.root, runner: recordingRunner(), logger, statePath: fs.statePath, isRoot: () => true, io: readOnlySysfs });
  await sut.configure(blockUnregistered);
  assert.equal(sut.armed, false);
  const block = sut.capabilities().find((c) => c.name === 'usb.block')!;
  assert.equal(block.available, false);
  assert.match(block.reason, /EROFS/);
  const decision = await sut.enforceDevice(request(device('1-1', [8]), blockUnregistered));
  assert.equal(decision.action, A.USB_ENFORCEMENT_ACTION_NOT_POSSIBLE);
  assert.equal(decision.appliedMode, M.USB_ENFORCEMENT_MODE_AUDIT);
  assert.match(decision.reason, /EROFS/);
});

test('a host without a USB bus reports block unavailable and keeps going', async (t) => {
  const temp = makeTempDir('mamori-nosysfs-');
  t.after(() => temp.cleanup());
  const sut = new LinuxUsbEnforcer({ sysfsRoot: temp.path, runner: recordingRunner(), logger, statePath: join(temp.path, 's.json'), isRoot: () => true });
  await sut.configure(blockUnregistered);
  const block = sut.capabilities().find((c) => c.name === 'usb.block')!;
  assert.equal(block.available, false);
  assert.match(block.reason, /no USB bus/);
  await sut.stop();
});
