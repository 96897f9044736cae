import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatHostPattern, isAtOrBelow, normalizeHostName, normalizeHostNameOrNull, parseHostPattern } from '../../../../../agent/src/core/destinations/host-name';
import { DestinationSyntaxError } from '../../../../../agent/src/core/destinations/whitelist-entry';

function refused(name: string, pattern: RegExp): void {
  assert.throws(
    () => normalizeHostName(name),
    (error: unknown) => error instanceof DestinationSyntaxError && error.field === 'host' && pattern.test(error.message),
    `${JSON.stringify(name)} should be refused with ${pattern}`,
  );
  assert.equal(normalizeHostNameOrNull(name), null);
}

test('a host name is lower-cased and loses ONE trailing dot', () => {
  assert.equal(normalizeHostName('Git.Example.COM'), 'git.example.com');
  assert.equal(normalizeHostName('git.example.com.'), 'git.example.com');
  assert.equal(normalizeHostName('GIT.EXAMPLE.COM.'), 'git.example.com');
  assert.equal(normalizeHostName('intranet'), 'intranet', 'a single label is a name');
  assert.equal(normalizeHostName('r3---sn-abc.googlevideo.com'), 'r3---sn-abc.googlevideo.com', 'hyphens inside a label are fine');
  refused('git.example.com..', /empty label/);
  refused('.', /only the root/);
  refused('', /empty/);
});

test('internationalized names become punycode (UTS #46, as browsers do), and punycode stays punycode', () => {
  assert.equal(normalizeHostName('例え.jp'), 'xn--r8jz45g.jp');
  assert.equal(normalizeHostName('例え.JP.'), 'xn--r8jz45g.jp');
  assert.equal(normalizeHostName('XN--R8JZ45G.JP'), 'xn--r8jz45g.jp');
  assert.equal(normalizeHostName('Ｅｘａｍｐｌｅ.com'), 'example.com', 'full-width letters fold to ASCII');
  assert.equal(normalizeHostName('a。b.jp'), 'a.b.jp', 'the ideographic full stop separates labels');
  assert.equal(normalizeHostName('straße.de'), 'xn--strae-oqa.de', 'ß is kept (non-transitional), not turned into ss');
  refused('xn--a.com', /not a valid internationalized name/);
});

test('names that are not LDH labels are refused, naming the problem', () => {
  refused('a..b.com', /empty label/);
  refused('.example.com', /empty label/);
  refused('a_b.example.com', /contains "_"/);
  refused('a b.example.com', /contains " "/);
  refused('a%2eb.example.com', /contains "%"/);
  refused('user@example.com', /contains "@"/);
  refused('example.com:443', /contains ":"/);
  refused('-git.example.com', /starts or ends with a hyphen/);
  refused('git-.example.com', /starts or ends with a hyphen/);
  refused(`${'a'.repeat(64)}.example.com`, /label of 64 characters.*at most 63/);
  assert.equal(normalizeHostName(`${'a'.repeat(63)}.example.com`), `${'a'.repeat(63)}.example.com`);
  const long = Array.from({ length: 4 }, () => 'b'.repeat(63)).join('.');
  refused(`${long}.com`, /characters long after conversion \(at most 253\)/);
  assert.equal(normalizeHostName(`${long.slice(0, 249)}.com`).length, 253);
  refused('10.0.0.1', /is an IP address/);
  refused('foo.123', /ends in a number/);
  refused('foo.0x1f', /ends in a number/);
  assert.equal(normalizeHostName('123.example.com'), '123.example.com', 'a numeric label that is not the last is fine');
});

test('host patterns: exact, "*." for subdomains only, "." for the domain and its subdomains', () => {
  assert.deepEqual(parseHostPattern('Git.Example.com.'), { kind: 'exact', name: 'git.example.com' });
  assert.deepEqual(parseHostPattern('*.Example.com'), { kind: 'subdomains', name: 'example.com' });
  assert.deepEqual(parseHostPattern('.example.com'), { kind: 'domain-and-subdomains', name: 'example.com' });
  assert.deepEqual(parseHostPattern('*.例え.jp'), { kind: 'subdomains', name: 'xn--r8jz45g.jp' });
  assert.deepEqual(parseHostPattern('*.co.jp'), { kind: 'subdomains', name: 'co.jp' }, 'multi-label public suffixes cannot be told from company domains');
  assert.deepEqual(parseHostPattern('intranet'), { kind: 'exact', name: 'intranet' });
  assert.equal(formatHostPattern(parseHostPattern('*.EXAMPLE.com.')), '*.example.com');
  assert.equal(formatHostPattern(parseHostPattern('.example.com')), '.example.com');
  for (const [pattern, message] of [
    ['*', /every destination/],
    ['*.', /every destination/],
    ['*.com', /whole top-level domain "com"/],
    ['.com', /whole top-level domain "com"/],
    ['.local', /whole top-level domain "local"/],
    ['git.*.com', /not the whole first label/],
    ['*git.example.com', /not the whole first label/],
    ['*.*.example.com', /not the whole first label/],
    ['git.example.*', /not the whole first label/],
    ['..example.com', /empty label/],
    ['*.a_b.com', /contains "_"/],
  ] as const) {
    assert.throws(() => parseHostPattern(pattern), (e: unknown) => e instanceof DestinationSyntaxError && e.field === 'hostPattern' && message.test(e.message), pattern);
  }
});

test('isAtOrBelow compares at label boundaries', () => {
  assert.equal(isAtOrBelow('example.com', 'example.com'), true);
  assert.equal(isAtOrBelow('a.example.com', 'example.com'), true);
  assert.equal(isAtOrBelow('badexample.com', 'example.com'), false);
  assert.equal(isAtOrBelow('com', 'example.com'), false);
});
