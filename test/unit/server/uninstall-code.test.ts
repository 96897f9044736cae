import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newUninstallCode, normalizeUninstallCode } from '../../../server/src/modules/agents/uninstall-codes.service';

test('an uninstall code is 80 random bits as four groups of Crockford base32, without I, L, O or U', () => {
  assert.equal(newUninstallCode(Buffer.alloc(10, 0)), '0000-0000-0000-0000');
  assert.equal(newUninstallCode(Buffer.alloc(10, 0xff)), 'ZZZZ-ZZZZ-ZZZZ-ZZZZ');
  assert.equal(newUninstallCode(Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 33])), '0000-0000-0000-0011');
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const code = newUninstallCode();
    assert.match(code, /^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$/);
    seen.add(code);
  }
  assert.equal(seen.size, 200);
});

test('a retyped code matches: case, dashes and spaces are ignored, O reads as 0 and I or L as 1', () => {
  assert.equal(normalizeUninstallCode('ab1o-il00-ZZZZ-9999'), normalizeUninstallCode('AB10 1100ZZZZ9999'));
  assert.equal(normalizeUninstallCode('ab1o-il00-ZZZZ-9999'), 'AB101100ZZZZ9999');
  assert.notEqual(normalizeUninstallCode('AB10-1100-ZZZZ-9999'), normalizeUninstallCode('AB10-1100-ZZZZ-9998'));
});
