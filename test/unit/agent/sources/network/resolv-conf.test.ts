import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { dnsSuffixesOf, parseResolvConf } from '../../../../../agent/src/sources/network/parsers/resolv-conf';

/** test/fixtures/agent/network, found upwards from the compiled test (dist/ may live anywhere), else from the working directory. */
function networkFixtures(): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    const candidate = join(dir, 'test', 'fixtures', 'agent', 'network');
    if (existsSync(candidate)) return candidate;
  }
  return join(process.cwd(), 'test', 'fixtures', 'agent', 'network');
}

const fixture = (name: string) => parseResolvConf(readFileSync(join(networkFixtures(), name), 'utf8'));

test('captured resolv.conf files (see test/fixtures/agent/network/SOURCES.md)', () => {
  assert.deepEqual(fixture('debian12-vm.resolv.conf'), { nameservers: ['10.255.255.53'], domain: null, search: [], options: [] });
  const stub = fixture('systemd-resolved-static.resolv.conf');
  assert.deepEqual(stub, { nameservers: ['127.0.0.53'], domain: null, search: [], options: ['edns0', 'trust-ad'] }, '"search ." means no search domains');
  const openresolv = fixture('openresolv-generated.resolv.conf');
  assert.deepEqual(openresolv, { nameservers: ['10.99.0.1', '10.20.0.53', 'fd00:20::53'], domain: 'dev.example.co.jp', search: ['vpn.example.com', 'dev.example.co.jp', 'build.example.co.jp'], options: [] });
  assert.deepEqual(dnsSuffixesOf(openresolv), ['vpn.example.com', 'dev.example.co.jp', 'build.example.co.jp']);
  const debian = fixture('debian-resolvconf-generated.resolv.conf');
  assert.deepEqual(debian, { nameservers: ['192.168.10.1', '127.0.0.53'], domain: null, search: ['corp.example.com', 'office.example.com'], options: ['edns0', 'trust-ad'] }, 'the head comment lines are skipped');
  assert.deepEqual(dnsSuffixesOf(stub), []);
});

test('glibc rules: keyword at line start followed by blank, first-column comments, the last search and domain lines win, both count as suffixes', () => {
  const conf = parseResolvConf(
    [
      '# comment: search commented.example',
      '; also a comment',
      '  search indented.example',
      'searchx not.a.keyword',
      'search first.example',
      'domain Old.Example.',
      'search\tdev.example.co.jp.  build.example.co.jp',
      'domain corp.example.com',
      'nameserver 10.0.0.53 trailing words',
      'nameserver fe80::1%eth0',
      'nameserver',
      'options ndots:2',
      'options rotate',
      'sortlist 10.0.0.0/8',
      '',
    ].join('\r\n'),
  );
  assert.deepEqual(conf, {
    nameservers: ['10.0.0.53', 'fe80::1%eth0'],
    domain: 'corp.example.com',
    search: ['dev.example.co.jp.', 'build.example.co.jp'],
    options: ['ndots:2', 'rotate'],
  });
  assert.deepEqual(dnsSuffixesOf(conf), ['dev.example.co.jp', 'build.example.co.jp', 'corp.example.com']);
  assert.deepEqual(dnsSuffixesOf(parseResolvConf('domain Dev.Example.\nsearch dev.example\n')), ['dev.example'], 'duplicates after lower-casing and the trailing dot');
  assert.deepEqual(parseResolvConf(''), { nameservers: [], domain: null, search: [], options: [] });
});
