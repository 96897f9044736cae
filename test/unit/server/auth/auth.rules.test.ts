import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  credentialOf,
  crossSiteDecision,
  csrfDecision,
  CSRF_MESSAGE,
  effectiveTokenRoles,
  foldUsername,
  leavesNoAdmin,
  parseApiToken,
  parseCookies,
  roleDecision,
  rolesFromJson,
  routeAccessOf,
  sessionCookie,
  sessionState,
  usernameProblem,
} from '../../../../server/src/modules/auth/auth.rules';
import { adminTokenPrincipal, principalActor } from '../../../../server/src/modules/auth/principal';

const ID = '0f8b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d';
const SECRET = 'A'.repeat(42) + '_';
const equal = (a: string, b: string) => a === b;

test('a route with neither @Public nor @Roles is undeclared (the guard answers 500), an empty @Roles() too', () => {
  assert.deepEqual(routeAccessOf(undefined, undefined), { kind: 'undeclared' });
  assert.deepEqual(routeAccessOf(false, []), { kind: 'undeclared' });
  assert.deepEqual(routeAccessOf(true, undefined), { kind: 'public' });
  assert.deepEqual(routeAccessOf(undefined, ['admin']), { kind: 'roles', roles: ['admin'] });
});

test('any one of the listed roles lets the caller in; otherwise the 403 body names both sides in role order', () => {
  assert.equal(roleDecision(['admin', 'security', 'auditor'], ['auditor']), null);
  assert.deepEqual(roleDecision(['security', 'admin', 'auditor'], ['it', 'approver']), {
    statusCode: 403,
    error: 'Forbidden',
    message: 'this needs the role admin, security or auditor; you hold approver, it',
    requiredRoles: ['admin', 'security', 'auditor'],
    heldRoles: ['approver', 'it'],
  });
  assert.equal(roleDecision(['admin'], [])?.message, 'this needs the role admin; you hold no role');
  assert.equal(roleDecision(['admin', 'it'], ['auditor'])?.message, 'this needs the role admin or it; you hold auditor');
});

test('the credential: a bearer API token, any other bearer as the administrator token, else the session cookie', () => {
  assert.deepEqual(credentialOf(`Bearer mamori_pat_${ID}_${SECRET}`, 'mamori_session=s'), { kind: 'api-token', id: ID, secret: SECRET });
  assert.deepEqual(credentialOf('bearer some-admin-token', undefined), { kind: 'admin-token', token: 'some-admin-token' });
  assert.deepEqual(credentialOf(undefined, 'theme=dark; mamori_session=abc'), { kind: 'session', secret: 'abc' });
  assert.deepEqual(credentialOf(undefined, 'theme=dark'), { kind: 'none' });
  assert.deepEqual(credentialOf(undefined, 'mamori_session='), { kind: 'none' });
  assert.equal(credentialOf('Basic dXNlcjpwdw==', undefined).kind, 'malformed');
  const truncated = credentialOf(`Bearer mamori_pat_${ID}_short`, undefined);
  assert.equal(truncated.kind, 'malformed');
  assert.match((truncated as { problem: string }).problem, /API token is malformed/);
});

test('API tokens parse only in their exact shape', () => {
  assert.deepEqual(parseApiToken(`mamori_pat_${ID}_${SECRET}`), { id: ID, secret: SECRET });
  assert.equal(parseApiToken(`mamori_pat_${ID}_${SECRET}x`), null);
  assert.equal(parseApiToken(`mamori_pat_not-a-uuid_${SECRET}`), null);
  assert.equal(parseApiToken(`mamori_admin_${SECRET}`), null);
});

test('cookies: names are trimmed, quoted values unquoted, the first of a repeated name wins', () => {
  const cookies = parseCookies(' a=1; mamori_session="xyz" ;mamori_session=later; broken; =nameless');
  assert.equal(cookies.get('a'), '1');
  assert.equal(cookies.get('mamori_session'), 'xyz');
  assert.equal(cookies.size, 2);
  assert.equal(parseCookies(undefined).size, 0);
});

test('CSRF: safe methods pass; anything else needs the session token', () => {
  for (const method of ['GET', 'HEAD', 'OPTIONS', 'get']) assert.equal(csrfDecision(method, 'tok', undefined, equal), null);
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
    assert.equal(csrfDecision(method, 'tok', undefined, equal), CSRF_MESSAGE);
    assert.equal(csrfDecision(method, 'tok', '', equal), CSRF_MESSAGE);
    assert.equal(csrfDecision(method, 'tok', 'other', equal), CSRF_MESSAGE);
    assert.equal(csrfDecision(method, 'tok', 'tok', equal), null);
  }
});

test('cross-site: an Origin of another host or Sec-Fetch-Site cross-site is refused; none at all passes', () => {
  assert.equal(crossSiteDecision(undefined, 'collector:8080', undefined), null);
  assert.equal(crossSiteDecision('http://collector:8080', 'collector:8080', 'same-origin'), null);
  assert.equal(crossSiteDecision('http://COLLECTOR:8080', 'collector:8080', undefined), null);
  assert.match(crossSiteDecision('https://evil.example', 'collector:8080', undefined) ?? '', /Origin https:\/\/evil\.example is not this collector, collector:8080/);
  assert.match(crossSiteDecision('http://collector:9090', 'collector:8080', undefined) ?? '', /cross-site request refused/);
  assert.match(crossSiteDecision('null', 'collector:8080', undefined) ?? '', /is not a URL/);
  assert.match(crossSiteDecision(undefined, 'collector:8080', 'cross-site') ?? '', /Sec-Fetch-Site: cross-site/);
});

test('a session ends after the idle limit since its last request, and at its absolute expiry whatever the activity', () => {
  const limits = { idleMs: 8 * 3_600_000, maxMs: 12 * 3_600_000 };
  const session = { lastSeenAt: 1_000, expiresAt: 1_000 + limits.maxMs };
  assert.equal(sessionState(session, 1_000 + limits.idleMs - 1, limits), 'active');
  assert.equal(sessionState(session, 1_000 + limits.idleMs, limits), 'idle');
  assert.equal(sessionState({ lastSeenAt: session.expiresAt - 10, expiresAt: session.expiresAt }, session.expiresAt, limits), 'expired');
});

test('the session cookie is HttpOnly, SameSite=Strict, Path=/, Secure only over HTTPS; clearing sets Max-Age=0', () => {
  assert.equal(sessionCookie('abc', false, 3600.7), 'mamori_session=abc; HttpOnly; SameSite=Strict; Path=/; Max-Age=3600');
  assert.equal(sessionCookie('abc', true, 60), 'mamori_session=abc; HttpOnly; SameSite=Strict; Path=/; Max-Age=60; Secure');
  assert.equal(sessionCookie(null, false, 0), 'mamori_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0');
});

test('an API token acts with its roles that the owner still holds', () => {
  assert.deepEqual(effectiveTokenRoles(['auditor', 'security'], ['security', 'admin', 'auditor']), ['security', 'auditor']);
  assert.deepEqual(effectiveTokenRoles(['security'], ['auditor']), []);
  assert.deepEqual(rolesFromJson('["it","root","admin","it"]'), ['admin', 'it']);
  assert.deepEqual(rolesFromJson('not json'), []);
});

test('usernames fold to lower case; bad characters and the administrator token\'s name are refused', () => {
  assert.equal(foldUsername('  Hanako.Yamada@Sales '), 'hanako.yamada@sales');
  assert.equal(usernameProblem('Hanako.Yamada'), null);
  assert.match(usernameProblem('has space') ?? '', /must be 1 to 64 letters, digits/);
  assert.match(usernameProblem('-dash') ?? '', /starting with a letter or digit/);
  assert.match(usernameProblem('x'.repeat(65)) ?? '', /1 to 64/);
  assert.match(usernameProblem('Administrator') ?? '', /reserved for the administrator token/);
});

test('the last enabled admin cannot lose admin or be disabled; with another enabled admin it can', () => {
  const users = [
    { id: 'a', roles: ['admin' as const], disabled: false },
    { id: 'b', roles: ['admin' as const, 'auditor' as const], disabled: true },
    { id: 'c', roles: ['security' as const], disabled: false },
  ];
  assert.equal(leavesNoAdmin(users, 'a', { roles: ['auditor'], disabled: false }), true);
  assert.equal(leavesNoAdmin(users, 'a', { roles: ['admin'], disabled: true }), true);
  assert.equal(leavesNoAdmin(users, 'a', { roles: ['admin', 'it'], disabled: false }), false);
  assert.equal(leavesNoAdmin(users, 'c', { roles: ['auditor'], disabled: true }), false);
  const twoAdmins = [...users, { id: 'd', roles: ['admin' as const], disabled: false }];
  assert.equal(leavesNoAdmin(twoAdmins, 'a', { roles: ['auditor'], disabled: true }), false);
});

test('audit actors: a user by id and username, an API token by id and owner/name, the administrator token by fingerprint', () => {
  const user = { kind: 'user' as const, id: 'u1', username: 'alice', displayName: 'Alice', roles: [], userId: 'u1' };
  assert.deepEqual(principalActor(user), { kind: 'user', id: 'u1', name: 'alice' });
  assert.deepEqual(principalActor({ ...user, kind: 'api-token', id: 't1', tokenId: 't1', tokenName: 'nightly' }), { kind: 'api-token', id: 't1', name: 'alice/nightly' });
  const admin = adminTokenPrincipal('sha256:0123456789abcdef');
  assert.deepEqual(admin.roles, ['admin', 'security', 'approver', 'it', 'auditor']);
  assert.deepEqual(principalActor(admin), { kind: 'admin-token', id: 'sha256:0123456789abcdef', name: 'administrator' });
});
