import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encryptionPosture, postureFingerprint } from '../../../../../agent/src/core/encryption-posture';
import { EncryptionScheme as S, type VolumeEncryption } from '../../../../../agent/src/generated/mamori/v1/events';
import { PostureCheck as P } from '../../../../../agent/src/generated/mamori/v1/telemetry';
import { FakeDiskEncryptionBackend } from '../../../../../agent/src/sources/disk-encryption/backends/fake';
import { encryptionState, volumeEncryption } from '../../../../../agent/src/sources/disk-encryption/disk-encryption.source';
import { makeTempDir } from '../../../../support/temp-dir';

const vol = (device: string, scheme: S, extra: Partial<VolumeEncryption> & { full?: boolean; on?: boolean; percent?: number } = {}) =>
  volumeEncryption({ device, ...extra, encryption: encryptionState(scheme, extra.full ?? true, extra.percent ?? 100, extra.on ?? true) });

test('posture rules: in progress and suspended fail, locked passes, unknown is not a failure, removable is not judged', () => {
  const judge = (volumes: VolumeEncryption[]) => {
    const p = encryptionPosture({ volumes, problems: [] });
    return [p.fixedDisksEncrypted, p.systemVolumeEncrypted];
  };
  const root = vol('/dev/root', S.ENCRYPTION_SCHEME_LUKS2, { systemVolume: true });
  assert.deepEqual(judge([root]), [P.POSTURE_CHECK_PASSED, P.POSTURE_CHECK_PASSED]);
  assert.deepEqual(judge([vol('C:', S.ENCRYPTION_SCHEME_BITLOCKER, { systemVolume: true, full: false, percent: 40 })]), [P.POSTURE_CHECK_FAILED, P.POSTURE_CHECK_FAILED], 'encryption in progress');
  assert.deepEqual(judge([vol('C:', S.ENCRYPTION_SCHEME_BITLOCKER, { systemVolume: true, on: false })]), [P.POSTURE_CHECK_FAILED, P.POSTURE_CHECK_FAILED], 'protection suspended');
  assert.deepEqual(judge([root, vol('D:', S.ENCRYPTION_SCHEME_BITLOCKER, { locked: true, full: false, on: false })]), [P.POSTURE_CHECK_PASSED, P.POSTURE_CHECK_PASSED], 'a locked volume cannot be read without a key');
  assert.deepEqual(judge([root, vol('/dev/sdb1', S.ENCRYPTION_SCHEME_UNSPECIFIED)]), [P.POSTURE_CHECK_UNSPECIFIED, P.POSTURE_CHECK_PASSED], 'unknown is not a failure');
  assert.deepEqual(judge([vol('/dev/sdb1', S.ENCRYPTION_SCHEME_UNSPECIFIED), vol('/dev/sda1', S.ENCRYPTION_SCHEME_NONE)]), [P.POSTURE_CHECK_FAILED, P.POSTURE_CHECK_UNSPECIFIED], 'a known plain disk fails even beside an unknown one');
  assert.deepEqual(judge([root, vol('/dev/sdc1', S.ENCRYPTION_SCHEME_NONE, { removable: true })]), [P.POSTURE_CHECK_PASSED, P.POSTURE_CHECK_PASSED]);
  assert.deepEqual(judge([]), [P.POSTURE_CHECK_UNSPECIFIED, P.POSTURE_CHECK_UNSPECIFIED]);
  const before = encryptionPosture(null);
  assert.equal(before.fixedDisksEncrypted, P.POSTURE_CHECK_UNSPECIFIED, 'before the first check');
});

test('fingerprint: a climbing percentage is not a change; finishing, a new volume or a new problem is', () => {
  const at = (percent: number, full = false) => postureFingerprint(encryptionPosture({ volumes: [vol('C:', S.ENCRYPTION_SCHEME_BITLOCKER, { systemVolume: true, full, percent })], problems: [] }));
  assert.equal(at(10), at(55));
  assert.notEqual(at(99), at(100, true));
  const one = encryptionPosture({ volumes: [vol('C:', S.ENCRYPTION_SCHEME_BITLOCKER)], problems: [] });
  assert.notEqual(postureFingerprint(one), postureFingerprint({ ...one, encryptionProblems: ['manage-bde timed out'] }));
});

test('fake backend: re-reads its file at each check (unencrypted → encrypted), and a bad file is a problem naming the field', async (t) => {
  const temp = makeTempDir();
  t.after(() => temp.cleanup());
  const file = join(temp.path, 'disks.json');
  const sut = new FakeDiskEncryptionBackend(file);
  const missing = await sut.check();
  assert.equal(missing.volumes.length, 0);
  assert.match(missing.problems[0]!, /cannot be read: ENOENT/);

  writeFileSync(file, JSON.stringify({ volumes: [{ device: '/dev/vda2', mountPoint: '/', systemVolume: true, encryption: { scheme: 'ENCRYPTION_SCHEME_NONE' }, filesystemType: 'ext4', sizeBytes: 1024 }], problems: [] }));
  const plain = await sut.check();
  assert.equal(encryptionPosture(plain).systemVolumeEncrypted, P.POSTURE_CHECK_FAILED);
  assert.equal(plain.volumes[0]!.sizeBytes, '1024');
  assert.equal(plain.volumes[0]!.removable, false, 'defaults for fields not given');

  writeFileSync(
    file,
    JSON.stringify({
      volumes: [{ device: '/dev/mapper/root', mountPoint: '/', systemVolume: true, encryption: { scheme: 'ENCRYPTION_SCHEME_LUKS2', fullyEncrypted: true, percentEncrypted: 100, protectionOn: true }, encryptedBy: '/dev/vda2', method: 'aes-xts-plain64', sizeBytes: '21474836480' }],
      problems: [],
    }),
  );
  assert.equal(encryptionPosture(await sut.check()).systemVolumeEncrypted, P.POSTURE_CHECK_PASSED);

  for (const [content, message] of [
    ['{"volumes": [{"device": "C:", "encryption": {"scheme": "LUKS9"}}]}', /volumes\[0\]\.encryption\.scheme must be one of/],
    ['{"volumes": [{"device": "C:", "encrypted": true}]}', /volumes\[0\]\.encrypted is not a field/],
    ['{"volumes": [{"mountPoint": "/"}]}', /volumes\[0\]\.device is required/],
    ['{"volumes": [', /not JSON/],
  ] as const) {
    writeFileSync(file, content);
    const bad = await sut.check();
    assert.equal(bad.volumes.length, 0);
    assert.match(bad.problems[0]!, message);
    assert.equal(encryptionPosture(bad).systemVolumeEncrypted, P.POSTURE_CHECK_UNSPECIFIED);
  }
});
