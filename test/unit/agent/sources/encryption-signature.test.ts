import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { EncryptionScheme } from '../../../../agent/src/generated/mamori/v1/events';
import { encryptionStateOf, parseBitLockerMetadata, probeEncryptionSignature } from '../../../../agent/src/sources/storage/encryption-signature';

const dir = join(linuxFixtures(), 'signatures');

/** The fixtures folder, found upwards from the compiled test (dist/ may live anywhere), else from the working directory. */
function linuxFixtures(): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'test', 'fixtures', 'linux'))) return join(dir, 'test', 'fixtures', 'linux');
  }
  return join(process.cwd(), 'test', 'fixtures', 'linux');
}

const bytes = (name: string) => readFileSync(join(dir, name));

test('LUKS1 and LUKS2 headers made by cryptsetup are recognised with their version', () => {
  const v1 = probeEncryptionSignature(bytes('luks1.head.bin'));
  const v2 = probeEncryptionSignature(bytes('luks2.head.bin'));
  assert.deepEqual([v1.container, v1.scheme], ['luks', EncryptionScheme.ENCRYPTION_SCHEME_LUKS1]);
  assert.deepEqual([v2.container, v2.scheme], ['luks', EncryptionScheme.ENCRYPTION_SCHEME_LUKS2]);
  assert.deepEqual(encryptionStateOf(v2), { scheme: EncryptionScheme.ENCRYPTION_SCHEME_LUKS2, fullyEncrypted: true, percentEncrypted: 100, protectionOn: true });
});

test('a plain vfat stick has no encryption signature, even labelled like an encrypted one', () => {
  const head = Buffer.from(bytes('vfat-fat16.head.bin'));
  const probe = probeEncryptionSignature(head);
  assert.deepEqual([probe.container, probe.scheme], ['none', EncryptionScheme.ENCRYPTION_SCHEME_NONE]);
  // The label lives in the boot sector at 0x2b; a label saying BitLocker changes nothing.
  head.write('BITLOCKER  ', 0x2b, 'latin1');
  assert.equal(probeEncryptionSignature(head).scheme, EncryptionScheme.ENCRYPTION_SCHEME_NONE);
});

test('BitLocker (fixed-drive format) made by Windows: -FVE-FS- header, metadata says encrypted with password + recovery protectors', () => {
  const probe = probeEncryptionSignature(bytes('bitlk-aes-xts-128.head.bin'));
  assert.equal(probe.scheme, EncryptionScheme.ENCRYPTION_SCHEME_BITLOCKER);
  assert.equal(probe.metadataOffsets[0], 35213312);
  assert.equal(probe.metadataOffsets.length, 3);
  const metadata = parseBitLockerMetadata(bytes('bitlk-aes-xts-128.fve-metadata.bin'));
  assert.deepEqual(metadata, { state: 4, protectors: [0x2000, 0x0800] });
  assert.deepEqual(encryptionStateOf(probe, metadata), { scheme: EncryptionScheme.ENCRYPTION_SCHEME_BITLOCKER, fullyEncrypted: true, percentEncrypted: 100, protectionOn: true });
});

test('BitLocker To Go made by Windows: a FAT32 "MSWIN4.1" discovery volume recognised only by the BitLocker GUID', () => {
  const head = Buffer.from(bytes('bitlk-togo-aes-xts-128.head.bin'));
  assert.equal(head.subarray(3, 11).toString('latin1'), 'MSWIN4.1');
  const probe = probeEncryptionSignature(head);
  assert.equal(probe.scheme, EncryptionScheme.ENCRYPTION_SCHEME_BITLOCKER);
  assert.equal(probe.metadataOffsets[0], 34603008);
  assert.deepEqual(parseBitLockerMetadata(bytes('bitlk-togo-aes-xts-128.fve-metadata.bin')), { state: 4, protectors: [0x2000, 0x0800] });
  // Without the GUID the same boot sector is just FAT32.
  head.fill(0, 424, 440);
  assert.equal(probeEncryptionSignature(head).scheme, EncryptionScheme.ENCRYPTION_SCHEME_NONE);
});

test('BitLocker with only a clear key (protection suspended) is encrypted but not protected', () => {
  const probe = probeEncryptionSignature(bytes('bitlk-aes-xts-128-clearkey-only.head.bin'));
  const metadata = parseBitLockerMetadata(bytes('bitlk-aes-xts-128-clearkey-only.fve-metadata.bin'));
  assert.deepEqual(metadata, { state: 4, protectors: [0x0000] });
  const state = encryptionStateOf(probe, metadata);
  assert.equal(state.scheme, EncryptionScheme.ENCRYPTION_SCHEME_BITLOCKER);
  assert.equal(state.protectionOn, false);
  assert.equal(parseBitLockerMetadata(bytes('luks2.head.bin')), null);
});

test('an APFS container superblock is recognised but its volumes are not claimed encrypted', () => {
  // The container superblock's magic sits after the 32-byte object header; the rest of the block is not read.
  const head = Buffer.alloc(4096);
  head.write('NXSB', 32, 'latin1');
  const probe = probeEncryptionSignature(head);
  assert.equal(probe.container, 'apfs');
  assert.equal(encryptionStateOf(probe).scheme, EncryptionScheme.ENCRYPTION_SCHEME_UNSPECIFIED);
  assert.match(probe.detail, /not readable/);
});
