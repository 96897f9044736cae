import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TransportProtocol } from '../../../../../agent/src/generated/mamori/v1/common';
import { ZoneEnforcementMode } from '../../../../../agent/src/generated/mamori/v1/policy';
import { DestinationSyntaxError, validateNetworkZone, validateWhitelistEntry } from '../../../../../agent/src/core/destinations/whitelist-entry';
import { whitelistEntry } from '../../../../support/whitelist-workload';

function refused(fields: Parameters<typeof whitelistEntry>[0], field: string, pattern: RegExp): void {
  assert.throws(
    () => validateWhitelistEntry(whitelistEntry(fields)),
    (e: unknown) => e instanceof DestinationSyntaxError && e.field === field && pattern.test(e.message),
    `${JSON.stringify(fields)} should be refused on ${field} with ${pattern}`,
  );
}

test('the normalized copy has canonical patterns, blocks and ports; the input is left as it was', () => {
  const input = whitelistEntry({ entryId: 'e1', hostPattern: ' *.Example.COM. ', ports: [{ first: 8443, last: 8443 }, { first: 80, last: 80 }, { first: 443, last: 443 }, { first: 442, last: 444 }, { first: 81, last: 90 }], service: '' });
  const copy = validateWhitelistEntry(input);
  assert.equal(copy.hostPattern, '*.example.com');
  assert.deepEqual(copy.ports, [{ first: 80, last: 90 }, { first: 442, last: 444 }, { first: 8443, last: 8443 }], 'sorted; overlapping and adjacent ranges merged');
  assert.equal(copy.service, 'any', 'an unset service is "any"');
  assert.equal(input.hostPattern, ' *.Example.COM. ');
  assert.equal(input.ports.length, 5);
  assert.equal(validateWhitelistEntry(whitelistEntry({ entryId: 'e2', hostPattern: '.例え.jp' })).hostPattern, '.xn--r8jz45g.jp');
  assert.equal(validateWhitelistEntry(whitelistEntry({ entryId: 'e3', cidr: '::ffff:10.0.0.0/104' })).cidr, '10.0.0.0/8');
  assert.equal(validateWhitelistEntry(whitelistEntry({ entryId: 'e4', cidr: '2001:DB8::/32', zone: 'dev-lan', service: 'git' })).cidr, '2001:db8::/32');
});

test('exactly one of hostPattern and cidr', () => {
  refused({ entryId: 'e', hostPattern: 'git.example.com', cidr: '10.0.0.0/8' }, 'hostPattern', /either a host pattern or a cidr, not both/);
  refused({ entryId: 'e' }, 'hostPattern', /needs a host pattern .* or a cidr/);
  refused({ entryId: 'e', hostPattern: '*.com' }, 'hostPattern', /top-level domain/);
  refused({ entryId: 'e', cidr: '10.0.0.5/8' }, 'cidr', /host bits set/);
});

test('ports are 1..65535 with first <= last', () => {
  refused({ entryId: 'e', hostPattern: 'a.example.com', ports: [{ first: 0, last: 10 }] }, 'ports', /ports\[0\]\.first is 0/);
  refused({ entryId: 'e', hostPattern: 'a.example.com', ports: [{ first: 443, last: 443 }, { first: 1, last: 65536 }] }, 'ports', /ports\[1\]\.last is 65536/);
  refused({ entryId: 'e', hostPattern: 'a.example.com', ports: [{ first: 444, last: 443 }] }, 'ports', /from 444 down to 443/);
  refused({ entryId: 'e', hostPattern: 'a.example.com', ports: [{ first: 1.5, last: 2 }] }, 'ports', /whole number/);
  assert.deepEqual(validateWhitelistEntry(whitelistEntry({ entryId: 'e', hostPattern: 'a.example.com', ports: [{ first: 1, last: 65535 }] })).ports, [{ first: 1, last: 65535 }]);
});

test('service, protocol, zone and expiry', () => {
  for (const service of ['mail', 'web', 'git', 'any']) assert.equal(validateWhitelistEntry(whitelistEntry({ entryId: 'e', hostPattern: 'a.example.com', service })).service, service);
  refused({ entryId: 'e', hostPattern: 'a.example.com', service: 'ftp' }, 'service', /"ftp" is not one of mail, web, git, any/);
  refused({ entryId: 'e', hostPattern: 'a.example.com', service: 'Mail' }, 'service', /not one of/);
  refused({ entryId: 'e', hostPattern: 'a.example.com', protocol: 'TRANSPORT_PROTOCOL_SCTP' as TransportProtocol }, 'protocol', /not one of/);
  for (const zone of ['', 'dev-lan', 'office_lan', 'zone.2', '0', 'a'.repeat(63)]) assert.equal(validateWhitelistEntry(whitelistEntry({ entryId: 'e', hostPattern: 'a.example.com', zone })).zone, zone);
  for (const zone of ['Dev-LAN', '-dev', '_dev', 'dev lan', 'a'.repeat(64), 'dev/lan']) refused({ entryId: 'e', hostPattern: 'a.example.com', zone }, 'zone', /zone name/);
  refused({ entryId: 'e', hostPattern: 'a.example.com', expiresAt: { seconds: 'soon', nanos: 0 } }, 'expiresAt', /not a valid time/);
});

test('zones: a name, canonical blocks and suffixes', () => {
  const zone = validateNetworkZone({ name: 'dev-lan', cidrs: ['10.20.0.0/16', 'FD00:20::/48'], dnsSuffixes: ['.Dev.Example.co.jp.', '開発.example.jp'], mode: ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_ENFORCE });
  assert.deepEqual(zone.cidrs, ['10.20.0.0/16', 'fd00:20::/48']);
  assert.equal(zone.dnsSuffixes[0], 'dev.example.co.jp', 'leading and trailing dots dropped, lower case');
  assert.match(zone.dnsSuffixes[1]!, /^xn--[a-z0-9]+\.example\.jp$/);
  assert.throws(() => validateNetworkZone({ ...zone, name: '' }), (e: unknown) => e instanceof DestinationSyntaxError && e.field === 'name');
  assert.throws(() => validateNetworkZone({ ...zone, cidrs: ['10.20.0.1/16'] }), (e: unknown) => e instanceof DestinationSyntaxError && e.field === 'cidrs' && /cidrs\[0\].*host bits/.test(e.message));
  assert.throws(() => validateNetworkZone({ ...zone, dnsSuffixes: ['a..b'] }), (e: unknown) => e instanceof DestinationSyntaxError && e.field === 'dnsSuffixes');
});
