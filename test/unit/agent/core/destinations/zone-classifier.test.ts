import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ZoneEnforcementMode, type NetworkZone } from '../../../../../agent/src/generated/mamori/v1/policy';
import { classifyZone } from '../../../../../agent/src/core/destinations/zone-classifier';

const zone = (name: string, cidrs: string[], dnsSuffixes: string[] = []): NetworkZone => ({ name, cidrs, dnsSuffixes, mode: ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_ENFORCE });
const zones = [zone('dev-lan', ['10.20.0.0/16', 'fd00:20::/48'], ['dev.example.co.jp']), zone('office-lan', ['10.0.0.0/8', '192.168.0.0/16'], ['example.co.jp']), zone('vpn', [], ['.例え.jp'])];
const name = (host: Parameters<typeof classifyZone>[1]) => classifyZone(zones, host)?.name ?? null;

test('the first zone in order with one of the addresses inside one of its blocks', () => {
  assert.equal(name({ addresses: ['127.0.0.1/8', '10.20.3.4/24'], dnsSuffixes: [] }), 'dev-lan');
  assert.equal(name({ addresses: ['10.21.3.4/24'], dnsSuffixes: [] }), 'office-lan', '10.21/16 is outside dev-lan but inside 10/8');
  assert.equal(name({ addresses: ['10.21.3.4', '10.20.0.1'], dnsSuffixes: [] }), 'dev-lan', 'zones are tried in order, not addresses');
  assert.equal(name({ addresses: ['fd00:20::5/64'], dnsSuffixes: [] }), 'dev-lan');
  assert.equal(name({ addresses: ['::ffff:10.20.0.9'], dnsSuffixes: [] }), 'dev-lan', 'IPv4-mapped counts as IPv4');
  assert.equal(name({ addresses: ['fe80::1%eth0/64', '172.16.0.1/12'], dnsSuffixes: [] }), null);
  assert.equal(name({ addresses: ['not an address', '10.20.0.1/99x'], dnsSuffixes: [] }), 'dev-lan', 'the prefix length a host address carries is not read');
  assert.equal(name({ addresses: [], dnsSuffixes: [] }), null);
});

test('or a DNS suffix equal to, or below at a label boundary, one of the zone suffixes', () => {
  assert.equal(name({ addresses: [], dnsSuffixes: ['dev.example.co.jp'] }), 'dev-lan');
  assert.equal(name({ addresses: [], dnsSuffixes: ['Build.DEV.example.co.jp.'] }), 'dev-lan');
  assert.equal(name({ addresses: [], dnsSuffixes: ['notdev.example.co.jp'] }), 'office-lan', 'not a label boundary for dev, but below example.co.jp');
  assert.equal(name({ addresses: [], dnsSuffixes: ['example.jp'] }), null);
  assert.equal(name({ addresses: [], dnsSuffixes: ['host.例え.JP'] }), 'vpn', 'punycode on both sides, leading dot ignored');
  assert.equal(name({ addresses: [], dnsSuffixes: ['a..b', 'xn--r8jz45g.jp'] }), 'vpn', 'an unreadable suffix is skipped');
});

test('a zone block that cannot be read is skipped, not fatal', () => {
  assert.equal(classifyZone([zone('broken', ['10.20.0.1/16', 'nonsense']), zone('dev-lan', ['10.20.0.0/16'])], { addresses: ['10.20.0.1'], dnsSuffixes: [] })?.name, 'dev-lan');
});
