import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TransportProtocol } from '../../../../../agent/src/generated/mamori/v1/common';
import { ZoneEnforcementMode } from '../../../../../agent/src/generated/mamori/v1/policy';
import { canonicalIp, disjointAllowElements, NO_ELEMENTS, type AllowElements } from '../../../../../agent/src/enforce/egress/allowed-elements';
import { planAllowedElements, planAlwaysAllowedElements, planMode } from '../../../../../agent/src/enforce/egress/egress-plan';
import { elementText, renderAllowedDelta, renderAllowedReplacement, renderEgressTable, renderTableRemoval } from '../../../../../agent/src/enforce/egress/nft-ruleset';
import { entry, plan } from './support';

const TCP = TransportProtocol.TRANSPORT_PROTOCOL_TCP;
const UDP = TransportProtocol.TRANSPORT_PROTOCOL_UDP;
const ANY = TransportProtocol.TRANSPORT_PROTOCOL_UNSPECIFIED;
const texts = (e: AllowElements) => [...e.ipv4, ...e.ipv6].map(elementText);

test('elements: a protocol-less entry allows TCP and UDP; no ports means every port; single addresses carry no prefix', () => {
  const elements = disjointAllowElements([
    { cidr: '10.0.0.5', ports: [{ first: 443, last: 443 }], protocol: ANY },
    { cidr: '2001:DB8::/32', ports: [], protocol: UDP },
  ]);
  assert.deepEqual(texts(elements), ['10.0.0.5 . tcp . 443', '10.0.0.5 . udp . 443', '2001:db8::/32 . udp . 0-65535']);
});

test('elements: overlapping entries become disjoint (nft refuses overlapping interval elements) and still cover the union', () => {
  const elements = disjointAllowElements([
    { cidr: '10.0.0.0/8', ports: [{ first: 443, last: 443 }], protocol: TCP },
    { cidr: '10.1.0.0/16', ports: [{ first: 400, last: 500 }], protocol: TCP },
    { cidr: '10.1.2.3', ports: [{ first: 443, last: 443 }, { first: 22, last: 22 }], protocol: TCP },
    { cidr: '10.1.2.3', ports: [{ first: 23, last: 23 }], protocol: TCP },
    { cidr: '10.9.9.9/8', ports: [{ first: 80, last: 80 }], protocol: TCP }, // host bits set: same block as 10.0.0.0/8
  ]);
  assert.deepEqual(texts(elements), ['10.0.0.0/8 . tcp . 80', '10.0.0.0/8 . tcp . 443', '10.1.0.0/16 . tcp . 400-442', '10.1.0.0/16 . tcp . 444-500', '10.1.2.3 . tcp . 22-23']);
});

test('elements: a block inside an allowed block with the same ports adds nothing; siblings after a nested block are not treated as nested', () => {
  const elements = disjointAllowElements([
    { cidr: '10.0.0.0/8', ports: [], protocol: TCP },
    { cidr: '10.1.0.0/16', ports: [{ first: 443, last: 443 }], protocol: TCP },
    { cidr: '192.168.0.0/16', ports: [{ first: 443, last: 443 }], protocol: TCP },
    { cidr: '192.168.1.0/24', ports: [{ first: 8443, last: 8443 }], protocol: TCP },
    { cidr: '192.169.0.1', ports: [{ first: 443, last: 443 }], protocol: TCP },
  ]);
  assert.deepEqual(texts(elements), ['10.0.0.0/8 . tcp . 0-65535', '192.168.0.0/16 . tcp . 443', '192.168.1.0/24 . tcp . 8443', '192.169.0.1 . tcp . 443']);
});

test('elements: IPv4-mapped IPv6 counts as IPv4; IPv6 text is canonical; garbage is skipped', () => {
  const elements = disjointAllowElements([
    { cidr: '::ffff:10.0.0.1', ports: [{ first: 25, last: 25 }], protocol: TCP },
    { cidr: '::ffff:10.0.0.0/104', ports: [{ first: 26, last: 26 }], protocol: TCP },
    { cidr: 'FD00:0:0:0:0:0:0:1', ports: [{ first: 25, last: 25 }], protocol: TCP },
    { cidr: 'not-an-address', ports: [], protocol: TCP },
    { cidr: '10.0.0.0/33', ports: [], protocol: TCP },
  ]);
  assert.deepEqual(texts(elements), ['10.0.0.0/8 . tcp . 26', '10.0.0.1 . tcp . 25', 'fd00::1 . tcp . 25']);
  assert.equal(canonicalIp('2001:0db8:0000:0000:0001:0000:0000:0001'), '2001:db8::1:0:0:1');
  assert.equal(canonicalIp('::'), '::');
  assert.equal(canonicalIp('10.0.0.0/8'), null);
});

test('plan: address entries and the current addresses of named entries, with each entry\'s ports and protocol; other zones left out', () => {
  const p = plan([
    entry({ entryId: 'e1', cidr: '10.20.0.0/16', ports: [{ first: 443, last: 443 }], protocol: TCP }),
    entry({ entryId: 'e2', hostPattern: 'git.example.com', ports: [{ first: 22, last: 22 }], protocol: TCP }),
    entry({ entryId: 'e3', hostPattern: '.example.org', ports: [{ first: 53, last: 53 }], protocol: UDP }),
    entry({ entryId: 'e4', hostPattern: '*.wild.example', ports: [{ first: 443, last: 443 }] }),
    entry({ entryId: 'e5', cidr: '172.16.0.1', zone: 'office-lan' }),
  ]);
  const answers: Record<string, string[]> = { 'git.example.com': ['192.0.2.10', '2001:db8::10'], 'example.org': ['198.51.100.7'] };
  const elements = planAllowedElements(p, (name) => answers[name] ?? []);
  assert.deepEqual(texts(elements), ['10.20.0.0/16 . tcp . 443', '192.0.2.10 . tcp . 22', '198.51.100.7 . udp . 53', '2001:db8::10 . tcp . 22']);
  assert.deepEqual(texts(planAlwaysAllowedElements({ ...p, alwaysAllowed: [{ ip: '10.0.0.53', port: 53, protocol: ANY }, { ip: 'fd00::9', port: 50051, protocol: TCP }] })), [
    '10.0.0.53 . tcp . 53',
    '10.0.0.53 . udp . 53',
    'fd00::9 . tcp . 50051',
  ]);
});

test('modes: OFF and UNSPECIFIED install nothing', () => {
  assert.equal(planMode({ mode: ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_OFF }), 'off');
  assert.equal(planMode({ mode: ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_UNSPECIFIED }), 'off');
  assert.equal(planMode({ mode: ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_AUDIT }), 'audit');
  assert.equal(planMode({ mode: ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_ENFORCE }), 'enforce');
});

const allowed = disjointAllowElements([
  { cidr: '10.99.0.2', ports: [{ first: 8080, last: 8080 }], protocol: TCP },
  { cidr: 'fd00:99::2', ports: [{ first: 8000, last: 8100 }], protocol: UDP },
]);
const always = disjointAllowElements([{ cidr: '10.99.0.53', ports: [{ first: 53, last: 53 }], protocol: ANY }]);

test('enforce: one transaction that replaces only the agent\'s table, accepts the allowed, observes and refuses the rest', () => {
  const script = renderEgressTable({ mode: 'enforce', allowed, alwaysAllowed: always, description: 'zone dev-lan; enforce; policy L/7' });
  const lines = script.split('\n').map((l) => l.trim());
  assert.deepEqual(lines.slice(0, 4), ['table inet mamori_egress {}', 'delete table inet mamori_egress', 'table inet mamori_egress {', 'comment "mamori-agent egress whitelist; zone dev-lan; enforce; policy L/7"']);
  assert.ok(!/flush ruleset|delete table (?!inet mamori_egress)/.test(script), 'never flushes or deletes anything but its own table');
  assert.match(script, /set allow4 \{\n\t\ttype ipv4_addr \. inet_proto \. inet_service\n\t\tflags interval\n\t\telements = \{ 10\.99\.0\.2 \. tcp \. 8080 \}/);
  assert.match(script, /set allow6 \{\n\t\ttype ipv6_addr \. inet_proto \. inet_service\n\t\tflags interval\n\t\telements = \{ fd00:99::2 \. udp \. 8000-8100 \}/);
  assert.match(script, /set always4 \{[^}]*elements = \{ 10\.99\.0\.53 \. tcp \. 53,\n\t\t\t10\.99\.0\.53 \. udp \. 53 \}/);
  const chain = lines.slice(lines.indexOf('chain output {') + 1, lines.indexOf('chain observe_blocked {'));
  assert.deepEqual(chain, [
    'type filter hook output priority filter; policy accept;',
    'oif "lo" accept',
    'ct state established,related accept',
    'icmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-report, mld2-listener-report } accept',
    'udp sport { 68, 546 } udp dport { 67, 547 } accept',
    'ip daddr . meta l4proto . th dport @always4 accept',
    'ip6 daddr . meta l4proto . th dport @always6 accept',
    'ip daddr . meta l4proto . th dport @allow4 accept',
    'ip6 daddr . meta l4proto . th dport @allow6 accept',
    'ct state new jump observe_blocked',
    'meta l4proto tcp reject with tcp reset',
    'reject with icmpx type admin-prohibited',
    '}',
  ]);
  assert.match(script, /chain observe_blocked \{\n\t\tmeta nftrace set 1\n/);
  assert.match(script, /add @senders4 \{ ip daddr \. meta l4proto \. th sport \. th dport \. meta skuid \}/);
  assert.match(script, /add @senders6 \{ ip6 daddr \. meta l4proto \. th sport \. th dport \. meta skuid \}/);
});

test('audit: the same table without the refusal; attempts are observed in the audited chain', () => {
  const script = renderEgressTable({ mode: 'audit', allowed, alwaysAllowed: NO_ELEMENTS, description: 'zone dev-lan' });
  assert.doesNotMatch(script, /reject/);
  assert.match(script, /chain observe_audited \{\n\t\tmeta nftrace set 1\n/);
  assert.match(script, /ct state new jump observe_audited\n\t\}/);
  // An empty set has no elements line (nft refuses "elements = { }").
  assert.match(script, /set always4 \{\n\t\ttype ipv4_addr \. inet_proto \. inet_service\n\t\tflags interval\n\t\}/);
});

test('a description cannot break out of the comment string', () => {
  const script = renderEgressTable({ mode: 'audit', allowed, alwaysAllowed: NO_ELEMENTS, description: 'zone "x"\n}\nflush ruleset' });
  assert.match(script, /comment "mamori-agent egress whitelist; zone  x  } flush ruleset"/);
});

test('removal and DNS-driven set swaps touch only the agent\'s table and its allow sets', () => {
  assert.deepEqual(renderTableRemoval(), ['table inet mamori_egress {}', 'delete table inet mamori_egress']);
  assert.equal(
    renderAllowedReplacement(allowed),
    'flush set inet mamori_egress allow4\nflush set inet mamori_egress allow6\nadd element inet mamori_egress allow4 { 10.99.0.2 . tcp . 8080 }\nadd element inet mamori_egress allow6 { fd00:99::2 . udp . 8000-8100 }\n',
  );
  assert.equal(renderAllowedReplacement(NO_ELEMENTS), 'flush set inet mamori_egress allow4\nflush set inet mamori_egress allow6\n');
});

test('a DNS change is sent as a delta: deletions first, then additions; nothing when nothing changed', () => {
  const before = disjointAllowElements([
    { cidr: '192.0.2.10', ports: [{ first: 443, last: 443 }], protocol: TCP },
    { cidr: '2001:db8::10', ports: [{ first: 443, last: 443 }], protocol: TCP },
  ]);
  const after = disjointAllowElements([
    { cidr: '192.0.2.11', ports: [{ first: 443, last: 443 }], protocol: TCP },
    { cidr: '2001:db8::10', ports: [{ first: 443, last: 443 }], protocol: TCP },
    { cidr: '2001:db8::11', ports: [{ first: 443, last: 443 }], protocol: TCP },
  ]);
  assert.equal(
    renderAllowedDelta(before, after),
    'delete element inet mamori_egress allow4 { 192.0.2.10 . tcp . 443 }\nadd element inet mamori_egress allow4 { 192.0.2.11 . tcp . 443 }\nadd element inet mamori_egress allow6 { 2001:db8::11 . tcp . 443 }\n',
  );
  assert.equal(renderAllowedDelta(after, after), null);
});
