import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decisionOf } from '../../../../../agent/src/enforce/egress-proxy/egress-proxy';
import { withHeader, withoutHopByHopHeaders } from '../../../../../agent/src/enforce/egress-proxy/hop-by-hop';
import { parseAbsoluteTarget, parseConnectTarget, ProxyRequestError, targetText } from '../../../../../agent/src/enforce/egress-proxy/proxy-target';
import { ZoneEnforcementMode } from '../../../../../agent/src/generated/mamori/v1/policy';

test('CONNECT targets: names normalized, IP literals (odd IPv4 spellings, mapped IPv6) read as addresses, the port required', () => {
  assert.deepEqual(parseConnectTarget('Git.Dev.Example.:443'), { kind: 'name', host: 'git.dev.example', port: 443, unmatchableName: false });
  assert.deepEqual(parseConnectTarget('例え.jp:443'), { kind: 'name', host: 'xn--r8jz45g.jp', port: 443, unmatchableName: false });
  assert.deepEqual(parseConnectTarget('10.0.0.5:22'), { kind: 'ip', ip: '10.0.0.5', port: 22 });
  assert.deepEqual(parseConnectTarget('0x7f.1:22'), { kind: 'ip', ip: '127.0.0.1', port: 22 }, 'the URL parser reads it as 127.0.0.1, so must the proxy');
  assert.deepEqual(parseConnectTarget('[::ffff:10.0.0.5]:443'), { kind: 'ip', ip: '10.0.0.5', port: 443 });
  assert.deepEqual(parseConnectTarget('[2001:DB8::1]:443'), { kind: 'ip', ip: '2001:db8::1', port: 443 });
  assert.deepEqual(parseConnectTarget('build_01.dev.example:443'), { kind: 'name', host: 'build_01.dev.example', port: 443, unmatchableName: true });
  for (const [authority, message] of [
    ['git.dev.example', /needs "host:port"/],
    ['git.dev.example:', /needs a port number/],
    ['git.dev.example:0', /between 1 and 65535/],
    ['git.dev.example:70000', /between 1 and 65535/],
    ['git.dev.example:https', /needs a port number/],
    ['2001:db8::1:443', /needs "host:port"/],
    ['user@git.dev.example:443', /needs "host:port"/],
    [':443', /needs "host:port"/],
    ['exa mple:443', /needs "host:port"/],
  ] as const) {
    assert.throws(() => parseConnectTarget(authority), (e: unknown) => e instanceof ProxyRequestError && e.status === 400 && message.test(e.message), authority);
  }
});

test('absolute URIs: the origin gets the path and the URI authority as Host; userinfo is not a host; https and origin-form are refused', () => {
  assert.deepEqual(parseAbsoluteTarget('http://GIT.dev.example/a/b?c=d#frag'), { target: { kind: 'name', host: 'git.dev.example', port: 80, unmatchableName: false }, path: '/a/b?c=d', hostHeader: 'git.dev.example' });
  assert.deepEqual(parseAbsoluteTarget('HTTP://git.dev.example:8080'), { target: { kind: 'name', host: 'git.dev.example', port: 8080, unmatchableName: false }, path: '/', hostHeader: 'git.dev.example:8080' });
  assert.deepEqual(parseAbsoluteTarget('http://git.dev.example@evil.example/').target, { kind: 'name', host: 'evil.example', port: 80, unmatchableName: false });
  assert.deepEqual(parseAbsoluteTarget('http://[::1]:8080/x').target, { kind: 'ip', ip: '::1', port: 8080 });
  assert.equal(parseAbsoluteTarget('http://[::1]:8080/x').hostHeader, '[::1]:8080');
  assert.deepEqual(parseAbsoluteTarget('http://2130706433/').target, { kind: 'ip', ip: '127.0.0.1', port: 80 });
  for (const [uri, message] of [
    ['/index.html', /absolute http:\/\/ URI/],
    ['https://git.dev.example/', /go through CONNECT/],
    ['ftp://git.dev.example/', /absolute http:\/\/ URI/],
    ['http://exa mple/', /invalid URI/],
  ] as const) {
    assert.throws(() => parseAbsoluteTarget(uri), (e: unknown) => e instanceof ProxyRequestError && e.status === 400 && message.test(e.message), uri);
  }
  assert.equal(targetText({ kind: 'ip', ip: '2001:db8::1', port: 443 }), '[2001:db8::1]:443');
});

test('hop-by-hop headers are dropped, with every header the Connection header names; the rest keep order, case and repeats', () => {
  const raw = [
    'Host', 'a', 'Connection', 'keep-alive, X-Trace', 'X-Trace', '1', 'Proxy-Connection', 'Keep-Alive', 'Proxy-Authorization', 'Basic x',
    'Keep-Alive', 'timeout=5', 'Transfer-Encoding', 'chunked', 'TE', 'trailers', 'Upgrade', 'h2c', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'X-Keep', 'yes',
  ];
  assert.deepEqual(withoutHopByHopHeaders(raw), ['Host', 'a', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'X-Keep', 'yes']);
  assert.deepEqual(withHeader(['host', 'client-chosen', 'Accept', '*/*'], 'Host', 'git.dev.example'), ['Host', 'git.dev.example', 'Accept', '*/*']);
});

test('verdict to decision: off and unset zones allow without an entry; audit lets a miss through as audited; enforce blocks it', () => {
  const miss = { allowed: false, entryId: '', zone: 'dev-lan' };
  const hit = { allowed: true, entryId: 'git', zone: 'dev-lan' };
  assert.deepEqual(decisionOf({ ...miss, mode: ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_ENFORCE }), { decision: 'blocked', entryId: '', zone: 'dev-lan' });
  assert.deepEqual(decisionOf({ ...miss, mode: ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_AUDIT }), { decision: 'audited', entryId: '', zone: 'dev-lan' });
  assert.deepEqual(decisionOf({ ...hit, mode: ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_AUDIT }), { decision: 'allowed', entryId: 'git', zone: 'dev-lan' });
  assert.deepEqual(decisionOf({ ...hit, mode: ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_ENFORCE }), { decision: 'allowed', entryId: 'git', zone: 'dev-lan' });
  for (const mode of [ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_OFF, ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_UNSPECIFIED]) {
    assert.deepEqual(decisionOf({ ...miss, mode }), { decision: 'allowed', entryId: '', zone: 'dev-lan' });
    assert.deepEqual(decisionOf({ ...hit, mode }), { decision: 'allowed', entryId: '', zone: 'dev-lan' });
  }
});
