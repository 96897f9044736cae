import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { normalizeIpAddress, parseCidr, readIpAddress } from '../../../../../agent/src/core/destinations/ip-address';
import { DestinationSyntaxError } from '../../../../../agent/src/core/destinations/whitelist-entry';

function refused(text: string, pattern: RegExp): void {
  assert.throws(() => parseCidr(text), (e: unknown) => e instanceof DestinationSyntaxError && e.field === 'cidr' && pattern.test(e.message), `${text} should be refused with ${pattern}`);
}

test('blocks and single addresses, IPv4 and IPv6, in canonical text', () => {
  assert.deepEqual(parseCidr('10.0.0.0/8'), { family: 4, bits: 0x0a000000n, prefixLength: 8, text: '10.0.0.0/8' });
  assert.deepEqual(parseCidr('10.0.0.5'), { family: 4, bits: 0x0a000005n, prefixLength: 32, text: '10.0.0.5' });
  assert.deepEqual(parseCidr('10.0.0.5/32'), { family: 4, bits: 0x0a000005n, prefixLength: 32, text: '10.0.0.5' });
  assert.equal(parseCidr('0.0.0.0/0').text, '0.0.0.0/0');
  assert.deepEqual(parseCidr('2001:DB8::/32'), { family: 6, bits: 0x20010db8n << 96n, prefixLength: 32, text: '2001:db8::/32' });
  assert.equal(parseCidr('2001:0db8:0000:0000:0001:0000:0000:0001').text, '2001:db8::1:0:0:1', 'RFC 5952: the first longest zero run is compressed');
  assert.equal(parseCidr('2001:db8:0:1:1:1:1:1').text, '2001:db8:0:1:1:1:1:1', 'a single zero group is not compressed');
  assert.equal(parseCidr('::/0').text, '::/0');
  assert.equal(parseCidr(' 10.1.0.0/16 ').text, '10.1.0.0/16');
});

test('IPv4-mapped IPv6 is IPv4, in dotted and in hex form', () => {
  assert.deepEqual(parseCidr('::ffff:10.0.0.1'), { family: 4, bits: 0x0a000001n, prefixLength: 32, text: '10.0.0.1' });
  assert.deepEqual(parseCidr('::ffff:a00:1'), { family: 4, bits: 0x0a000001n, prefixLength: 32, text: '10.0.0.1' });
  assert.equal(parseCidr('::ffff:10.0.0.0/104').text, '10.0.0.0/8');
  assert.equal(parseCidr('::FFFF:0:0/96').text, '0.0.0.0/0');
  assert.equal(parseCidr('::fffe:0:0/95').family, 6, 'a block wider than the mapped range stays IPv6');
  assert.equal(parseCidr('::10.0.0.1').text, '::a00:1', 'the deprecated IPv4-compatible form is plain IPv6');
  assert.equal(normalizeIpAddress('::ffff:10.0.0.1'), '10.0.0.1');
  assert.equal(normalizeIpAddress('::ffff:a00:1'), '10.0.0.1');
  assert.equal(normalizeIpAddress('0:0:0:0:0:ffff:0a00:0001'), '10.0.0.1');
});

test('host bits set in a block are refused, naming the block that was probably meant', () => {
  refused('10.0.0.5/8', /"10\.0\.0\.5\/8" has host bits set: the block with prefix \/8 starts at 10\.0\.0\.0\/8; write that, or 10\.0\.0\.5 alone/);
  refused('2001:db8::1/32', /starts at 2001:db8::\/32/);
  refused('::ffff:10.0.0.5/104', /starts at 10\.0\.0\.0\/8/);
});

test('malformed blocks are refused', () => {
  refused('', /is empty/);
  refused('10.0.0.0/33', /prefix length "33".*0 to 32/);
  refused('2001:db8::/129', /0 to 128/);
  refused('10.0.0.0/08', /prefix length "08"/);
  refused('10.0.0.0/', /prefix length ""/);
  refused('10.0.0.0/8/8', /prefix length/);
  refused('010.0.0.1', /not an IPv4 or IPv6 address/);
  refused('10.0.0', /not an IPv4 or IPv6 address/);
  refused('256.0.0.1', /not an IPv4 or IPv6 address/);
  refused('fe80::1%eth0', /zone ids/);
  refused('[::1]', /not an IPv4 or IPv6 address/);
  refused('git.example.com', /not an IPv4 or IPv6 address/);
});

test('queries: zone ids and brackets are dropped, canonical text comes back, non-addresses give null', () => {
  assert.equal(normalizeIpAddress('fe80::1%eth0'), 'fe80::1');
  assert.equal(normalizeIpAddress('[2001:db8::1]'), '2001:db8::1');
  assert.equal(normalizeIpAddress('2001:DB8:0:0::1'), '2001:db8::1');
  assert.equal(normalizeIpAddress('10.0.0.1'), '10.0.0.1');
  assert.equal(normalizeIpAddress('fe80::1%'), null);
  assert.equal(normalizeIpAddress('example.com'), null);
  assert.equal(normalizeIpAddress(''), null);
});

test('the address reader accepts exactly what node:net isIP accepts', () => {
  const samples = [
    '0.0.0.0', '255.255.255.255', '1.2.3.4', '01.2.3.4', '1.2.3', '1.2.3.4.5', '1.2.3.256', '1..3.4', ' 1.2.3.4', '1.2.3.4 ',
    '::', '::1', '1::', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8:9', '1::2::3', ':::1', '1:::2',
    ':1:2:3:4:5:6:7', '1:2:3:4:5:6:7:', '12345::1', 'g::1', '::ffff:1.2.3.4', '::1.2.3.4', '1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:7:1.2.3.4',
    '::ffff:1.2.3', '::ffff:01.2.3.4', 'fe80::1%eth0', 'fe80::1%1', 'FE80::ABCD', '1:2:3:4:5::1.2.3.4', '1.2.3.4::', '::1.2.3.4:5',
  ];
  for (const sample of samples) {
    const family = readIpAddress(sample, new Uint32Array(4), true);
    // Only acceptance is compared: mapped IPv6 reads as family 4 here, node calls it 6.
    assert.equal(family !== 0, isIP(sample) !== 0, `${sample}: read as family ${family}, isIP says ${isIP(sample)}`);
  }
});
