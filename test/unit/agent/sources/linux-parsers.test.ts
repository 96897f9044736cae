import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { devpathName, UdevadmMonitorParser } from '../../../../agent/src/sources/usb/parsers/udevadm-monitor.parser';
import { interfaceClassesOf, isInterfaceOf, isUsbDeviceName, parseUsbDescriptors, sysfsHex, sysfsText } from '../../../../agent/src/sources/usb/parsers/sysfs-usb.parser';
import { mountPointsOf, parseMountInfo } from '../../../../agent/src/sources/storage/mountinfo.parser';
import { parseBlkidDefault, parseBlkidExport } from '../../../../agent/src/sources/storage/blkid.parser';

const fixtures = linuxFixtures();

/** The fixtures folder, found upwards from the compiled test (dist/ may live anywhere), else from the working directory. */
function linuxFixtures(): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'test', 'fixtures', 'linux'))) return join(dir, 'test', 'fixtures', 'linux');
  }
  return join(process.cwd(), 'test', 'fixtures', 'linux');
}

const fixture = (name: string) => readFileSync(join(fixtures, name), 'utf8');

test('udevadm monitor (captured insert of a SanDisk stick): kernel events in order, fed in odd-sized chunks', () => {
  const text = fixture('udevadm-monitor-usb-stick-insert.txt');
  const parser = new UdevadmMonitorParser();
  const events = [];
  for (let i = 0; i < text.length; i += 37) events.push(...parser.push(text.slice(i, i + 37)));
  events.push(...parser.end());
  const kernel = events.filter((e) => e.origin === 'KERNEL');
  assert.equal(events.length, 32);
  assert.equal(kernel.length, 16);
  assert.deepEqual(
    { origin: kernel[0]!.origin, action: kernel[0]!.action, name: devpathName(kernel[0]!.devpath), subsystem: kernel[0]!.subsystem, t: kernel[0]!.monotonicSeconds },
    { origin: 'KERNEL', action: 'add', name: '1-1.2', subsystem: 'usb', t: 44093.027199 },
  );
  const blocks = kernel.filter((e) => e.subsystem === 'block').map((e) => devpathName(e.devpath));
  assert.deepEqual(blocks, ['sdb', 'sdb1']);
  assert.ok(kernel.some((e) => e.action === 'bind' && devpathName(e.devpath) === '1-1.2'));
});

test('udevadm monitor --property (captured on this VM): properties belong to their event; events end at the blank line', () => {
  const text = fixture('udevadm-monitor-kernel-property-loop.txt');
  const parser = new UdevadmMonitorParser();
  const firstEvent = text.indexOf('SEQNUM=820');
  const early = parser.push(text.slice(0, text.indexOf('\n\n', firstEvent) + 2));
  assert.equal(early.length, 1, 'the first event is complete at its blank line, before more output arrives');
  const all = [...early, ...parser.push(text.slice(text.indexOf('\n\n', firstEvent) + 2)), ...parser.end()];
  assert.equal(all.length, 3);
  assert.deepEqual(all[0]!.properties, { ACTION: 'change', DEVPATH: '/devices/virtual/block/loop0', SUBSYSTEM: 'block', DEVNAME: '/dev/loop0', DEVTYPE: 'disk', DISKSEQ: '11', SEQNUM: '820', MAJOR: '7', MINOR: '0' });
  assert.equal(all[2]!.properties.DISK_MEDIA_CHANGE, '1');
  assert.equal(all[2]!.properties.SEQNUM, '822');
});

test('sysfs names and values: devices vs interfaces, hex ids, strings keep their own spaces', () => {
  assert.deepEqual(['usb1', '1-2', '1-2.4', '1-2:1.0', 'usb', '2-1.10.3'].map(isUsbDeviceName), [true, true, true, false, false, true]);
  assert.equal(isInterfaceOf('1-2', 1, '1-2:1.0'), true);
  assert.equal(isInterfaceOf('1-2', 1, '1-2:2.0'), false);
  assert.equal(isInterfaceOf('1-2', 1, '1-2.4:1.0'), false);
  assert.equal(sysfsHex('0781\n'), 0x0781);
  assert.equal(sysfsHex('08\n'), 8);
  assert.equal(sysfsHex('zz\n'), null);
  assert.equal(sysfsText(' 4C530001 \n'), ' 4C530001 ');
});

test('descriptors: interface classes of the active configuration, one per interface (alternate settings ignored)', () => {
  const device = [18, 1, 0x00, 0x02, 0, 0, 0, 64, 0x81, 0x07, 0x67, 0x55, 0, 1, 1, 2, 3, 2];
  const config = (value: number, interfaces: number[][]) => {
    const body = interfaces.flatMap(([num, alt, cls]) => [9, 4, num!, alt!, 2, cls!, 6, 80, 0, 7, 5, 0x81, 2, 0, 2, 0]);
    const total = 9 + body.length;
    return [9, 2, total & 0xff, total >> 8, interfaces.length, value, 0, 0x80, 50, ...body];
  };
  const bytes = Uint8Array.from([...device, ...config(1, [[0, 0, 8], [1, 0, 3], [1, 1, 0xff]]), ...config(2, [[0, 0, 0xff]])]);
  const configs = parseUsbDescriptors(bytes);
  assert.equal(configs.length, 2);
  assert.deepEqual(interfaceClassesOf(configs, 1), [8, 3]);
  assert.deepEqual(interfaceClassesOf(configs, 2), [0xff]);
  assert.deepEqual(interfaceClassesOf(configs, null), [8, 3], 'unconfigured (not authorized): the first configuration');
  assert.deepEqual(parseUsbDescriptors(Uint8Array.from([1, 2, 3])), []);
  // A descriptor claiming more bytes than there are stops the walk without throwing.
  assert.deepEqual(interfaceClassesOf(parseUsbDescriptors(Uint8Array.from([...device, 9, 2, 40, 0, 1, 1, 0, 0x80, 50, 9, 4, 0, 0, 2, 8, 6, 80, 0, 200, 5])), 1), [8]);
});

test('mountinfo (captured with a loop mount on "/tmp/detect/mnt point"): unescaped mount point found by major:minor', () => {
  const entries = parseMountInfo(fixture('mountinfo-loop-mount-space.txt'));
  assert.equal(entries.length, 21);
  const loop = entries.find((e) => e.majorMinor === '7:0')!;
  assert.deepEqual(
    { mountPoint: loop.mountPoint, fsType: loop.fsType, source: loop.source },
    { mountPoint: '/tmp/detect/mnt point', fsType: 'ext4', source: '/dev/loop0' },
  );
  assert.deepEqual(mountPointsOf(entries, '7:0'), ['/tmp/detect/mnt point']);
  assert.deepEqual(mountPointsOf(entries, '8:17'), []);
  assert.equal(entries.find((e) => e.mountPoint === '/proc')!.fsType, 'proc');
});

test('blkid -p -o export (captured): vfat label with a space, LUKS versions, BitLocker To Go', () => {
  const [vfat] = parseBlkidExport(fixture('blkid-p-export-vfat-label-space.txt'));
  assert.deepEqual({ devname: vfat!.devname, type: vfat!.type, label: vfat!.label, version: vfat!.version, usage: vfat!.usage }, { devname: 'vfat.img', type: 'vfat', label: 'TEAM STICK', version: 'FAT16', usage: 'filesystem' });
  const [luks1] = parseBlkidExport(fixture('blkid-p-export-luks1.txt'));
  const [luks2] = parseBlkidExport(fixture('blkid-p-export-luks2.txt'));
  assert.deepEqual([luks1!.type, luks1!.version, luks2!.type, luks2!.version], ['crypto_LUKS', '1', 'crypto_LUKS', '2']);
  assert.equal(luks2!.uuid, 'b08bc083-c269-47a6-9a0d-23fff47b20b1');
  const [togo] = parseBlkidExport(fixture('blkid-p-export-bitlocker-togo.txt'));
  assert.deepEqual([togo!.devname, togo!.type, togo!.usage], ['bitlk-togo-aes-xts-128.img', 'BitLocker', 'crypto']);
  assert.deepEqual(parseBlkidExport(''), [], 'no signature: blkid prints nothing (and exits 2)');
  assert.equal(parseBlkidExport('TYPE=vfat\n', '/dev/sdb1')[0]!.devname, '/dev/sdb1');
});

test('blkid default output (captured, Arch laptop): every device with its TYPE and a label with a space', () => {
  const probes = parseBlkidDefault(fixture('blkid-bitlocker-luks-archiso-usb-exfat.txt'));
  assert.equal(probes.length, 15);
  const byName = new Map(probes.map((p) => [p.devname, p]));
  assert.equal(byName.get('/dev/nvme0n1p3')!.type, 'BitLocker');
  assert.equal(byName.get('/dev/nvme0n1p9')!.type, 'crypto_LUKS');
  assert.deepEqual([byName.get('/dev/sda2')!.type, byName.get('/dev/sda2')!.label], ['exfat', 'X9 Pro']);
  assert.equal(byName.get('/dev/nvme0n1p2')!.type, '', 'a partition without a file system has no TYPE');
});
