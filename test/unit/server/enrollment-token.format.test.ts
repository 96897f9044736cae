import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  generateEnrollmentToken,
  hashTokenSecret,
  parseEnrollmentToken,
  tokenRefusal,
  tokenSecretMatches,
} from '../../../server/src/modules/enrollment/enrollment-token.format';

const PIN = 'J-89LVWG7zivZvNw6rl8sVkORuwvZHQx9zkVoIwfCp4';

test('a token is <id>.<secret>.<caPin> and stores only the secret hash', () => {
  const sut = generateEnrollmentToken(PIN);
  assert.equal(sut.token, `${sut.id}.${sut.secret}.${PIN}`);
  assert.deepEqual(parseEnrollmentToken(sut.token), { id: sut.id, secret: sut.secret, caPin: PIN });
  assert.equal(sut.secretHash, hashTokenSecret(sut.secret));
  assert.ok(!sut.secretHash.includes(sut.secret));
  assert.ok(tokenSecretMatches(sut.secret, sut.secretHash));
  assert.ok(!tokenSecretMatches(generateEnrollmentToken(PIN).secret, sut.secretHash));
});

test('malformed tokens do not parse', () => {
  const good = generateEnrollmentToken(PIN);
  for (const bad of ['', 'a.b.c', `${good.id}.${good.secret}`, `${good.token}.x`, `nope.${good.secret}.${PIN}`, `${good.id}.short.${PIN}`]) {
    assert.equal(parseEnrollmentToken(bad), null, bad);
  }
});

test('revoked, expired and used-up tokens are refused, in that order', () => {
  const now = new Date('2025-03-01T00:00:00Z');
  const later = new Date('2025-03-02T00:00:00Z');
  const earlier = new Date('2025-02-28T00:00:00Z');
  assert.equal(tokenRefusal({ revokedAt: null, expiresAt: later, maxUses: null, uses: 10 }, now), null);
  assert.equal(tokenRefusal({ revokedAt: null, expiresAt: later, maxUses: 2, uses: 1 }, now), null);
  assert.equal(tokenRefusal({ revokedAt: null, expiresAt: later, maxUses: 2, uses: 2 }, now), 'used up');
  assert.equal(tokenRefusal({ revokedAt: null, expiresAt: now, maxUses: null, uses: 0 }, now), 'expired');
  assert.equal(tokenRefusal({ revokedAt: earlier, expiresAt: earlier, maxUses: 1, uses: 1 }, now), 'revoked');
});
