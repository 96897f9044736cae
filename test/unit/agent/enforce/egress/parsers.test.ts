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
const COMMENTS = ['mamori:blocked', 'mamori:audited'];

function attemptsOf(text: string, assembler = new NftTraceAssembler(OWN, COMMENTS)) {
  return text.split('\n').map((line) => assembler.push(line)).filter((a) => a !== null);
}

test('trace (enforce, captured): three refused packets, IPv4 TCP, IPv6 TCP and IPv4 UDP, each with its decision', () => {
  const attempts = attemptsOf(fixture('nft-monitor-trace-enforce.txt'));
  assert.deepEqual(
    attempts.map((a) => [a.comment, a.packet.family, a.packet.protocol, a.packet.sourceAddress, a.packet.destinationAddress, a.packet.sourcePort, a.packet.destinationPort, a.packet.outputInterface]),
    [
      ['mamori:blocked', 4, 'tcp', '10.99.0.1', '10.99.0.2', 53162, 9090, 'veth-c'],
      ['mamori:blocked', 6, 'tcp', 'fd00:99::1', 'fd00:99::2', 44992, 9090, 'veth-c'],
      ['mamori:blocked', 4, 'udp', '10.99.0.1', '10.99.0.3', 54392, 7000, 'veth-c'],
    ],
  );
  assert.deepEqual(attempts.map((a) => a.traceId), ['d2820de1', 'c4dfa41b', '8d6d670a']);
});

test('trace (audit, captured): the audited TCP connection and UDP datagram', () => {
  const attempts = attemptsOf(fixture('nft-monitor-trace-audit.txt'));
  assert.deepEqual(
    attempts.map((a) => [a.comment, a.packet.protocol, a.packet.destinationAddress, a.packet.sourcePort, a.packet.destinationPort]),
    [
      ['mamori:audited', 'tcp', '10.99.0.2', 36780, 9090],
      ['mamori:audited', 'udp', '10.99.0.3', 50322, 7000],
    ],
  );
});

test('trace lines: rule text, comment and verdict are read; other tables and comments do not count', () => {
  const rule = parseNftTraceLine('trace id d2820de1 inet mamori_egress observe rule meta nftrace set 1 comment "mamori:blocked" (verdict continue)');
  assert.deepEqual(rule, { kind: 'rule', traceId: 'd2820de1', family: 'inet', table: 'mamori_egress', chain: 'observe', rule: 'meta nftrace set 1 comment "mamori:blocked"', comment: 'mamori:blocked', verdict: 'continue' });
  assert.equal(parseNftTraceLine(''), null);
  assert.equal(parseNftTraceLine('Error: Could not receive netlink messages: No buffer space available'), null);
  const assembler = new NftTraceAssembler(OWN, COMMENTS);
  const packet = 'trace id 0000beef inet filter debug packet: oif "eth0" ip saddr 10.0.0.1 ip daddr 10.0.0.9 ip protocol tcp tcp sport 1000 tcp dport 25 tcp flags == syn';
  assert.equal(assembler.push(packet), null);
  // Someone else's traced rule with a look-alike comment in another table is not ours.
  assert.equal(assembler.push('trace id 0000beef inet filter debug rule meta nftrace set 1 comment "mamori:blocked" (verdict continue)'), null);
  // Our rule for a packet first printed under another table's name still completes it.
  const ours = assembler.push('trace id 0000beef inet mamori_egress observe rule meta nftrace set 1 comment "mamori:blocked" (verdict continue)');
  assert.equal(ours?.packet.destinationPort, 25);
  // The same trace id does not count twice.
  assert.equal(assembler.push('trace id 0000beef inet mamori_egress observe rule meta nftrace set 1 comment "mamori:blocked" (verdict continue)'), null);
  // A rule line without a packet line (the monitor started mid-packet) is not an attempt.
  assert.equal(assembler.push('trace id 0000cafe inet mamori_egress observe rule meta nftrace set 1 comment "mamori:audited" (verdict continue)'), null);
});

test('lines split across chunks are joined', () => {
  const splitter = new LineSplitter();
  assert.deepEqual(splitter.push('trace id 1 inet a b packet: ip saddr 1.2.3.4 ip protocol '), []);
  assert.deepEqual(splitter.push('tcp tcp dport 1\ntrace id 2'), ['trace id 1 inet a b packet: ip saddr 1.2.3.4 ip protocol tcp tcp dport 1']);
  assert.deepEqual(splitter.push(' x\n'), ['trace id 2 x']);
});

test('senders set (captured JSON): destination, protocol, ports and the socket uid', () => {
  assert.deepEqual(parseSendersSetJson(fixture('nft-j-list-set-senders4.json')), [
    { destinationAddress: '10.99.0.3', protocol: 'udp', sourcePort: 54392, destinationPort: 7000, uid: 0 },
    { destinationAddress: '10.99.0.2', protocol: 'tcp', sourcePort: 53162, destinationPort: 9090, uid: 0 },
  ]);
  assert.deepEqual(parseSendersSetJson(fixture('nft-j-list-set-senders6.json')), [
    { destinationAddress: 'fd00:99::2', protocol: 'tcp', sourcePort: 44992, destinationPort: 9090, uid: 65534 },
  ]);
  assert.throws(() => parseSendersSetJson('{"x": 1}'), /not nft JSON/);
});

test('/proc/net (captured): the audited connection, a TIME_WAIT row without inode, the UDP socket', () => {
  const tcp = parseProcNetSockets(fixture('proc-net-tcp-audit.txt'));
  assert.deepEqual(tcp, [
    { localAddress: '10.99.0.1', localPort: 38420, remoteAddress: '10.99.0.2', remotePort: 8080, state: '06', uid: 0, inode: 0 },
    { localAddress: '10.99.0.1', localPort: 36780, remoteAddress: '10.99.0.2', remotePort: 9090, state: '01', uid: 0, inode: 27688 },
  ]);
  const udp = parseProcNetSockets(fixture('proc-net-udp-audit.txt'));
  assert.deepEqual(udp, [{ localAddress: '0.0.0.0', localPort: 50322, remoteAddress: '0.0.0.0', remotePort: 0, state: '07', uid: 0, inode: 26807 }]);
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
