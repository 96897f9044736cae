import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TransportProtocol } from '../../../../../agent/src/generated/mamori/v1/common';
import { compileWhitelist, type DestinationQuery } from '../../../../../agent/src/core/destinations/whitelist-matcher';
import { toTimestamp } from '../../../../../agent/src/core/timestamps';
import { LinearWhitelist, makeWhitelistWorkload, whitelistEntry } from '../../../../support/whitelist-workload';

const TCP = TransportProtocol.TRANSPORT_PROTOCOL_TCP;
const UDP = TransportProtocol.TRANSPORT_PROTOCOL_UDP;
const NOW = new Date('2026-11-28T00:00:00Z');

function decider(entries: Parameters<typeof compileWhitelist>[0]) {
  const compiled = compileWhitelist(entries, NOW);
  return (query: Partial<DestinationQuery>) => compiled.decide({ port: 443, protocol: TCP, zone: 'dev-lan', ...query });
}

test('exact names, "*." subdomains only and "." domain and subdomains', () => {
  const decide = decider([
    whitelistEntry({ entryId: 'exact', hostPattern: 'git.example.com' }),
    whitelistEntry({ entryId: 'subs', hostPattern: '*.corp.example.org' }),
    whitelistEntry({ entryId: 'domain', hostPattern: '.mail.example.net' }),
  ]);
  assert.deepEqual(decide({ host: 'git.example.com' }), { allowed: true, entryId: 'exact' });
  assert.deepEqual(decide({ host: 'a.git.example.com' }), { allowed: false, entryId: '' }, 'an exact name does not cover its subdomains');
  assert.deepEqual(decide({ host: 'example.com' }), { allowed: false, entryId: '' });
  assert.deepEqual(decide({ host: 'wiki.corp.example.org' }), { allowed: true, entryId: 'subs' });
  assert.deepEqual(decide({ host: 'a.b.corp.example.org' }), { allowed: true, entryId: 'subs' });
  assert.deepEqual(decide({ host: 'corp.example.org' }), { allowed: false, entryId: '' }, '"*.x" does not cover x itself');
  assert.deepEqual(decide({ host: 'evilcorp.example.org' }), { allowed: false, entryId: '' }, 'suffixes match at label boundaries only');
  assert.deepEqual(decide({ host: 'mail.example.net' }), { allowed: true, entryId: 'domain' });
  assert.deepEqual(decide({ host: 'smtp.mail.example.net' }), { allowed: true, entryId: 'domain' });
  assert.deepEqual(decide({ host: 'example.net' }), { allowed: false, entryId: '' });
});

test('query names are normalized like entries: case, trailing dot, internationalized names', () => {
  const decide = decider([whitelistEntry({ entryId: 'git', hostPattern: 'Git.Example.COM.' }), whitelistEntry({ entryId: 'idn', hostPattern: '.例え.jp' }), whitelistEntry({ entryId: 'puny', hostPattern: 'xn--strae-oqa.de' })]);
  for (const host of ['git.example.com', 'GIT.EXAMPLE.COM', 'git.example.com.', 'Git.Example.Com.']) assert.equal(decide({ host }).entryId, 'git', host);
  assert.equal(decide({ host: 'git.example.com..' }).allowed, false, 'only one trailing dot is the root');
  for (const host of ['例え.jp', '例え.JP.', 'xn--r8jz45g.jp', 'XN--R8JZ45G.JP', 'www.例え.jp', 'www.xn--r8jz45g.jp']) assert.equal(decide({ host }).entryId, 'idn', host);
  assert.equal(decide({ host: 'straße.de' }).entryId, 'puny');
  assert.equal(decide({ host: 'a_b.example.com' }).allowed, false, 'an unreadable name matches nothing and does not throw');
  assert.equal(decide({ host: '' }).allowed, false);
  assert.equal(decide({}).allowed, false, 'neither host nor ip');
});

test('blocks: IPv4, IPv6, single addresses; IPv4-mapped IPv6 in entries and queries; zone ids in queries', () => {
  const decide = decider([
    whitelistEntry({ entryId: 'net10', cidr: '10.0.0.0/8' }),
    whitelistEntry({ entryId: 'host', cidr: '192.0.2.7' }),
    whitelistEntry({ entryId: 'mapped', cidr: '::ffff:198.51.100.0/120' }),
    whitelistEntry({ entryId: 'v6', cidr: '2001:db8:1::/48' }),
    whitelistEntry({ entryId: 'll', cidr: 'fe80::/10' }),
  ]);
  assert.equal(decide({ ip: '10.255.0.1' }).entryId, 'net10');
  assert.equal(decide({ ip: '11.0.0.1' }).allowed, false);
  assert.equal(decide({ ip: '192.0.2.7' }).entryId, 'host');
  assert.equal(decide({ ip: '192.0.2.8' }).allowed, false);
  for (const ip of ['::ffff:10.1.2.3', '::ffff:a01:203', '::FFFF:10.1.2.3', '[::ffff:10.1.2.3]']) assert.equal(decide({ ip }).entryId, 'net10', ip);
  assert.equal(decide({ ip: '198.51.100.200' }).entryId, 'mapped', 'a mapped entry is an IPv4 entry');
  assert.equal(decide({ ip: '::ffff:c633:64c8' }).entryId, 'mapped');
  assert.equal(decide({ ip: '2001:db8:1:ffff::1' }).entryId, 'v6');
  assert.equal(decide({ ip: '2001:db8:2::1' }).allowed, false);
  assert.equal(decide({ ip: 'fe80::1%eth0' }).entryId, 'll', 'the zone id is dropped');
  assert.equal(decide({ ip: '::a00:1' }).allowed, false, 'IPv4-compatible IPv6 is not IPv4');
  assert.equal(decide({ ip: 'not-an-ip' }).allowed, false);
  assert.equal(decide({ host: '10.0.0.1' }).entryId, 'net10', 'an address literal as host is judged as an address');
  assert.equal(decide({ host: '[2001:db8:1::5]' }).entryId, 'v6');
});

test('blocks shorter and longer than the 16-bit jump table of the prefix tries, down to /0', () => {
  const decide = decider([
    whitelistEntry({ entryId: 'all4', cidr: '0.0.0.0/0', ports: [{ first: 9999, last: 9999 }] }),
    whitelistEntry({ entryId: 'all6', cidr: '::/0', ports: [{ first: 9999, last: 9999 }] }),
    whitelistEntry({ entryId: 'quarter', cidr: '128.0.0.0/2' }),
    whitelistEntry({ entryId: 'sixteen', cidr: '172.16.0.0/16' }),
    whitelistEntry({ entryId: 'seventeen', cidr: '172.16.128.0/17', ports: [{ first: 22, last: 22 }] }),
  ]);
  assert.equal(decide({ ip: '1.2.3.4', port: 9999 }).entryId, 'all4');
  assert.equal(decide({ ip: '1.2.3.4' }).allowed, false);
  assert.equal(decide({ ip: '2001:db8::1', port: 9999 }).entryId, 'all6');
  assert.equal(decide({ ip: '::ffff:1.2.3.4', port: 9999 }).entryId, 'all4', 'mapped addresses fall under IPv4 blocks only');
  assert.equal(decide({ ip: '191.255.255.255' }).entryId, 'quarter');
  assert.equal(decide({ ip: '192.0.0.0' }).allowed, false);
  assert.equal(decide({ ip: '172.16.255.1', port: 22 }).entryId, 'seventeen');
  assert.equal(decide({ ip: '172.16.255.1' }).entryId, 'sixteen');
  assert.equal(decide({ ip: '172.16.0.1', port: 22 }).entryId, 'sixteen');
  assert.equal(decide({ ip: '172.17.0.1', port: 9999 }).entryId, 'quarter', '172 is inside 128.0.0.0/2: the longer prefix wins');
  assert.equal(decide({ ip: '200.17.0.1', port: 9999 }).entryId, 'all4');
});

test('a query with host and ip is allowed when either matches; the name match is named first', () => {
  const decide = decider([whitelistEntry({ entryId: 'name', hostPattern: 'git.example.com' }), whitelistEntry({ entryId: 'block', cidr: '10.0.0.0/8' })]);
  assert.equal(decide({ host: 'git.example.com', ip: '10.0.0.1' }).entryId, 'name');
  assert.equal(decide({ host: 'other.example.com', ip: '10.0.0.1' }).entryId, 'block');
  assert.equal(decide({ host: 'git.example.com', ip: '203.0.113.1' }).entryId, 'name');
  assert.equal(decide({ host: 'other.example.com', ip: '203.0.113.1' }).allowed, false);
});

test('ports, port ranges and protocol', () => {
  const decide = decider([
    whitelistEntry({ entryId: 'mail', hostPattern: 'smtp.example.com', ports: [{ first: 25, last: 25 }, { first: 587, last: 587 }], protocol: TCP }),
    whitelistEntry({ entryId: 'range', cidr: '10.0.0.0/24', ports: [{ first: 8000, last: 8999 }] }),
    whitelistEntry({ entryId: 'dns', cidr: '10.0.1.53', ports: [{ first: 53, last: 53 }], protocol: UDP }),
  ]);
  assert.equal(decide({ host: 'smtp.example.com', port: 25 }).entryId, 'mail');
  assert.equal(decide({ host: 'smtp.example.com', port: 587 }).entryId, 'mail');
  assert.equal(decide({ host: 'smtp.example.com', port: 465 }).allowed, false);
  assert.equal(decide({ host: 'smtp.example.com', port: 25, protocol: UDP }).allowed, false);
  assert.equal(decide({ host: 'smtp.example.com', port: 25, protocol: TransportProtocol.TRANSPORT_PROTOCOL_UNSPECIFIED }).allowed, false, 'an unknown protocol matches only entries for either');
  for (const [port, allowed] of [[7999, false], [8000, true], [8500, true], [8999, true], [9000, false]] as const) assert.equal(decide({ ip: '10.0.0.9', port }).allowed, allowed, `port ${port}`);
  assert.equal(decide({ ip: '10.0.0.9', port: 8080, protocol: UDP }).entryId, 'range', 'no protocol means TCP and UDP');
  assert.equal(decide({ ip: '10.0.1.53', port: 53, protocol: UDP }).entryId, 'dns');
  assert.equal(decide({ ip: '10.0.1.53', port: 53, protocol: TCP }).allowed, false);
});

test('zone-specific entries apply in their zone only; entries without a zone apply everywhere', () => {
  const decide = decider([whitelistEntry({ entryId: 'dev', hostPattern: 'git.example.com', zone: 'dev-lan' }), whitelistEntry({ entryId: 'all', hostPattern: 'wiki.example.com' })]);
  assert.equal(decide({ host: 'git.example.com', zone: 'dev-lan' }).entryId, 'dev');
  assert.equal(decide({ host: 'git.example.com', zone: 'office-lan' }).allowed, false);
  assert.equal(decide({ host: 'git.example.com', zone: '' }).allowed, false, 'a host in no zone gets only the every-zone entries');
  assert.equal(decide({ host: 'wiki.example.com', zone: 'office-lan' }).entryId, 'all');
  assert.equal(decide({ host: 'wiki.example.com', zone: '' }).entryId, 'all');
});

test('overlapping entries: any match allows, the most specific is named', () => {
  const decide = decider([
    whitelistEntry({ entryId: 'z-domain', hostPattern: '.example.com' }),
    whitelistEntry({ entryId: 'y-subs', hostPattern: '*.example.com' }),
    whitelistEntry({ entryId: 'x-exact', hostPattern: 'example.com' }),
    whitelistEntry({ entryId: 'w-deeper', hostPattern: '.build.example.com', ports: [{ first: 443, last: 443 }] }),
    whitelistEntry({ entryId: 'b-every-zone', hostPattern: 'ci.example.com' }),
    whitelistEntry({ entryId: 'c-dev-zone', hostPattern: 'ci.example.com', zone: 'dev-lan' }),
    whitelistEntry({ entryId: 'b2', hostPattern: 'docs.example.com' }),
    whitelistEntry({ entryId: 'a2', hostPattern: 'docs.example.com' }),
    whitelistEntry({ entryId: 'wide', cidr: '10.0.0.0/8' }),
    whitelistEntry({ entryId: 'narrow', cidr: '10.1.0.0/16', ports: [{ first: 22, last: 22 }] }),
    whitelistEntry({ entryId: 'narrower', cidr: '10.1.2.0/24', zone: 'office-lan' }),
  ]);
  assert.equal(decide({ host: 'example.com' }).entryId, 'x-exact', 'exact before ".example.com" at the same name');
  assert.equal(decide({ host: 'a.example.com' }).entryId, 'y-subs', '"*.example.com" before ".example.com"');
  assert.equal(decide({ host: 'a.build.example.com' }).entryId, 'w-deeper', 'the longer name wins');
  assert.equal(decide({ host: 'a.build.example.com', port: 80 }).entryId, 'y-subs', 'a more specific entry that does not allow the port gives way');
  assert.equal(decide({ host: 'ci.example.com' }).entryId, 'c-dev-zone', 'zone-specific before every-zone');
  assert.equal(decide({ host: 'ci.example.com', zone: 'office-lan' }).entryId, 'b-every-zone');
  assert.equal(decide({ host: 'docs.example.com' }).entryId, 'a2', 'equal otherwise: the smaller entry id');
  assert.equal(decide({ ip: '10.1.2.3', port: 22 }).entryId, 'narrow', 'the longest prefix that allows it (narrower is for office-lan)');
  assert.equal(decide({ ip: '10.1.2.3', port: 22, zone: 'office-lan' }).entryId, 'narrower');
  assert.equal(decide({ ip: '10.1.2.3', port: 443 }).entryId, 'wide');
});

test('expiry: entries expiring at or before now are left out; nextExpiry is the earliest later one', () => {
  const at = (ms: number) => toTimestamp(new Date(NOW.getTime() + ms));
  const compiled = compileWhitelist(
    [
      whitelistEntry({ entryId: 'past', hostPattern: 'a.example.com', expiresAt: at(-1) }),
      whitelistEntry({ entryId: 'now', hostPattern: 'b.example.com', expiresAt: at(0) }),
      whitelistEntry({ entryId: 'soon', hostPattern: 'c.example.com', expiresAt: at(1) }),
      whitelistEntry({ entryId: 'later', hostPattern: 'd.example.com', expiresAt: at(60_000) }),
      whitelistEntry({ entryId: 'never', hostPattern: 'e.example.com' }),
    ],
    NOW,
  );
  const allowed = (host: string) => compiled.decide({ host, port: 443, protocol: TCP, zone: '' }).allowed;
  assert.deepEqual(['a', 'b', 'c', 'd', 'e'].map((l) => allowed(`${l}.example.com`)), [false, false, true, true, true]);
  assert.equal(compiled.entryCount, 3);
  assert.deepEqual(compiled.expiredEntryIds, ['past', 'now']);
  assert.equal(compiled.nextExpiry?.getTime(), NOW.getTime() + 1);
  assert.equal(compileWhitelist([whitelistEntry({ entryId: 'never', cidr: '10.0.0.0/8' })], NOW).nextExpiry, null);
  const later = compileWhitelist(compiled.entriesForZone(''), new Date(NOW.getTime() + 1));
  assert.deepEqual(later.entriesForZone('').map((e) => e.entryId), ['later', 'never'], 'compiled again at nextExpiry, the entry is gone');
});

test('invalid entries are skipped and listed; the rest still compile', () => {
  const compiled = compileWhitelist(
    [
      whitelistEntry({ entryId: 'ok', hostPattern: 'git.example.com' }),
      whitelistEntry({ entryId: 'bits', cidr: '10.0.0.5/8' }),
      whitelistEntry({ entryId: 'tld', hostPattern: '*.com' }),
      whitelistEntry({ entryId: 'both', hostPattern: 'a.example.com', cidr: '10.0.0.0/8' }),
      whitelistEntry({ entryId: '', hostPattern: 'b.example.com' }),
      whitelistEntry({ entryId: 'port', hostPattern: 'c.example.com', ports: [{ first: 0, last: 1 }] }),
    ],
    NOW,
  );
  assert.equal(compiled.entryCount, 1);
  assert.deepEqual(compiled.skipped.map((s) => [s.entryId, s.field]), [['bits', 'cidr'], ['tld', 'hostPattern'], ['both', 'hostPattern'], ['', 'entryId'], ['port', 'ports']]);
  assert.match(compiled.skipped[0]!.message, /10\.0\.0\.5\/8.*host bits/);
  assert.equal(compiled.decide({ host: 'git.example.com', port: 1, protocol: TCP, zone: '' }).entryId, 'ok');
});

test('what a firewall needs: names to resolve, address rules and the zone entries', () => {
  const compiled = compileWhitelist(
    [
      whitelistEntry({ entryId: 'git', hostPattern: 'Git.Example.com', zone: 'dev-lan' }),
      whitelistEntry({ entryId: 'git2', hostPattern: 'git.example.com', ports: [{ first: 22, last: 22 }] }),
      whitelistEntry({ entryId: 'mail', hostPattern: '.mail.example.com' }),
      whitelistEntry({ entryId: 'subs', hostPattern: '*.cdn.example.com' }),
      whitelistEntry({ entryId: 'office', hostPattern: 'office.example.com', zone: 'office-lan' }),
      whitelistEntry({ entryId: 'net', cidr: '::ffff:10.0.0.0/104', ports: [{ first: 443, last: 443 }], protocol: TCP, zone: 'dev-lan' }),
      whitelistEntry({ entryId: 'v6', cidr: '2001:db8::/32' }),
    ],
    NOW,
  );
  assert.deepEqual(compiled.exactHostNames('dev-lan'), [
    { name: 'git.example.com', entryIds: ['git', 'git2'] },
    { name: 'mail.example.com', entryIds: ['mail'] },
  ]);
  assert.deepEqual(compiled.exactHostNames('office-lan').map((n) => n.name), ['git.example.com', 'mail.example.com', 'office.example.com']);
  assert.deepEqual(compiled.addressRules('dev-lan'), [
    { cidr: '10.0.0.0/8', family: 4, ports: [{ first: 443, last: 443 }], protocol: TCP, entryId: 'net' },
    { cidr: '2001:db8::/32', family: 6, ports: [], protocol: TransportProtocol.TRANSPORT_PROTOCOL_UNSPECIFIED, entryId: 'v6' },
  ]);
  assert.deepEqual(compiled.addressRules('office-lan').map((r) => r.entryId), ['v6']);
  assert.deepEqual(compiled.entriesForZone('dev-lan').map((e) => e.entryId), ['git', 'git2', 'mail', 'subs', 'net', 'v6']);
  assert.equal(compiled.entriesForZone('dev-lan')[0]!.hostPattern, 'git.example.com', 'normalized copies');
  compiled.entriesForZone('dev-lan')[1]!.ports.push({ first: 1, last: 1 });
  assert.deepEqual(compiled.entriesForZone('dev-lan')[1]!.ports, [{ first: 22, last: 22 }], 'callers cannot change the compiled entries');
});

test('10,000 entries: the compiled matcher gives the linear reference verdict on seeded random queries', () => {
  for (const seed of [1, 2]) {
    const workload = makeWhitelistWorkload(seed, 10_000, 3_000);
    const compiled = compileWhitelist(workload.entries, workload.now);
    const reference = new LinearWhitelist(workload.entries, workload.now);
    assert.equal(compiled.entryCount, reference.entryCount);
    assert.ok(compiled.skipped.length > 0 && compiled.expiredEntryIds.length > 0, 'the workload has invalid and expired entries');
    let allowed = 0;
    for (const query of workload.queries) {
      const expected = reference.decide(query);
      assert.deepEqual(compiled.decide(query), expected, JSON.stringify(query));
      if (expected.allowed) allowed++;
    }
    // Both answers must be well represented for the comparison to mean something.
    assert.ok(allowed > workload.queries.length * 0.2 && allowed < workload.queries.length * 0.8, `seed ${seed}: ${allowed} of ${workload.queries.length} allowed`);
  }
});
