import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encryptionPosture } from '../../../agent/src/core/encryption-posture';
import { processCommandRunner } from '../../../agent/src/facts/command-runner';
import { EncryptionScheme } from '../../../agent/src/generated/mamori/v1/events';
import { PostureCheck } from '../../../agent/src/generated/mamori/v1/telemetry';
import { LinuxDiskEncryptionBackend } from '../../../agent/src/sources/disk-encryption/backends/linux';
import { skipOrFail } from '../../support/prerequisites';
import { makeTempDir } from '../../support/temp-dir';

/** The first of the tools this test runs that is on no PATH folder (sbin folders included: root's tools live there). */
function missingTool(): string | null {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/bin', '/bin'].filter((d) => d !== '');
  for (const tool of ['losetup', 'cryptsetup', 'mkfs.ext4', 'lsblk', 'blkid', 'truncate']) {
    if (!dirs.some((dir) => existsSync(join(dir, tool)))) return tool;
  }
  return null;
}

/**
 * The real Linux backend on the real kernel: loop devices made here, read by the agent's own
 * lsblk/blkid/cryptsetup calls (no scripted runner). The LUKS devices are never opened (this
 * host may have no device-mapper): they are reported as locked LUKS volumes from their own
 * header, through `blkid -p` where udev's database is empty. Loop devices are not fixed disks,
 * so the backend is told to include these two paths; everything else runs as in the agent.
 */
test('a loop device formatted by cryptsetup luksFormat is reported LUKS-encrypted, a plain ext4 one is not', async (t) => {
  if (process.platform !== 'linux') return skipOrFail(t, 'needs Linux loop devices');
  if (process.getuid?.() !== 0) return skipOrFail(t, 'needs root to attach loop devices');
  if (!existsSync('/dev/loop-control')) return skipOrFail(t, 'no /dev/loop-control (loop driver missing)');
  const tool = missingTool();
  if (tool !== null) return skipOrFail(t, `${tool} is not installed (Debian: util-linux, cryptsetup-bin, e2fsprogs)`);

  const temp = makeTempDir('mamori-luks-loop-');
  t.after(() => temp.cleanup());
  const attach = (name: string): string => {
    const image = join(temp.path, name);
    execFileSync('truncate', ['-s', '32M', image]);
    const device = execFileSync('losetup', ['--find', '--show', image], { encoding: 'utf8' }).trim();
    // Registered before anything else can fail: the device is detached even when the test fails.
    t.after(() => {
      try {
        execFileSync('losetup', ['-d', device], { stdio: 'ignore' });
      } catch (error) {
        console.error(`could not detach ${device}:`, error);
      }
    });
    return device;
  };
  const keyFile = join(temp.path, 'key');
  writeFileSync(keyFile, 'correct horse battery staple', { mode: 0o600 });
  const luks2 = attach('luks2.img');
  const luks1 = attach('luks1.img');
  const plain = attach('plain.img');
  const cheap = ['--batch-mode', '--pbkdf-force-iterations', '1000', '--key-file', keyFile];
  execFileSync('cryptsetup', ['luksFormat', '--type', 'luks2', '--pbkdf', 'pbkdf2', ...cheap, luks2]);
  execFileSync('cryptsetup', ['luksFormat', '--type', 'luks1', ...cheap, luks1]);
  execFileSync('mkfs.ext4', ['-q', '-F', plain]);

  const ours = new Set([luks2, luks1, plain]);
  const sut = new LinuxDiskEncryptionBackend({ runner: processCommandRunner, includeDevice: (path) => ours.has(path) });
  const started = Date.now();
  const report = await sut.check();
  const elapsed = Date.now() - started;
  const byDevice = new Map(report.volumes.map((v) => [v.device, v]));

  const two = byDevice.get(luks2);
  assert.ok(two, `${luks2} reported; report: ${JSON.stringify(report)}`);
  assert.deepEqual(two.encryption, { scheme: EncryptionScheme.ENCRYPTION_SCHEME_LUKS2, fullyEncrypted: true, percentEncrypted: 100, protectionOn: true });
  assert.equal(two.locked, true, 'no mapping is open');
  assert.equal(two.method, 'aes-xts-plain64', 'cipher from cryptsetup luksDump');
  assert.equal(two.sizeBytes, String(32 * 1024 * 1024));
  assert.equal(byDevice.get(luks1)?.encryption?.scheme, EncryptionScheme.ENCRYPTION_SCHEME_LUKS1);

  const ext4 = byDevice.get(plain);
  assert.ok(ext4, `${plain} reported`);
  assert.equal(ext4.encryption!.scheme, EncryptionScheme.ENCRYPTION_SCHEME_NONE);
  assert.equal(ext4.filesystemType, 'ext4');
  assert.equal(ext4.locked, false);

  const posture = encryptionPosture({ volumes: report.volumes.filter((v) => ours.has(v.device)), problems: [] });
  assert.equal(posture.fixedDisksEncrypted, PostureCheck.POSTURE_CHECK_FAILED, 'the plain ext4 device fails the check');
  const onlyLuks = encryptionPosture({ volumes: [two, byDevice.get(luks1)!], problems: [] });
  assert.equal(onlyLuks.fixedDisksEncrypted, PostureCheck.POSTURE_CHECK_PASSED);
  t.diagnostic(`one check of this host took ${elapsed} ms; problems: ${JSON.stringify(report.problems)}`);
});
