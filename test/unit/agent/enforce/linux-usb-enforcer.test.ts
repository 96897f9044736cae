import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

/** A root hub entry as the kernel shows it once a controller is plugged in. */
function plugRootHub(root: string, hub: string, authorizedDefault: string): void {
  const dir = join(root, 'bus/usb/devices', hub);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'authorized_default'), `${authorizedDefault}\n`);
  writeFileSync(join(dir, 'authorized'), '1\n');
}

function rootHub(hub: string): UsbDevice {
  return { ...device(hub, [9], `0000:00:${hub.slice(3)}.0`), vendorId: 0x1d6b, productId: 0x0003, product: 'xHCI Host Controller' };
}

test('a root hub that arrives while blocking at birth is armed at once, saved first, and gets its own default back at stop', async (t) => {
  const fs = fakeSysfs({});
  t.after(() => fs.temp.cleanup());
  const sut = new LinuxUsbEnforcer({ sysfsRoot: fs.root, runner: recordingRunner(), logger, statePath: fs.statePath, isRoot: () => true });
  await sut.configure(blockUnregistered);

  plugRootHub(fs.root, 'usb3', '2');
  const armed = await sut.enforceDevice(request(rootHub('usb3'), blockUnregistered));
  assert.equal(fs.read('usb3/authorized_default'), '0', 'whatever is plugged behind the dock is born unauthorized');
  assert.equal(armed.action, A.USB_ENFORCEMENT_ACTION_NONE);
  assert.equal(armed.appliedMode, M.USB_ENFORCEMENT_MODE_ALLOW);
  assert.match(armed.reason, /root hub that arrived while blocking at birth: authorized_default=0 \(was 2\)/);
  assert.deepEqual(JSON.parse(readFileSync(fs.statePath, 'utf8')), { hubs: { usb1: '1', usb2: '2', usb3: '2' } }, 'saved before the zero, so a crash restores it');

  const again = await sut.enforceDevice(request(rootHub('usb3'), blockUnregistered));
  assert.equal(again.action, A.USB_ENFORCEMENT_ACTION_NONE);
  assert.doesNotMatch(again.reason, /arrived/, 'a hub already held is not saved again (its 0 is ours)');

  await sut.stop();
  assert.equal(fs.read('usb3/authorized_default'), '2');
  assert.equal(fs.read('usb1/authorized_default'), '1');
  assert.equal(existsSync(fs.statePath), false);
});

test('a root hub arriving while nothing is blocked is left alone; one that leaves is forgotten and a newcomer of that name brings its own default', async (t) => {
  const fs = fakeSysfs({});
  t.after(() => fs.temp.cleanup());
  const sut = new LinuxUsbEnforcer({ sysfsRoot: fs.root, runner: recordingRunner(), logger, statePath: fs.statePath, isRoot: () => true });
  await sut.configure(usbPolicy());
  plugRootHub(fs.root, 'usb3', '1');
  await sut.enforceDevice(request(rootHub('usb3'), usbPolicy()));
  assert.equal(fs.read('usb3/authorized_default'), '1', 'audit only: no blocking at birth to extend');

  await sut.configure(blockUnregistered);
  assert.equal(fs.read('usb3/authorized_default'), '0');
  // The dock is unplugged: its entry goes, and the agent hears the detach.
  rmSync(join(fs.root, 'bus/usb/devices/usb3'), { recursive: true });
  await sut.released(rootHub('usb3'));
  assert.deepEqual(Object.keys(JSON.parse(readFileSync(fs.statePath, 'utf8')).hubs), ['usb1', 'usb2']);
  // Another controller takes the name, with a default of its own.
  plugRootHub(fs.root, 'usb3', '2');
  await sut.enforceDevice(request(rootHub('usb3'), blockUnregistered));
  assert.equal(fs.read('usb3/authorized_default'), '0');
  await sut.stop();
  assert.equal(fs.read('usb3/authorized_default'), '2', 'the newcomer gets its own value back, not the one of the dock that left');
});

test('a root hub that cannot be armed is reported as not possible, and nothing is left to restore for it', async (t) => {
  const fs = fakeSysfs({});
  t.after(() => fs.temp.cleanup());
  const refusingNewHubs: SysfsIo = {
    ...nodeSysfsIo,
    write: async (path, value) => {
      if (path.includes('/usb3/')) throw Object.assign(new Error(`EACCES: permission denied, open '${path}'`), { code: 'EACCES' });
      return nodeSysfsIo.write(path, value);
    },
  };
  const sut = new LinuxUsbEnforcer({ sysfsRoot: fs.root, runner: recordingRunner(), logger, statePath: fs.statePath, isRoot: () => true, io: refusingNewHubs });
  await sut.configure(blockUnregistered);
  plugRootHub(fs.root, 'usb3', '1');
  const refused = await sut.enforceDevice(request(rootHub('usb3'), blockUnregistered));
  assert.equal(refused.action, A.USB_ENFORCEMENT_ACTION_NOT_POSSIBLE);
  assert.match(refused.reason, /EACCES.*devices behind it are born authorized/);
  assert.deepEqual(Object.keys(JSON.parse(readFileSync(fs.statePath, 'utf8')).hubs), ['usb1', 'usb2']);
  await sut.stop();
  assert.equal(fs.read('usb3/authorized_default'), '1');
});

const WRITE_PROTECTED: BlockDevice = { ...VOLUMES[0]!, deviceNode: '/dev/sdb2', label: 'LOCKED', mountPoints: ['/media/alice/LOCKED'], readOnly: true };

function storageRequest(d: UsbDevice, usb: UsbPolicy, blockDevices: BlockDevice[]) {
  const base = request(d, usb);
  return { ...base, verdict: evaluateUsbStorage(base.verdict, blockDevices, usb), blockDevices };
}

test('leaving read-only undoes exactly what was made read-only (setrw, remount rw), also after a restart, and says so', async (t) => {
  const fs = fakeSysfs({ '1-4': { authorized: '1' } });
  t.after(() => fs.temp.cleanup());
  const readOnly = usbPolicy({ unregisteredDeviceMode: M.USB_ENFORCEMENT_MODE_READ_ONLY });
  const allow = usbPolicy({ unregisteredDeviceMode: M.USB_ENFORCEMENT_MODE_ALLOW });
  const volumes = [...VOLUMES, WRITE_PROTECTED];
  const stick = device('1-4', [8], 'X');
  const runner = recordingRunner();
  const first = new LinuxUsbEnforcer({ sysfsRoot: fs.root, runner, logger, statePath: fs.statePath, isRoot: () => true });
  await first.configure(readOnly);
  const made = await first.enforceStorage(storageRequest(stick, readOnly, volumes));
  assert.equal(made.action, A.USB_ENFORCEMENT_ACTION_SET_READ_ONLY);

  // The agent restarts while the stick stays in; the new policy allows writing.
  const second = new LinuxUsbEnforcer({ sysfsRoot: fs.root, runner, logger, statePath: fs.statePath, isRoot: () => true });
  await second.configure(allow);
  runner.calls.length = 0;
  const afterRestart = volumes.map((v) => ({ ...v, readOnly: true }));
  const undone = await second.enforceStorage(storageRequest(stick, allow, afterRestart));
  assert.deepEqual(runner.calls, ['blockdev --setrw /dev/sdb', 'blockdev --setrw /dev/sdb1', 'mount -o remount,rw /media/alice/STICK'], 'the write-protected partition was read-only before the agent: left so');
  assert.equal(undone.action, A.USB_ENFORCEMENT_ACTION_SET_READ_WRITE);
  assert.equal(undone.appliedMode, M.USB_ENFORCEMENT_MODE_ALLOW);
  assert.match(undone.reason, /read-only ended, writable again: blockdev --setrw \/dev\/sdb, blockdev --setrw \/dev\/sdb1, remount,rw \/media\/alice\/STICK/);

  runner.calls.length = 0;
  const nothingLeft = await second.enforceStorage(storageRequest(stick, allow, volumes));
  assert.equal(nothingLeft.action, A.USB_ENFORCEMENT_ACTION_NONE, 'undone once');
  assert.deepEqual(runner.calls, []);
});

test('read-only is never undone on another stick, nor after the stick left or was blocked; a failed undo keeps it read-only and retries', async (t) => {
  const fs = fakeSysfs({ '1-4': { authorized: '1' } });
  t.after(() => fs.temp.cleanup());
  const readOnly = usbPolicy({ unregisteredDeviceMode: M.USB_ENFORCEMENT_MODE_READ_ONLY });
  const audit = usbPolicy();
  let failSetrw = true;
  const runner = recordingRunner((file, args) => (failSetrw && args[0] === '--setrw' ? new CommandError('blockdev failed: /dev/sdb: Permission denied', 'failed') : null));
  const sut = new LinuxUsbEnforcer({ sysfsRoot: fs.root, runner, logger, statePath: fs.statePath, isRoot: () => true });
  await sut.configure(readOnly);
  const stick = device('1-4', [8], 'X');
  await sut.enforceStorage(storageRequest(stick, readOnly, VOLUMES));

  const other = await sut.enforceStorage(storageRequest(device('1-4', [8], 'OTHER'), audit, VOLUMES));
  assert.equal(other.action, A.USB_ENFORCEMENT_ACTION_NONE, 'another stick on the same port is not the one made read-only');
  assert.equal(runner.calls.filter((c) => c.includes('--setrw')).length, 0);

  await sut.enforceStorage(storageRequest(stick, readOnly, VOLUMES));
  const failed = await sut.enforceStorage(storageRequest(stick, audit, VOLUMES));
  assert.equal(failed.action, A.USB_ENFORCEMENT_ACTION_NOT_POSSIBLE);
  assert.equal(failed.requestedMode, M.USB_ENFORCEMENT_MODE_AUDIT);
  assert.equal(failed.appliedMode, M.USB_ENFORCEMENT_MODE_READ_ONLY, 'it is still read-only, and the decision says so');
  assert.match(failed.reason, /audit requested, but the stick stays read-only: blockdev failed/);
  failSetrw = false;
  const retried = await sut.enforceStorage(storageRequest(stick, audit, VOLUMES));
  assert.equal(retried.action, A.USB_ENFORCEMENT_ACTION_SET_READ_WRITE);

  await sut.enforceStorage(storageRequest(stick, readOnly, VOLUMES));
  await sut.released(stick);
  assert.equal(existsSync(join(fs.temp.path, 'state/usb-read-only.json')), false, 'a stick that left is forgotten');
  assert.equal((await sut.enforceStorage(storageRequest(stick, audit, VOLUMES))).action, A.USB_ENFORCEMENT_ACTION_NONE);

  await sut.enforceStorage(storageRequest(stick, readOnly, VOLUMES));
  const blocked = await sut.enforceDevice(request(stick, blockUnregistered));
  assert.equal(blocked.action, A.USB_ENFORCEMENT_ACTION_DEAUTHORIZED);
  assert.equal((await sut.enforceStorage(storageRequest(stick, audit, VOLUMES))).action, A.USB_ENFORCEMENT_ACTION_NONE, 'its disks left with the authorization');
});
