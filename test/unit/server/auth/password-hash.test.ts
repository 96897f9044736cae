import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generatePassword, hashPassword, needsRehash, parsePasswordHash, passwordProblem, verifyPassword } from '../../../../server/src/modules/auth/password-hash';

test('scrypt hashes describe their parameters and salt, verify the right password only, and differ per salt', async () => {
  const stored = await hashPassword('correct horse battery staple');
  assert.match(stored, /^scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
  assert.equal(await verifyPassword('correct horse battery staple', stored), true);
  assert.equal(await verifyPassword('correct horse battery stapl', stored), false);
  assert.notEqual(await hashPassword('correct horse battery staple'), stored);
  assert.equal(needsRehash(stored), false);
});

test('a hash made with other parameters still verifies (they come from the stored string) and asks to be re-hashed', async () => {
  const weaker = await hashPassword('an older password', { ln: 14, r: 8, p: 1 });
  assert.equal(await verifyPassword('an older password', weaker), true);
  assert.equal(needsRehash(weaker), true);
});

test('a stored value it did not write, or with parameters out of bounds, never verifies', async () => {
  assert.equal(await verifyPassword('x', 'plaintext'), false);
  assert.equal(parsePasswordHash('scrypt$ln=30,r=8,p=1$c2FsdHNhbHRzYWx0$' + 'A'.repeat(43)), null);
  assert.equal(parsePasswordHash('scrypt$ln=15,r=8,p=1$c2FsdHNhbHRzYWx0$AAAA'), null);
});

test('passwords need at least 12 characters (counted as characters, not bytes), with a message saying so', () => {
  assert.equal(passwordProblem('eleven-char'), 'password must be at least 12 characters long (it has 11); a few unrelated words make a good one');
  assert.equal(passwordProblem('twelve chars'), null);
  assert.match(passwordProblem('短いパスワード', 'newPassword') ?? '', /^newPassword must be at least 12 characters long \(it has 7\)/);
  assert.match(passwordProblem('x'.repeat(1025)) ?? '', /at most 1024/);
});

test('generated passwords are 20 characters from an unambiguous alphabet and differ each time', () => {
  const a = generatePassword();
  assert.match(a, /^[a-km-np-zA-HJ-NP-Z2-9]{20}$/);
  assert.notEqual(generatePassword(), a);
  assert.equal(passwordProblem(a), null);
});
