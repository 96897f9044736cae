import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../../../support/processes';
import { LineSplitter, NftTraceAssembler, parseNftTraceLine } from '../../../../../agent/src/enforce/egress/parsers/nft-trace';
import { parseSendersSetJson } from '../../../../../agent/src/enforce/egress/parsers/nft-senders-set';
import { parseProcNetSockets } from '../../../../../agent/src/enforce/egress/parsers/proc-net-sockets';

const fixture = (name: string) => readFileSync(join(REPO_ROOT, 'test/fixtures/agent/nftables', name), 'utf8');
const OWN = { family: 'inet', name: 'mamori_egress' };
const CHAINS = ['observe_blocked', 'observe_audited'];

function attemptsOf(text: string, assembler = new NftTraceAssembler(OWN, CHAINS)) {
  return text.split('\n').map((line) => assembler.push(line)).filter((a) => a !== null);
}

test('trace (enforce, captured): three refused packets, IPv4 TCP, IPv6 TCP and IPv4 UDP, each with its decision', () => {
  const attempts = attemptsOf(fixture('nft-monitor-trace-enforce.txt'));
  assert.deepEqual(
    attempts.map((a) => [a.chain, a.packet.family, a.packet.protocol, a.packet.sourceAddress, a.packet.destinationAddress, a.packet.sourcePort, a.packet.destinationPort, a.packet.outputInterface]),
    [
      ['observe_blocked', 4, 'tcp', '10.99.0.1', '10.99.0.2', 60346, 9090, 'veth-c'],
      ['observe_blocked', 6, 'tcp', 'fd00:99::1', 'fd00:99::2', 52728, 9090, 'veth-c'],
      ['observe_blocked', 4, 'udp', '10.99.0.1', '10.99.0.3', 40267, 7000, 'veth-c'],
    ],
  );
  assert.deepEqual(attempts.map((a) => a.traceId), ['c331ad4a', 'e8eb7040', 'bc13f0eb']);
});

test('trace (audit, captured after the table was replaced under a running monitor): "unknown rule handle" lines still count by chain', () => {
  const attempts = attemptsOf(fixture('nft-monitor-trace-audit-after-replace.txt'));
  assert.deepEqual(
    attempts.map((a) => [a.chain, a.packet.protocol, a.packet.destinationAddress, a.packet.sourcePort, a.packet.destinationPort]),
    [
      ['observe_audited', 'tcp', '10.99.0.2', 40114, 9090],
      ['observe_audited', 'udp', '10.99.0.3', 47576, 7000],
    ],
  );
});

test('trace lines: rule text, comment and verdict are read; other tables and chains do not count', () => {
  const rule = parseNftTraceLine('trace id d2820de1 inet mamori_egress observe_blocked rule meta nftrace set 1 comment "x" (verdict continue)');
  assert.deepEqual(rule, { kind: 'rule', traceId: 'd2820de1', family: 'inet', table: 'mamori_egress', chain: 'observe_blocked', rule: 'meta nftrace set 1 comment "x"', comment: 'x', verdict: 'continue' });
  assert.equal(parseNftTraceLine(''), null);
  assert.equal(parseNftTraceLine('Error: Could not receive netlink messages: No buffer space available'), null);
  const assembler = new NftTraceAssembler(OWN, CHAINS);
  const packet = 'trace id 0000beef inet filter debug packet: oif "eth0" ip saddr 10.0.0.1 ip daddr 10.0.0.9 ip protocol tcp tcp sport 1000 tcp dport 25 tcp flags == syn';
  assert.equal(assembler.push(packet), null);
  // Someone else's table with a chain of the same name is not ours.
  assert.equal(assembler.push('trace id 0000beef inet filter observe_blocked rule meta nftrace set 1 (verdict continue)'), null);
  // Our chain's event for a packet first printed under another table's name still completes it.
  const ours = assembler.push('trace id 0000beef inet mamori_egress observe_blocked rule meta nftrace set 1 (verdict continue)');
  assert.equal(ours?.packet.destinationPort, 25);
  // Later events of the same trace id do not count again.
  assert.equal(assembler.push('trace id 0000beef inet mamori_egress observe_blocked unknown rule handle 23 (verdict continue)'), null);
  // An event without a packet line (the monitor started mid-packet) is not an attempt.
  assert.equal(assembler.push('trace id 0000cafe inet mamori_egress observe_audited rule meta nftrace set 1 (verdict continue)'), null);
  // The output chain of our own table is not an observe chain.
  assert.equal(assembler.push('trace id 0000f00d inet mamori_egress output packet: ip daddr 10.0.0.9 ip protocol tcp tcp dport 1'), null);
  assert.equal(assembler.push('trace id 0000f00d inet mamori_egress output rule ct state new jump observe_blocked (verdict jump observe_blocked)'), null);
});

test('lines split across chunks are joined', () => {
  const splitter = new LineSplitter();
  assert.deepEqual(splitter.push('trace id 1 inet a b packet: ip saddr 1.2.3.4 ip protocol '), []);
  assert.deepEqual(splitter.push('tcp tcp dport 1\ntrace id 2'), ['trace id 1 inet a b packet: ip saddr 1.2.3.4 ip protocol tcp tcp dport 1']);
  assert.deepEqual(splitter.push(' x\n'), ['trace id 2 x']);
});

test('senders set (captured JSON): destination, protocol, ports and the socket uid', () => {
  assert.deepEqual(parseSendersSetJson(fixture('nft-j-list-set-senders4.json')), [
    { destinationAddress: '10.99.0.3', protocol: 'udp', sourcePort: 40267, destinationPort: 7000, uid: 0 },
    { destinationAddress: '10.99.0.2', protocol: 'tcp', sourcePort: 60346, destinationPort: 9090, uid: 0 },
  ]);
  assert.deepEqual(parseSendersSetJson(fixture('nft-j-list-set-senders6.json')), [
    { destinationAddress: 'fd00:99::2', protocol: 'tcp', sourcePort: 52728, destinationPort: 9090, uid: 65534 },
  ]);
  assert.throws(() => parseSendersSetJson('{"x": 1}'), /not nft JSON/);
});

test('/proc/net (captured): the audited connection, a TIME_WAIT row without inode, the UDP socket', () => {
  const tcp = parseProcNetSockets(fixture('proc-net-tcp-audit.txt'));
  assert.deepEqual(tcp, [
    { localAddress: '10.99.0.1', localPort: 43696, remoteAddress: '10.99.0.2', remotePort: 8080, state: '06', uid: 0, inode: 0 },
    { localAddress: '10.99.0.1', localPort: 40114, remoteAddress: '10.99.0.2', remotePort: 9090, state: '01', uid: 0, inode: 51591 },
  ]);
  const udp = parseProcNetSockets(fixture('proc-net-udp-audit.txt'));
  assert.deepEqual(udp, [{ localAddress: '0.0.0.0', localPort: 47576, remoteAddress: '0.0.0.0', remotePort: 0, state: '07', uid: 0, inode: 51590 }]);
  const v6 = parseProcNetSockets(
    '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n' +
      '   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1234 1 0000000000000000 100 0 0 10 0\n' +
      '   1: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000200007F:0050 01 00000000:00000000 00:00000000 00000000  1000        0 5678 1 0000000000000000 100 0 0 10 0\n',
  );
  assert.deepEqual(v6.map((r) => [r.localAddress, r.localPort, r.remoteAddress, r.remotePort, r.uid, r.inode]), [
    ['::1', 8080, '::', 0, 0, 1234],
    ['127.0.0.1', 8080, '127.0.0.2', 80, 1000, 5678],
  ]);
});
