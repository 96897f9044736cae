import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { parseEnrollmentToken, parseServerAddress, TokenFormatError } from '../../../../agent/src/transport/enrollment-token';
import { caPinOf } from '../../../../agent/src/transport/ca-probe';

const PIN = createHash('sha256').update('some CA DER').digest('base64url');

test('a well-formed token splits into id, secret and CA pin', () => {
  assert.deepEqual(parseEnrollmentToken(`tok_123.s3cr3t-_x.${PIN}`), { tokenId: 'tok_123', secret: 's3cr3t-_x', caPin: PIN });
  assert.deepEqual(parseEnrollmentToken(`  tok.sec.${PIN}\n`).tokenId, 'tok');
});

test('malformed tokens are refused with a reason and without echoing the secret', () => {
  const cases: [string, RegExp][] = [
    ['onlyone', /three dot-separated parts/],
    [`a.b.c.${PIN}`, /three dot-separated parts .*got 4/],
    [`.secret.${PIN}`, /id part is empty/],
    [`id..${PIN}`, /secret part is empty/],
    [`id.se cret.${PIN}`, /secret part has characters outside base64url/],
    ['id.secret.short', /CA pin must be a base64url SHA-256/],
    [`id.secret.${PIN}AA`, /CA pin must be a base64url SHA-256/],
  ];
  for (const [token, reason] of cases) {
    assert.throws(() => parseEnrollmentToken(token), (e: unknown) => e instanceof TokenFormatError && reason.test(e.message) && !e.message.includes('se cret'), token);
  }
});

test('the CA pin is base64url without padding of the SHA-256 of the DER', () => {
  const der = Buffer.from('certificate bytes');
  assert.equal(caPinOf(der), createHash('sha256').update(der).digest('base64url'));
  assert.equal(caPinOf(der).length, 43);
  assert.doesNotMatch(caPinOf(der), /[=+/]/);
});

test('server addresses: host:port, IPv6 in brackets, bad ports refused', () => {
  assert.deepEqual(parseServerAddress('collector.example:50051'), { host: 'collector.example', port: 50051, target: 'collector.example:50051' });
  assert.deepEqual(parseServerAddress('[::1]:50051'), { host: '::1', port: 50051, target: '[::1]:50051' });
  assert.throws(() => parseServerAddress('collector.example'), TokenFormatError);
  assert.throws(() => parseServerAddress('host:70000'), /1\.\.65535/);
  assert.throws(() => parseServerAddress('::1:50051'), TokenFormatError);
});
