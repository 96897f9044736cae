import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeScriptLineError, parseFakeScriptLine } from '../../../../agent/src/sources/usb/parsers/fake-script.parser';

test('the fake USB script can report an attached device\'s volumes and where they are mounted', () => {
  const op = parseFakeScriptLine(
    JSON.stringify({
      op: 'storage',
      busPath: '1-2',
      blockDevices: [
        { deviceNode: '/dev/sdb', sizeBytes: 8_000_000_000 },
        { deviceNode: '/dev/sdb1', parentNode: '/dev/sdb', filesystemType: 'vfat', label: 'STICK', mountPoints: ['/media/alice/STICK'] },
        { deviceNode: '/dev/sdb2', parentNode: '/dev/sdb', filesystemType: 'BitLocker', encryption: 'ENCRYPTION_SCHEME_BITLOCKER', mountPoints: ['/media/alice/SAFE'] },
      ],
    }),
    5,
  );
  assert.ok(op !== null && op.op === 'storage');
  assert.equal(op.busPath, '1-2');
  assert.deepEqual(op.blockDevices[0], {
    deviceNode: '/dev/sdb', parentNode: '', sizeBytes: '8000000000', filesystemType: '', label: '', mountPoints: [],
    encryption: { scheme: 'ENCRYPTION_SCHEME_NONE', fullyEncrypted: false, percentEncrypted: 0, protectionOn: false }, readOnly: false,
  });
  assert.deepEqual(op.blockDevices[1]!.mountPoints, ['/media/alice/STICK']);
  assert.deepEqual(op.blockDevices[2]!.encryption, { scheme: 'ENCRYPTION_SCHEME_BITLOCKER', fullyEncrypted: true, percentEncrypted: 100, protectionOn: true });
});

test('a bad storage line names the line and the field', () => {
  const cases: [unknown, RegExp][] = [
    [{ op: 'storage', busPath: '1-2' }, /storage needs a "blockDevices" list/],
    [{ op: 'storage', blockDevices: [] }, /busPath is required/],
    [{ op: 'storage', busPath: '1-2', blockDevices: [{ mountPoints: ['/m'] }] }, /blockDevices\[0\]\.deviceNode is required/],
    [{ op: 'storage', busPath: '1-2', blockDevices: [{ deviceNode: '/dev/sdb1', mountPoints: ['media'] }] }, /blockDevices\[0\]\.mountPoints must be a list of absolute paths/],
    [{ op: 'storage', busPath: '1-2', blockDevices: [{ deviceNode: '/dev/sdb1', encryption: 'yes' }] }, /blockDevices\[0\]\.encryption must be one of/],
    [{ op: 'storage', busPath: '1-2', blockDevices: [{ deviceNode: '/dev/sdb1', sizeBytes: -1 }] }, /sizeBytes must be a whole number/],
  ];
  for (const [line, message] of cases) {
    assert.throws(() => parseFakeScriptLine(JSON.stringify(line), 9), (error: unknown) => error instanceof FakeScriptLineError && error.lineNumber === 9 && message.test(error.message));
  }
});
