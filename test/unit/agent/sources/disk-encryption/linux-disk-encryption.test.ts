import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encryptionPosture } from '../../../../../agent/src/core/encryption-posture';
import { CommandError, type CommandRunner } from '../../../../../agent/src/facts/command-runner';
import { EncryptionScheme as S } from '../../../../../agent/src/generated/mamori/v1/events';
import { PostureCheck as P } from '../../../../../agent/src/generated/mamori/v1/telemetry';
import { LinuxDiskEncryptionBackend } from '../../../../../agent/src/sources/disk-encryption/backends/linux';
import { linuxVolumes, type ProbeResult } from '../../../../../agent/src/sources/disk-encryption/linux-volumes';
import { parseCryptsetupStatus, parseLuksDump } from '../../../../../agent/src/sources/disk-encryption/parsers/cryptsetup.parser';
import { parseLsblkJson, parseLsblkTree } from '../../../../../agent/src/sources/disk-encryption/parsers/lsblk.parser';
import { parseBlkidExport } from '../../../../../agent/src/sources/storage/blkid.parser';
import { fixtureText } from './fixtures';

const none = new Map();
const facts = (roots: ReturnType<typeof parseLsblkJson>, extra: Partial<Parameters<typeof linuxVolumes>[0]> = {}) =>
  linuxVolumes({ roots, probes: none, statuses: none, dumps: none, mountFsTypes: none, ...extra });
const byDevice = <T extends { device: string }>(volumes: T[]) => new Map(volumes.map((v) => [v.device, v]));

test('old lsblk JSON (strings for rm and sizes): removable stick left out, root partition plain, /boot/efi left out', () => {
  const roots = parseLsblkJson(fixtureText('linux', 'lsblk-J-old-string-rm.json'));
  assert.equal(roots[0]!.removable, true, '"rm": "1" reads as removable');
  assert.equal(roots[0]!.sizeBytes, null, '"14.3G" is not a byte count');
  const { volumes, problems } = facts(roots);
  assert.deepEqual(problems, []);
  assert.deepEqual(volumes.map((v) => v.device).sort(), ['nvme0n1p2', 'nvme0n1p3'].map((n) => `/dev/${n}`), 'the USB stick sda and the EFI partition are not data volumes');
  const root = byDevice(volumes).get('/dev/nvme0n1p2')!;
  assert.equal(root.systemVolume, true);
  assert.equal(root.mountPoint, '/');
  assert.equal(root.encryption!.scheme, S.ENCRYPTION_SCHEME_NONE, 'mounted with no dm-crypt mapping above it');
  assert.equal(byDevice(volumes).get('/dev/nvme0n1p3')!.filesystemType, 'swap');
  const posture = encryptionPosture({ volumes, problems });
  assert.equal(posture.systemVolumeEncrypted, P.POSTURE_CHECK_FAILED);
  assert.equal(posture.fixedDisksEncrypted, P.POSTURE_CHECK_FAILED);
});

test('lsblk -f -J -p: locked LUKS partitions and a LUKS volume inside LVM are locked LUKS1; the plain root is not; blank LVs are left out', () => {
  const roots = parseLsblkJson(fixtureText('linux', 'lsblk-fJp-crypto_LUKS-lvm.json'));
  // No TYPE column here: the backend asks blkid about leaves without FSTYPE; udev's database is
  // filled on this host, so blkid finds nothing on them either.
  const probes = new Map<string, ProbeResult>([
    ['/dev/sda1', { kind: 'blank' }],
    ['/dev/sdb1', { kind: 'blank' }],
    ['/dev/sdb2', { kind: 'blank' }],
    ['/dev/sdc1', { kind: 'blank' }],
    ['/dev/sdd1', { kind: 'blank' }],
    ['/dev/sdd2', { kind: 'blank' }],
    ['/dev/mapper/LvmEncrypt-lvmcryptswap', { kind: 'blank' }],
    ['/dev/mapper/LvmEncrypt-lvmcrypttmp', { kind: 'error', message: 'blkid -p: blkid did not finish within 10000 ms' }],
  ]);
  const { volumes, problems } = facts(roots, { probes });
  const v = byDevice(volumes);
  for (const luks of ['/dev/sdb3', '/dev/sdd3', '/dev/sdd4', '/dev/mapper/LvmEncrypt-lvmcryptroot']) {
    assert.equal(v.get(luks)?.encryption?.scheme, S.ENCRYPTION_SCHEME_LUKS1, luks);
    assert.equal(v.get(luks)!.locked, true, `${luks} has no open mapping`);
  }
  assert.equal(v.get('/dev/sda3')!.encryption!.scheme, S.ENCRYPTION_SCHEME_NONE);
  assert.equal(v.get('/dev/sda3')!.filesystemType, 'xfs');
  assert.equal(v.has('/dev/sda2'), false, '/boot/efi is a boot volume');
  assert.equal(v.has('/dev/sda1'), false, 'blank');
  assert.equal(v.get('/dev/mapper/LvmEncrypt-lvmcrypthome')!.encryption!.scheme, S.ENCRYPTION_SCHEME_NONE, 'ext4 on LVM with no LUKS above it');
  assert.equal(v.get('/dev/mapper/LvmEncrypt-lvmcrypttmp')!.encryption!.scheme, S.ENCRYPTION_SCHEME_UNSPECIFIED, 'blkid timed out: unknown');
  assert.match(problems.join('\n'), /lvmcrypttmp: blkid -p: blkid did not finish within 10000 ms; whether it is encrypted is unknown/);
});

test('default lsblk tree (Ubuntu full-disk encryption): root and swap in LVM inside sda5_crypt are LUKS, /boot and snaps left out', () => {
  const roots = parseLsblkTree(fixtureText('linux', 'lsblk-default-tree-luks-lvm-ubuntu1804.txt'));
  assert.equal(roots.length, 16, '14 snap loops, sda, sr0');
  const status = parseCryptsetupStatus(fixtureText('linux', 'cryptsetup-status-active-luks1.txt'))!;
  const { volumes, problems } = facts(roots, {
    probes: new Map([['/dev/sda2', { kind: 'blank' }]]),
    statuses: new Map([['/dev/mapper/sda5_crypt', status]]),
  });
  assert.deepEqual(problems, []);
  assert.deepEqual(volumes.map((x) => x.device).sort(), ['/dev/mapper/ubuntu--vg-root', '/dev/mapper/ubuntu--vg-swap_1']);
  const root = byDevice(volumes).get('/dev/mapper/ubuntu--vg-root')!;
  assert.deepEqual(
    { system: root.systemVolume, scheme: root.encryption!.scheme, full: root.encryption!.fullyEncrypted, on: root.encryption!.protectionOn, by: root.encryptedBy, method: root.method, locked: root.locked },
    { system: true, scheme: S.ENCRYPTION_SCHEME_LUKS1, full: true, on: true, by: '/dev/sda5', method: 'aes-xts-plain64', locked: false },
  );
  const posture = encryptionPosture({ volumes, problems });
  assert.equal(posture.systemVolumeEncrypted, P.POSTURE_CHECK_PASSED);
  assert.equal(posture.fixedDisksEncrypted, P.POSTURE_CHECK_PASSED, 'the plain /boot does not fail the check');
});

test('this VM (no udevd, ext4 straight on the unpartitioned root disk): a disk with no partitions is a volume, its type from the mount table; zram left out', () => {
  const roots = parseLsblkJson(fixtureText('linux', 'lsblk-J-backend-columns-vm-whole-disk-root.json'));
  const { volumes } = facts(roots, { mountFsTypes: new Map([['/', 'ext4']]) });
  assert.equal(volumes.length, 1);
  assert.deepEqual(
    { device: volumes[0]!.device, mount: volumes[0]!.mountPoint, fs: volumes[0]!.filesystemType, scheme: volumes[0]!.encryption!.scheme, size: volumes[0]!.sizeBytes },
    { device: '/dev/vda', mount: '/', fs: 'ext4', scheme: S.ENCRYPTION_SCHEME_NONE, size: '274877906944' },
  );
});

test('cryptsetup: status lines, inactive, the error output, and luksDump of LUKS1 and LUKS2 without key material', () => {
  assert.deepEqual(parseCryptsetupStatus(fixtureText('linux', 'cryptsetup-status-active-luks1.txt')), {
    mapping: '/dev/mapper/dm-crypto-luks1', active: true, inUse: true, type: 'LUKS1', cipher: 'aes-xts-plain64', keyBits: 512, device: '/dev/sdc1',
  });
  const plain = parseCryptsetupStatus(fixtureText('linux', 'cryptsetup-status-active-umounted.txt'))!;
  assert.equal(plain.type, 'PLAIN');
  assert.equal(plain.inUse, false);
  assert.equal(parseCryptsetupStatus(fixtureText('linux', 'cryptsetup-status-inactive.txt'))!.active, false);
  assert.equal(parseCryptsetupStatus(fixtureText('linux', 'cryptsetup-status-error.txt')), null, '"Device sdc3 not found" is not a status');
  assert.deepEqual(parseLuksDump(fixtureText('linux', 'cryptsetup-luksDump-luks2-default-argon2id.txt')), { version: 2, cipher: 'aes-xts-plain64' });
  assert.deepEqual(parseLuksDump(fixtureText('linux', 'cryptsetup-luksDump-luks1-vm.txt')), { version: 1, cipher: 'aes-xts-plain64' });
  assert.equal(parseLuksDump('Device sdc3 not found\n'), null);
});

/** A scripted lsblk/blkid/cryptsetup double: answers from the captured files, records each call. */
function scripted(answers: Record<string, string | Error>) {
  const calls: string[] = [];
  const runner: CommandRunner = {
    async run(file, args, { timeoutMs }) {
      assert.ok(timeoutMs > 0 && timeoutMs <= 10_000, 'every command has a timeout');
      const line = [file, ...args].join(' ');
      calls.push(line);
      const key = Object.keys(answers).find((k) => line.startsWith(k));
      if (key === undefined) throw new CommandError(`${file} is not installed`, 'not-found');
      const answer = answers[key]!;
      if (answer instanceof Error) throw answer;
      return { stdout: answer, stderr: '' };
    },
  };
  return { runner, calls };
}

function mountinfo(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'mamori-mountinfo-'));
  writeFileSync(join(dir, 'mountinfo'), text);
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'mountinfo');
}

test('backend on this VM: blkid refused on the mounted root is not needed; the type comes from the mount table', async () => {
  const { runner, calls } = scripted({ 'lsblk -J': fixtureText('linux', 'lsblk-J-backend-columns-vm-whole-disk-root.json') });
  const sut = new LinuxDiskEncryptionBackend({ runner, mountinfoPath: mountinfo(fixtureText('linux', 'mountinfo-loop-mount-space.txt')) });
  const report = await sut.check();
  assert.deepEqual(report.volumes.map((v) => [v.device, v.filesystemType, v.encryption!.scheme]), [['/dev/vda', 'ext4', S.ENCRYPTION_SCHEME_NONE]]);
  assert.deepEqual(report.problems, []);
  assert.equal(calls.length, 1, 'only lsblk ran');
});

test('backend: a hung lsblk becomes a problem and an unchecked posture, never a failure', async () => {
  const { runner } = scripted({ lsblk: new CommandError('lsblk did not finish within 10000 ms', 'timeout') });
  const report = await new LinuxDiskEncryptionBackend({ runner, mountinfoPath: '/nonexistent' }).check();
  assert.deepEqual(report, { volumes: [], problems: ['lsblk: lsblk did not finish within 10000 ms'] });
  const posture = encryptionPosture(report);
  assert.equal(posture.fixedDisksEncrypted, P.POSTURE_CHECK_UNSPECIFIED);
  assert.equal(posture.systemVolumeEncrypted, P.POSTURE_CHECK_UNSPECIFIED);
});

test('backend: an old lsblk refusing the JSON columns falls back to the default tree; blkid reads the LUKS container, cryptsetup the mapping', async () => {
  const unknownColumn = new CommandError('lsblk failed: lsblk: unknown column: FSVER', 'failed', 1, 'lsblk: unknown column: FSVER');
  const { runner, calls } = scripted({
    'lsblk -J': unknownColumn,
    'lsblk -b -p -o NAME,MAJ:MIN': fixtureText('linux', 'lsblk-default-tree-luks-lvm-ubuntu1804.txt'),
    'blkid -p -o export /dev/sda5': fixtureText('linux', 'blkid-p-export-luks1.txt'),
    'blkid -p -o export /dev/sda2': new CommandError('blkid failed', 'failed', 2, ''),
    'cryptsetup status /dev/mapper/sda5_crypt': fixtureText('linux', 'cryptsetup-status-active-luks1.txt'),
  });
  const report = await new LinuxDiskEncryptionBackend({ runner, mountinfoPath: '/nonexistent' }).check();
  assert.deepEqual(calls.slice(0, 3), [
    'lsblk -J -b -p -o NAME,TYPE,FSTYPE,FSVER,SIZE,MOUNTPOINTS,RM,TRAN,PARTTYPE',
    'lsblk -J -b -p -o NAME,TYPE,FSTYPE,SIZE,MOUNTPOINT,RM,TRAN',
    'lsblk -b -p -o NAME,MAJ:MIN,RM,SIZE,RO,TYPE,FSTYPE,MOUNTPOINT',
  ]);
  assert.ok(calls.includes('cryptsetup status /dev/mapper/sda5_crypt'));
  assert.ok(!calls.some((c) => c.includes('loop')), 'snap loop devices are never probed');
  const root = report.volumes.find((v) => v.systemVolume)!;
  assert.equal(root.device, '/dev/mapper/ubuntu--vg-root');
  assert.equal(root.encryption!.scheme, S.ENCRYPTION_SCHEME_LUKS1);
  assert.equal(root.method, 'aes-xts-plain64');
  assert.equal(root.encryptedBy, '/dev/sda5');
  assert.deepEqual(report.problems.map((p) => p.replace(/:.*/, '')), ['reading the mount table'], 'the blank extended partition sda2 is not a problem');
  assert.equal(encryptionPosture(report).systemVolumeEncrypted, P.POSTURE_CHECK_PASSED);
});

test('backend: blkid refusing a device (exit 2 with an error) is unknown, not blank; missing cryptsetup is said once', async () => {
  const refused = new CommandError('blkid failed: blkid: error: /dev/vdb: Operation not permitted', 'failed', 2, fixtureText('linux', 'blkid-p-vda-operation-not-permitted.stderr.txt'));
  // lsblk's JSON layout with the columns of the VM capture, three disks put together for this case.
  const lsblk = JSON.stringify({
    blockdevices: [
      { name: '/dev/vda', type: 'disk', fstype: null, size: 1000, mountpoints: ['/'], rm: false, tran: null },
      { name: '/dev/vdb', type: 'disk', fstype: null, size: 1000, mountpoints: [null], rm: false, tran: null },
      { name: '/dev/vdc', type: 'disk', fstype: null, size: 1000, mountpoints: [null], rm: false, tran: null, children: [{ name: '/dev/mapper/c', type: 'crypt', fstype: 'ext4', mountpoints: ['/srv'] }] },
    ],
  });
  const { runner } = scripted({ 'lsblk -J': lsblk, 'blkid -p -o export /dev/vdb': refused, 'blkid -p -o export /dev/vdc': new CommandError('blkid failed', 'failed', 2, '') });
  const report = await new LinuxDiskEncryptionBackend({ runner, mountinfoPath: '/nonexistent' }).check();
  const v = byDevice(report.volumes);
  assert.equal(v.get('/dev/vdb')!.encryption!.scheme, S.ENCRYPTION_SCHEME_UNSPECIFIED);
  assert.equal(v.get('/dev/mapper/c')!.encryption!.scheme, S.ENCRYPTION_SCHEME_OTHER, 'an open dm-crypt mapping of unknown kind is still encrypted');
  assert.equal(v.get('/dev/mapper/c')!.encryptedBy, '/dev/vdc');
  assert.equal(report.problems.filter((p) => p.startsWith('cryptsetup is not installed')).length, 1);
  assert.match(report.problems.join('\n'), /\/dev\/vdb: blkid -p: .*Operation not permitted/);
  const posture = encryptionPosture(report);
  assert.equal(posture.fixedDisksEncrypted, P.POSTURE_CHECK_FAILED, 'the plain root is known; the unknown disk does not hide it');
});
