import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIoregPlatformUuid, parseWhoOutput } from '../../../../agent/src/facts/parsers/who.parser';
import { describeInterfaces } from '../../../../agent/src/facts/host-facts';

test('who output yields each user once, in order', () => {
  const output = [
    'alice    seat0        2024-05-02 08:59 (login screen)',
    'alice    tty2         2024-05-02 08:59 (tty2)',
    'bob      pts/0        2024-05-02 09:14 (10.0.0.8)',
    '',
  ].join('\n');
  assert.deepEqual(parseWhoOutput(output), ['alice', 'bob']);
  assert.deepEqual(parseWhoOutput(''), []);
  assert.deepEqual(parseWhoOutput('carol    console  May  2 08:59 \r\ncarol    ttys000  May  2 09:01 \r\n'), ['carol']);
});

test('ioreg output yields the platform UUID in lower case', () => {
  const output = '+-o J316sAP  <class IOPlatformExpertDevice, id 0x100000210>\n    {\n      "IOPlatformUUID" = "1A2B3C4D-1111-2222-3333-444455556666"\n    }\n';
  assert.equal(parseIoregPlatformUuid(output), '1a2b3c4d-1111-2222-3333-444455556666');
  assert.equal(parseIoregPlatformUuid('nothing here'), '');
});

test('network interfaces exclude loopback and list addresses with prefixes', () => {
  const interfaces = describeInterfaces({
    lo: [{ address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal: true, cidr: '127.0.0.1/8' }],
    eth0: [
      { address: '10.0.0.5', netmask: '255.255.255.0', family: 'IPv4', mac: '52:54:00:AB:CD:EF', internal: false, cidr: '10.0.0.5/24' },
      { address: 'fe80::1', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '52:54:00:AB:CD:EF', internal: false, cidr: 'fe80::1/64', scopeid: 2 },
    ],
  });
  assert.deepEqual(interfaces, [{ name: 'eth0', macAddress: '52:54:00:ab:cd:ef', addresses: ['10.0.0.5/24', 'fe80::1/64'] }]);
});
