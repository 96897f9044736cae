import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diskEncryptionStatusEvent, encryptionPosture } from '../../../../../agent/src/core/encryption-posture';
import { CommandError, type CommandRunner } from '../../../../../agent/src/facts/command-runner';
import { parseDiskutilInfoPlist } from '../../../../../agent/src/sources/usb/parsers/macos-diskutil.parser';
import { EncryptionScheme as S } from '../../../../../agent/src/generated/mamori/v1/events';
import { PostureCheck as P } from '../../../../../agent/src/generated/mamori/v1/telemetry';
import { Win32DiskEncryptionBackend } from '../../../../../agent/src/sources/disk-encryption/backends/win32';
import { macVolumes } from '../../../../../agent/src/sources/disk-encryption/macos-volumes';
import {
  bitLockerVolumeEncryption,
  parseEncryptableVolumeList,
  parseGetBitLockerVolumeJson,
  parseManageBdeStatus,
} from '../../../../../agent/src/sources/disk-encryption/parsers/bitlocker.parser';
import { parseApfsListPlist, parseFdesetupStatus } from '../../../../../agent/src/sources/disk-encryption/parsers/macos-encryption.parser';
import { fixtureBytes, fixtureText } from './fixtures';

const GET_BLV = 'get-bitlockervolume-convertto-json-c-encrypted-e-plain.json';

test('Get-BitLockerVolume JSON: C: fully encrypted XTS-AES 128 with protection on is the system volume; E: is a plain data volume', () => {
  const volumes = parseGetBitLockerVolumeJson(fixtureText('windows', GET_BLV)).map((v) => bitLockerVolumeEncryption(v, 'C:'));
  const [c, e] = volumes;
  assert.deepEqual(
    { device: c!.device, mount: c!.mountPoint, system: c!.systemVolume, enc: c!.encryption, method: c!.method, locked: c!.locked },
    { device: 'C:', mount: 'C:\\', system: true, enc: { scheme: S.ENCRYPTION_SCHEME_BITLOCKER, fullyEncrypted: true, percentEncrypted: 100, protectionOn: true }, method: 'XTS-AES 128', locked: false },
  );
  assert.equal(e!.systemVolume, false);
  assert.equal(e!.encryption!.scheme, S.ENCRYPTION_SCHEME_NONE);
  assert.equal(e!.sizeBytes, String(Math.round(57.7006836 * 1024 ** 3)));
  const posture = encryptionPosture({ volumes, problems: [] });
  assert.equal(posture.systemVolumeEncrypted, P.POSTURE_CHECK_PASSED);
  assert.equal(posture.fixedDisksEncrypted, P.POSTURE_CHECK_FAILED, 'the plain data volume E: fails the fixed-disk check');
});

test('secrets never leave: no recovery password digits or key protector ids anywhere in the event or the posture', () => {
  const raw = fixtureText('windows', GET_BLV);
  const password = /"RecoveryPassword":\s*"(\d{6}(?:-\d{6}){7})"/.exec(raw)![1]!;
  const protectorIds = [...raw.matchAll(/"KeyProtectorId":\s*"\{([0-9A-F-]+)\}"/g)].map((m) => m[1]!);
  assert.equal(protectorIds.length, 2, 'the fixture holds the secrets this test looks for');
  const volumes = parseGetBitLockerVolumeJson(raw).map((v) => bitLockerVolumeEncryption(v, 'C:'));
  const report = { volumes, problems: [] };
  const everything = JSON.stringify([diskEncryptionStatusEvent(report, new Date('2025-01-01T00:00:00Z'), 'alice'), encryptionPosture(report)]);
  for (const group of password.split('-')) assert.ok(!everything.includes(group), `recovery password group ${group} leaked`);
  assert.ok(!everything.includes(password.replace(/-/g, '')), 'the password without dashes leaked');
  for (const id of protectorIds) {
    assert.ok(!everything.toUpperCase().includes(id), `key protector id ${id} leaked`);
    assert.ok(!everything.toUpperCase().includes(id.replace(/-/g, '')), `key protector id ${id} leaked without dashes`);
  }
  assert.ok(!/KeyProtector|RecoveryPassword|Thumbprint/i.test(everything));
});

test('CIM Win32_EncryptableVolume from French wmic (UTF-16LE): C: fully encrypted AES 256, protection on, system volume', () => {
  const [c] = parseEncryptableVolumeList(fixtureBytes('windows', 'wmic-win32_encryptablevolume-c-encrypted-fr.utf16le.txt'));
  const v = bitLockerVolumeEncryption(c!, 'D:');
  assert.equal(v.device, 'C:');
  assert.equal(v.systemVolume, true, 'VolumeType 0, whatever %SystemDrive% says');
  assert.deepEqual(v.encryption, { scheme: S.ENCRYPTION_SCHEME_BITLOCKER, fullyEncrypted: true, percentEncrypted: 100, protectionOn: true });
  assert.equal(v.method, 'AES 256');
});

test('manage-bde by structure: English, German, decimal commas, used-space-only, in progress at 100 %, partial output', () => {
  const read = (name: string, fallback = '') => parseManageBdeStatus(fixtureText('windows', name), fallback);
  const three = read('manage-bde-status-all-decrypted-3-volumes.txt');
  assert.deepEqual(three.map((x) => x.volume.mountPoint), ['C:', 'J:', 'K:']);
  for (const x of three) assert.equal(bitLockerVolumeEncryption(x.volume, 'C:').encryption!.scheme, S.ENCRYPTION_SCHEME_NONE);
  assert.equal(bitLockerVolumeEncryption(three[0]!.volume, 'C:').systemVolume, true, 'the system drive');
  assert.equal(three[1]!.volume.sizeBytes, 90 * 1024 ** 3);

  const [usedSpace] = read('manage-bde-status-c-used-space-only-aes256-password-decimal-comma.txt');
  assert.deepEqual(usedSpace!.unread, []);
  assert.equal(usedSpace!.volume.sizeBytes, 69.13 * 1024 ** 3, '"69,13 GB"');
  assert.deepEqual(bitLockerVolumeEncryption(usedSpace!.volume, 'C:').encryption, { scheme: S.ENCRYPTION_SCHEME_BITLOCKER, fullyEncrypted: true, percentEncrypted: 100, protectionOn: true });
  assert.equal(usedSpace!.volume.method, 'AES 256');

  const [german] = read('manage-bde-status-de-decrypted.txt');
  assert.equal(german!.volume.mountPoint, 'C:', 'Volume "C:" []');
  assert.equal(bitLockerVolumeEncryption(german!.volume, 'C:').encryption!.scheme, S.ENCRYPTION_SCHEME_NONE);

  const [converting] = read('manage-bde-status-de-encryption-in-progress-100pct-protection-on.txt');
  const state = bitLockerVolumeEncryption(converting!.volume, 'C:');
  assert.deepEqual(state.encryption, { scheme: S.ENCRYPTION_SCHEME_BITLOCKER, fullyEncrypted: false, percentEncrypted: 100, protectionOn: true });
  assert.equal(encryptionPosture({ volumes: [state], problems: [] }).systemVolumeEncrypted, P.POSTURE_CHECK_FAILED, 'still converting: not passed');

  const [partial] = read('manage-bde-status-c-fully-encrypted-xtsaes256-partial.txt', 'c:');
  assert.equal(partial!.volume.mountPoint, 'C:', 'no volume line: the fallback names it');
  assert.equal(bitLockerVolumeEncryption(partial!.volume, 'C:').encryption!.fullyEncrypted, true);

  const [server] = read('manage-bde-status-m-data-volume-autounlock-server2019.txt');
  assert.equal(server!.volume.sizeBytes, null, '"Unknown GB"');
  assert.equal(bitLockerVolumeEncryption(server!.volume, 'C:').systemVolume, false);
  assert.equal(server!.volume.method, 'XTS-AES 128');
});

test('manage-bde in a language this agent does not read: the volume is unknown, never guessed', () => {
  // The German in-progress output with its status words replaced, as another display language would print them.
  const text = fixtureText('windows', 'manage-bde-status-de-encryption-in-progress-100pct-protection-on.txt')
    .replace(/Verschl.sselung wird durchgef.hrt/, 'Chiffrement en cours')
    .replace('Der Schutz ist aktiviert.', 'Protection activée');
  const [volume] = parseManageBdeStatus(text);
  assert.deepEqual(volume!.unread, ['Chiffrement en cours', 'Protection activée']);
});

/** powershell.exe and manage-bde answered from captured files, one queue per script. */
function windowsRunner(answers: { bitlocker?: string | Error; cim?: string | Error; managebde?: string | Error; disks?: string | Error }): CommandRunner {
  return {
    async run(file, args, { timeoutMs }) {
      assert.ok(timeoutMs > 0);
      const script = args[args.length - 1] ?? '';
      const answer =
        file === 'manage-bde' ? answers.managebde : script.includes('Get-BitLockerVolume') ? answers.bitlocker : script.includes('Win32_EncryptableVolume') ? answers.cim : script.includes('Win32_LogicalDisk') ? answers.disks : undefined;
      if (answer === undefined) throw new CommandError(`${file} is not installed`, 'not-found');
      if (answer instanceof Error) throw answer;
      return { stdout: answer, stderr: '' };
    },
  };
}

test('win32 backend: Get-BitLockerVolume first; a removable drive (DriveType 2) is left out; file systems from Win32_LogicalDisk', async () => {
  const disks = JSON.stringify([{ DeviceID: 'C:', DriveType: 3, FileSystem: 'NTFS' }, { DeviceID: 'E:', DriveType: 2, FileSystem: 'FAT32' }]);
  const report = await new Win32DiskEncryptionBackend({ runner: windowsRunner({ bitlocker: fixtureText('windows', GET_BLV), disks }), systemDrive: 'C:' }).check();
  assert.deepEqual(report.volumes.map((v) => [v.device, v.filesystemType]), [['C:', 'NTFS']]);
  assert.deepEqual(report.problems, []);
});

test('win32 backend: everything refused (not elevated) gives problems and an unchecked posture; a hung PowerShell falls back to manage-bde', async () => {
  const denied = new CommandError('powershell.exe failed: Access denied', 'failed', 1);
  const none = await new Win32DiskEncryptionBackend({ runner: windowsRunner({ bitlocker: denied, cim: denied, managebde: denied }) }).check();
  assert.equal(none.volumes.length, 0);
  assert.equal(none.problems.length, 3);
  assert.equal(encryptionPosture(none).systemVolumeEncrypted, P.POSTURE_CHECK_UNSPECIFIED);

  const hung = new CommandError('powershell.exe did not finish within 30000 ms', 'timeout');
  const fallback = await new Win32DiskEncryptionBackend({
    runner: windowsRunner({ bitlocker: hung, cim: hung, managebde: fixtureText('windows', 'manage-bde-status-c-used-space-only-aes256-password-decimal-comma.txt'), disks: hung }),
    systemDrive: 'C:',
  }).check();
  assert.equal(encryptionPosture(fallback).systemVolumeEncrypted, P.POSTURE_CHECK_PASSED);
  assert.match(fallback.problems[0]!, /^read from manage-bde -status \(Get-BitLockerVolume: .*did not finish within 30000 ms/);
});

test('macOS: diskutil apfs list -plist with FileVault on: System, Data and a user volume are FileVault-protected; support volumes left out', () => {
  const containers = parseApfsListPlist(fixtureText('macos', 'diskutil-apfs-list-plist-filevault-on.plist'));
  assert.equal(containers.length, 3);
  const fdesetup = parseFdesetupStatus(fixtureText('macos', 'fdesetup-status-on-master-keychain.txt'));
  assert.deepEqual(fdesetup, { on: true, conversion: null, percent: null });
  const { volumes, problems } = macVolumes({ containers, fdesetup, stores: new Map(), root: null });
  assert.deepEqual(volumes.map((v) => [v.device, v.systemVolume]), [['/dev/disk3s1', true], ['/dev/disk3s5', true], ['/dev/disk3s7', false]]);
  for (const v of volumes) {
    assert.deepEqual(v.encryption, { scheme: S.ENCRYPTION_SCHEME_FILEVAULT, fullyEncrypted: true, percentEncrypted: 100, protectionOn: true });
    assert.equal(v.encryptedBy, '/dev/disk0s2');
  }
  assert.equal(problems.length, 3, 'the physical stores were not described: each container is said to be assumed fixed');
  const posture = encryptionPosture({ volumes, problems });
  assert.equal(posture.fixedDisksEncrypted, P.POSTURE_CHECK_PASSED);
  assert.equal(posture.systemVolumeEncrypted, P.POSTURE_CHECK_PASSED);
});

test('macOS: a container on an external or removable device is left out; FileVault off is read; no APFS falls back to fdesetup for "/"', () => {
  const containers = parseApfsListPlist(fixtureText('macos', 'diskutil-apfs-list-plist-filevault-on.plist'));
  const reader = parseDiskutilInfoPlist(fixtureText('macos', 'diskutil-info-plist-usb-sd-card-reader-internal.plist'));
  const stores = new Map([['disk0s1', reader], ['disk0s2', reader], ['disk0s3', reader]]);
  assert.equal(macVolumes({ containers, fdesetup: null, stores, root: null }).volumes.length, 0, 'Ejectable media: not a fixed disk');

  const off = parseFdesetupStatus(fixtureText('macos', 'fdesetup-status-off.txt'));
  assert.deepEqual(off, { on: false, conversion: null, percent: null });
  const { volumes } = macVolumes({ containers: [], fdesetup: off, stores: new Map(), root: { ...reader, mountPoint: '/' } });
  assert.equal(volumes[0]!.systemVolume, true);
  assert.equal(volumes[0]!.encryption!.scheme, S.ENCRYPTION_SCHEME_NONE);
  const unknown = macVolumes({ containers: [], fdesetup: null, stores: new Map(), root: reader }).volumes[0]!;
  assert.equal(unknown.encryption!.scheme, S.ENCRYPTION_SCHEME_UNSPECIFIED, 'fdesetup did not answer: unknown, not plain');
});
