import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { CommandError, type CommandRunner } from '../../../agent/src/facts/command-runner';
import { SerialQuality } from '../../../agent/src/generated/mamori/v1/common';
import { EncryptionScheme } from '../../../agent/src/generated/mamori/v1/events';
import { silentLogger } from '../../../agent/src/logging/logger';
import { LinuxUsbBackend } from '../../../agent/src/sources/usb/backends/linux';
import type { UsbObservation, UsbObservationSink } from '../../../agent/src/sources/usb/usb.source';
import { makeTempDir } from '../../support/temp-dir';

function linuxFixtures(): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'test', 'fixtures', 'linux'))) return join(dir, 'test', 'fixtures', 'linux');
  }
  return join(process.cwd(), 'test', 'fixtures', 'linux');
}
const fixtures = linuxFixtures();

/** Collects what the backend reports; `until` waits (bounded) for a condition on the collected observations. */
function recordingSink() {
  const observations: UsbObservation[] = [];
  const unavailable: string[] = [];
  const sink: UsbObservationSink = {
    accept: async (batch) => void observations.push(...batch),
    unavailable: async (reason) => void unavailable.push(reason),
  };
  const until = async (what: string, check: () => boolean) => {
    for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(check(), `never happened: ${what}; observations: ${JSON.stringify(observations.map((o) => [o.kind, o.device.busPath]))}`);
  };
  return { sink, observations, unavailable, until };
}

/** USB descriptors as the kernel's `descriptors` file holds them: device descriptor, then configuration 1 with the given interface classes. */
function descriptors(classes: number[]): Buffer {
  const device = [18, 1, 0x00, 0x02, 0, 0, 0, 64, 0x81, 0x07, 0x67, 0x55, 0, 1, 1, 2, 3, 1];
  const body = classes.flatMap((cls, n) => [9, 4, n, 0, 1, cls, 0, 0, 0, 7, 5, 0x81 + n, 3, 8, 0, 10]);
  const total = 9 + body.length;
  return Buffer.from([...device, 9, 2, total & 0xff, total >> 8, classes.length, 1, 0, 0x80, 50, ...body]);
}

/** A fake sysfs tree laid out as the kernel lays it out: real folders under devices/, symlinks from bus/usb/devices and block/. */
function fakeSysfs(root: string) {
  const sys = join(root, 'sys');
  mkdirSync(join(sys, 'bus', 'usb', 'devices'), { recursive: true });
  mkdirSync(join(sys, 'block'), { recursive: true });
  const link = (target: string, at: string) => symlinkSync(relative(dirname(at), target), at);
  return {
    sys,
    addDevice(devpath: string, attrs: { vendor: string; product: string; serial?: string; manufacturer?: string; name?: string; classes: number[] }) {
      const dir = join(sys, devpath);
      const bus = devpath.split('/').pop()!;
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'idVendor'), `${attrs.vendor}\n`);
      writeFileSync(join(dir, 'idProduct'), `${attrs.product}\n`);
      if (attrs.serial !== undefined) writeFileSync(join(dir, 'serial'), `${attrs.serial}\n`);
      writeFileSync(join(dir, 'manufacturer'), `${attrs.manufacturer ?? 'SanDisk'}\n`);
      writeFileSync(join(dir, 'product'), `${attrs.name ?? 'Cruzer Blade'}\n`);
      writeFileSync(join(dir, 'bConfigurationValue'), '1\n');
      writeFileSync(join(dir, 'descriptors'), descriptors(attrs.classes));
      attrs.classes.forEach((cls, n) => {
        mkdirSync(join(dir, `${bus}:1.${n}`));
        writeFileSync(join(dir, `${bus}:1.${n}`, 'bInterfaceClass'), `${cls.toString(16).padStart(2, '0')}\n`);
      });
      link(dir, join(sys, 'bus', 'usb', 'devices', bus));
      return dir;
    },
    removeDevice(devpath: string) {
      rmSync(join(sys, 'bus', 'usb', 'devices', devpath.split('/').pop()!));
      rmSync(join(sys, devpath), { recursive: true });
    },
    addDisk(usbDir: string, disk: string, sectors: number, partitions: Array<{ name: string; sectors: number }>) {
      const scsi = join(usbDir, `${usbDir.split('/').pop()}:1.0`, 'host6', 'target6:0:0', '6:0:0:0');
      const blockDir = join(scsi, 'block', disk);
      mkdirSync(blockDir, { recursive: true });
      link(scsi, join(blockDir, 'device'));
      writeFileSync(join(blockDir, 'size'), `${sectors}\n`);
      writeFileSync(join(blockDir, 'ro'), '0\n');
      writeFileSync(join(blockDir, 'dev'), '8:16\n');
      partitions.forEach((p, i) => {
        mkdirSync(join(blockDir, p.name));
        writeFileSync(join(blockDir, p.name, 'partition'), `${i + 1}\n`);
        writeFileSync(join(blockDir, p.name, 'size'), `${p.sectors}\n`);
        writeFileSync(join(blockDir, p.name, 'ro'), '0\n');
        writeFileSync(join(blockDir, p.name, 'dev'), `8:${17 + i}\n`);
      });
      link(blockDir, join(sys, 'block', disk));
    },
  };
}

/** blkid through the CommandRunner port, answering with output captured from real images (exit 2 = no signature). */
function capturedBlkid(byNode: Record<string, string>): CommandRunner {
  return {
    async run(file, args) {
      assert.equal(file, 'blkid');
      const node = args[args.length - 1]!;
      const output = byNode[node];
      if (output === undefined) throw new CommandError('blkid failed: exit status 2', 'failed');
      return { stdout: output, stderr: '' };
    },
  };
}

test('start-up scan: a composite stick (storage + HID) with a LUKS2 partition, serial quality across the bus', async (t) => {
  const tmp = makeTempDir();
  t.after(() => tmp.cleanup());
  const fs = fakeSysfs(tmp.path);
  const hub = 'devices/pci0000:00/0000:00:14.0/usb1';
  const stick = fs.addDevice(`${hub}/1-2`, { vendor: '0781', product: '5567', serial: '4C530001', classes: [8, 3] });
  fs.addDevice(`${hub}/1-3`, { vendor: '0781', product: '5567', serial: '4C530001', classes: [8] });
  fs.addDevice(`${hub}/1-4`, { vendor: '046d', product: 'c31c', serial: '  ', manufacturer: 'Logitech', name: 'USB Keyboard', classes: [3] });
  fs.addDisk(stick, 'sdb', 30720, [{ name: 'sdb1', sectors: 28672 }]);
  const dev = join(tmp.path, 'dev');
  mkdirSync(dev);
  writeFileSync(join(dev, 'sdb'), Buffer.alloc(4096));
  writeFileSync(join(dev, 'sdb1'), readFileSync(join(fixtures, 'signatures', 'luks2.head.bin')));
  const mountinfo = join(fixtures, 'mountinfo-loop-mount-space.txt');

  const backend = new LinuxUsbBackend({
    logger: silentLogger,
    sysRoot: fs.sys,
    devRoot: dev,
    mountinfoPath: mountinfo,
    runner: capturedBlkid({ [join(dev, 'sdb1')]: readFileSync(join(fixtures, 'blkid-p-export-luks2.txt'), 'utf8') }),
    monitorCommand: { file: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)'] },
    pollMs: 60_000,
  });
  const { sink, observations, unavailable } = recordingSink();
  await backend.start(sink);
  t.after(() => backend.stop());

  assert.deepEqual(unavailable, []);
  const attached = observations.filter((o) => o.kind === 'attached');
  assert.deepEqual(attached.map((o) => o.device.busPath), ['1-2', '1-3', '1-4']);
  assert.ok(attached.every((o) => o.kind === 'attached' && o.presentAtStart));
  const composite = attached[0]!.device;
  assert.deepEqual(
    { vendorId: composite.vendorId, productId: composite.productId, serial: composite.serial, product: composite.product, interfaceClasses: composite.interfaceClasses },
    { vendorId: 0x0781, productId: 0x5567, serial: '4C530001', product: 'Cruzer Blade', interfaceClasses: [8, 3] },
  );
  assert.match(composite.descriptorHash, /^[0-9a-f]{64}$/);
  assert.notEqual(composite.descriptorHash, attached[1]!.device.descriptorHash, 'different interfaces, different descriptors');
  assert.deepEqual(attached.map((o) => o.device.serialQuality), [SerialQuality.SERIAL_QUALITY_DUPLICATED, SerialQuality.SERIAL_QUALITY_DUPLICATED, SerialQuality.SERIAL_QUALITY_EMPTY]);

  const storage = observations.filter((o) => o.kind === 'storage');
  assert.equal(storage.length, 1, 'only the stick with block devices reports storage');
  assert.ok(storage[0]!.kind === 'storage');
  assert.equal(storage[0]!.device.busPath, '1-2');
  assert.deepEqual(
    storage[0]!.blockDevices.map((b) => ({ node: b.deviceNode, parent: b.parentNode, size: b.sizeBytes, fs: b.filesystemType, scheme: b.encryption?.scheme, mounts: b.mountPoints })),
    [
      { node: join(dev, 'sdb'), parent: '', size: String(30720 * 512), fs: '', scheme: EncryptionScheme.ENCRYPTION_SCHEME_NONE, mounts: [] },
      { node: join(dev, 'sdb1'), parent: join(dev, 'sdb'), size: String(28672 * 512), fs: 'crypto_LUKS', scheme: EncryptionScheme.ENCRYPTION_SCHEME_LUKS2, mounts: [] },
    ],
  );
  assert.deepEqual(backend.capabilities().find((c) => c.name === 'usb.detect'), { name: 'usb.detect', available: true, reason: '' });
});

test('a host without /sys/bus/usb: "no USB bus" reported once, capabilities say why, nothing crashes', async (t) => {
  const tmp = makeTempDir();
  t.after(() => tmp.cleanup());
  mkdirSync(join(tmp.path, 'sys'));
  const backend = new LinuxUsbBackend({ logger: silentLogger, sysRoot: join(tmp.path, 'sys'), monitorCommand: { file: '/nonexistent/udevadm', args: [] } });
  const { sink, observations, unavailable } = recordingSink();
  await backend.start(sink);
  await backend.stop();
  assert.equal(unavailable.length, 1);
  assert.match(unavailable[0]!, /^no USB bus: /);
  assert.deepEqual(observations, []);
  assert.deepEqual(backend.attached(), []);
  const detect = backend.capabilities().find((c) => c.name === 'usb.detect')!;
  assert.equal(detect.available, false);
  assert.match(detect.reason, /no USB bus/);
});

test('udevadm missing: the start-up scan still reports, live monitoring is marked unavailable, and sysfs polling sees a new device', async (t) => {
  const tmp = makeTempDir();
  t.after(() => tmp.cleanup());
  const fs = fakeSysfs(tmp.path);
  fs.addDevice('devices/pci0000:00/0000:00:14.0/usb1/1-2', { vendor: '0781', product: '5567', serial: 'A1', classes: [8] });
  const backend = new LinuxUsbBackend({ logger: silentLogger, sysRoot: fs.sys, devRoot: join(tmp.path, 'dev'), monitorCommand: { file: join(tmp.path, 'no-udevadm'), args: [] }, pollMs: 50 });
  const { sink, observations, until } = recordingSink();
  await backend.start(sink);
  t.after(() => backend.stop());
  assert.deepEqual(observations.map((o) => [o.kind, o.device.busPath]), [['attached', '1-2']]);
  await until('live monitoring reported unavailable', () => backend.capabilities().some((c) => c.name === 'usb.detect.live' && !c.available && /not installed/.test(c.reason)));
  fs.addDevice('devices/pci0000:00/0000:00:14.0/usb1/1-3', { vendor: '0781', product: '5567', serial: 'B2', classes: [8] });
  await until('the polled rescan reports 1-3', () => observations.some((o) => o.kind === 'attached' && o.device.busPath === '1-3'));
  const late = observations.find((o) => o.kind === 'attached' && o.device.busPath === '1-3')!;
  assert.ok(late.kind === 'attached' && late.presentAtStart === false);
});

test('captured udevadm monitor output through a substitute command: attach, then detach', async (t) => {
  const tmp = makeTempDir();
  t.after(() => tmp.cleanup());
  const fs = fakeSysfs(tmp.path);
  const plug = join(tmp.path, 'plug');
  const unplug = join(tmp.path, 'unplug');
  // Prints the captured insert once `plug` exists, and a kernel remove event for the same device once `unplug` exists.
  const script = join(tmp.path, 'monitor.js');
  writeFileSync(
    script,
    `const fs = require('node:fs');
const [capture, plug, unplug] = process.argv.slice(2);
process.stdout.write('monitor will print the received events for:\\nKERNEL - the kernel uevent\\n\\n');
const wait = (file, then) => { const t = setInterval(() => { if (fs.existsSync(file)) { clearInterval(t); then(); } }, 10); };
wait(plug, () => {
  process.stdout.write(fs.readFileSync(capture, 'utf8'));
  wait(unplug, () => {
    const dev = '/devices/pci0000:00/0000:00:1a.0/usb1/1-1/1-1.2';
    process.stdout.write('KERNEL[44101.114871] remove   ' + dev + ' (usb)\\nACTION=remove\\nDEVPATH=' + dev + '\\nSUBSYSTEM=usb\\nDEVTYPE=usb_device\\nSEQNUM=5120\\n\\n');
    setInterval(() => {}, 1000);
  });
});
`,
  );
  const backend = new LinuxUsbBackend({
    logger: silentLogger,
    sysRoot: fs.sys,
    devRoot: join(tmp.path, 'dev'),
    monitorCommand: { file: process.execPath, args: [script, join(fixtures, 'udevadm-monitor-usb-stick-insert.txt'), plug, unplug] },
    runner: capturedBlkid({}),
    pollMs: 60_000,
  });
  const { sink, observations, until } = recordingSink();
  await backend.start(sink);
  t.after(() => backend.stop());
  assert.equal(observations.length, 0, 'nothing on the bus at start');

  const devpath = 'devices/pci0000:00/0000:00:1a.0/usb1/1-1/1-1.2';
  fs.addDevice(devpath, { vendor: '0781', product: '5567', serial: '4C530001230511116491', classes: [8] });
  writeFileSync(plug, '');
  await until('attached 1-1.2', () => observations.some((o) => o.kind === 'attached'));
  fs.removeDevice(devpath);
  writeFileSync(unplug, '');
  await until('detached 1-1.2', () => observations.some((o) => o.kind === 'detached'));

  assert.deepEqual(observations.map((o) => [o.kind, o.device.busPath]), [['attached', '1-1.2'], ['detached', '1-1.2']]);
  const [attach, detach] = observations;
  assert.ok(attach!.kind === 'attached' && attach.presentAtStart === false);
  assert.equal(attach!.device.serial, '4C530001230511116491');
  assert.equal(attach!.device.serialQuality, SerialQuality.SERIAL_QUALITY_PRESENT);
  assert.deepEqual(detach!.device, attach!.device, 'the detach carries the device as it was known');
  assert.deepEqual(backend.attached(), []);
  assert.ok(backend.capabilities().some((c) => c.name === 'usb.detect.live' && c.available));
});
