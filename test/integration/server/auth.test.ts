import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { runWithAuditContext } from '../../../server/src/modules/audit/audit-context';
import { UsersService } from '../../../server/src/modules/auth/users.service';
import { DATABASE_KINDS, provideDatabase } from '../../support/databases';
import { freePort } from '../../support/ports';
import { REPO_ROOT, SERVER_BIN, startNodeProgram } from '../../support/processes';
import { ADMIN_TOKEN, startTestCollector, TestCollector } from './collector-harness';

const ROOT_PASSWORD = 'correct horse battery staple';
const ALICE_PASSWORD = 'alice has a long passphrase';

interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

interface Call {
  body?: unknown;
  cookie?: string;
  csrf?: string;
  token?: string;
  headers?: Record<string, string>;
}

async function call(base: string, method: string, path: string, options: Call = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.cookie !== undefined) headers.cookie = options.cookie;
  if (options.csrf !== undefined) headers['x-csrf-token'] = options.csrf;
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  const response = await fetch(`${base}${path}`, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text === '' ? undefined : JSON.parse(text) };
}

interface SignedIn {
  cookie: string;
  csrf: string;
  setCookie: string;
  body: any;
}

async function signIn(base: string, username: string, password: string): Promise<SignedIn> {
  const answer = await call(base, 'POST', '/api/v1/auth/login', { body: { username, password } });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  const setCookie = answer.headers.get('set-cookie') ?? '';
  const match = /^mamori_session=([^;]+)/.exec(setCookie);
  assert.ok(match, `no session cookie in ${setCookie}`);
  return { cookie: `mamori_session=${match[1]}`, csrf: answer.body.csrfToken, setCookie, body: answer.body };
}

/** The first administrator, made through the service as `mamori-server user add` does. */
async function addFirstAdmin(sut: TestCollector): Promise<void> {
  await runWithAuditContext({ actor: { kind: 'system', id: 'cli', name: 'mamori-server user add (test)' }, sourceAddress: 'local' }, () =>
    sut.collector.app.get(UsersService).create({ username: 'Root', displayName: 'Root Admin', roles: ['admin', 'auditor'], password: ROOT_PASSWORD }),
  );
}

for (const kind of DATABASE_KINDS) {
  describe(`sign-in, sessions, users and API tokens on ${kind}`, () => {
    test('a session cookie signs in, needs the CSRF token to change things, and ends at logout; wrong and unknown users get the same 401', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const base = sut.httpBase;
      await addFirstAdmin(sut);

      const wrong = await call(base, 'POST', '/api/v1/auth/login', { body: { username: 'root', password: 'not the password at all' } });
      const unknown = await call(base, 'POST', '/api/v1/auth/login', { body: { username: 'nobody', password: 'not the password at all' } });
      assert.equal(wrong.status, 401);
      assert.equal(unknown.status, 401);
      assert.equal(wrong.body.message, 'username or password is wrong');
      assert.equal(unknown.body.message, wrong.body.message);
      assert.ok(sut.logs.some((line) => line.includes('sign-in failed') && line.includes('"username":"nobody"') && line.includes('127.0.0.1')), sut.logs.join('\n'));

      // The username is case-insensitive.
      const root = await signIn(base, 'ROOT', ROOT_PASSWORD);
      assert.match(root.setCookie, /HttpOnly/);
      assert.match(root.setCookie, /SameSite=Strict/);
      assert.match(root.setCookie, /Path=\//);
      assert.doesNotMatch(root.setCookie, /Secure/, 'plain HTTP gets no Secure flag');
      assert.deepEqual(root.body.user.roles, ['admin', 'auditor']);
      assert.equal(root.body.user.username, 'root');
      assert.match(root.csrf, /^[A-Za-z0-9_-]{43}$/);

      const session = await call(base, 'GET', '/api/v1/auth/session', { cookie: root.cookie });
      assert.equal(session.status, 200, JSON.stringify(session.body));
      assert.equal(session.body.user.username, 'root');
      assert.equal(session.body.csrfToken, root.csrf);
      // Only the hash of the cookie's secret is stored.
      const secret = root.cookie.split('=')[1];
      const stored = await sut.collector.core.database.query<Record<string, unknown>>('SELECT * FROM user_sessions');
      assert.equal(stored.length, 1);
      assert.ok(!JSON.stringify(stored).includes(secret));
      assert.equal(stored[0].secret_hash, createHash('sha256').update(secret).digest('hex'));

      const alice = { username: 'alice', displayName: 'Alice', roles: ['security', 'auditor'], password: ALICE_PASSWORD };
      const noCsrf = await call(base, 'POST', '/api/v1/users', { cookie: root.cookie, body: alice });
      assert.equal(noCsrf.status, 403);
      assert.equal(noCsrf.body.message, 'CSRF token missing or wrong (send the X-CSRF-Token header from the session)');
      const badCsrf = await call(base, 'POST', '/api/v1/users', { cookie: root.cookie, csrf: 'x'.repeat(43), body: alice });
      assert.equal(badCsrf.status, 403);
      assert.match(badCsrf.body.message, /CSRF token missing or wrong/);
      const crossSite = await call(base, 'POST', '/api/v1/users', { cookie: root.cookie, csrf: root.csrf, body: alice, headers: { origin: 'https://evil.example' } });
      assert.equal(crossSite.status, 403);
      assert.match(crossSite.body.message, /cross-site request refused/);
      const created = await call(base, 'POST', '/api/v1/users', { cookie: root.cookie, csrf: root.csrf, body: alice, headers: { origin: base } });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.deepEqual(created.body.roles, ['security', 'auditor']);
      assert.equal(created.body.disabled, false);
      assert.equal(created.body.password, undefined);
      const clash = await call(base, 'POST', '/api/v1/users', { cookie: root.cookie, csrf: root.csrf, body: { ...alice, username: 'ALICE' } });
      assert.equal(clash.status, 409);
      assert.match(clash.body.message, /"alice" is already taken/);
      const short = await call(base, 'POST', '/api/v1/users', { cookie: root.cookie, csrf: root.csrf, body: { ...alice, username: 'bob', password: 'short' } });
      assert.equal(short.status, 400);
      assert.match(short.body.message, /password must be at least 12 characters/);
      const badRole = await call(base, 'POST', '/api/v1/users', { cookie: root.cookie, csrf: root.csrf, body: { ...alice, username: 'bob', roles: ['root'] } });
      assert.equal(badRole.status, 400);
      assert.match(badRole.body.message, /roles may only contain admin, security, approver, it, auditor/);

      // A user without admin is refused the users API, with both sides named.
      const aliceSession = await signIn(base, 'alice', ALICE_PASSWORD);
      const forbidden = await call(base, 'GET', '/api/v1/users', { cookie: aliceSession.cookie });
      assert.equal(forbidden.status, 403);
      assert.deepEqual(forbidden.body, {
        statusCode: 403,
        error: 'Forbidden',
        message: 'this needs the role admin; you hold security, auditor',
        requiredRoles: ['admin'],
        heldRoles: ['security', 'auditor'],
      });

      // Changing one's own password: the current one must be right, the new one long enough.
      const wrongCurrent = await call(base, 'POST', '/api/v1/auth/password', { cookie: aliceSession.cookie, csrf: aliceSession.csrf, body: { currentPassword: 'guess guess guess', newPassword: 'another long passphrase' } });
      assert.equal(wrongCurrent.status, 400);
      assert.equal(wrongCurrent.body.message, 'currentPassword is wrong');
      const tooShort = await call(base, 'POST', '/api/v1/auth/password', { cookie: aliceSession.cookie, csrf: aliceSession.csrf, body: { currentPassword: ALICE_PASSWORD, newPassword: 'tiny' } });
      assert.equal(tooShort.status, 400);
      assert.match(tooShort.body.message, /newPassword must be at least 12 characters long/);
      const changed = await call(base, 'POST', '/api/v1/auth/password', { cookie: aliceSession.cookie, csrf: aliceSession.csrf, body: { currentPassword: ALICE_PASSWORD, newPassword: 'another long passphrase' } });
      assert.equal(changed.status, 204, JSON.stringify(changed.body));
      assert.equal((await call(base, 'GET', '/api/v1/auth/session', { cookie: aliceSession.cookie })).status, 200, 'the session that changed it stays');
      const oldPassword = await call(base, 'POST', '/api/v1/auth/login', { body: { username: 'alice', password: ALICE_PASSWORD } });
      assert.equal(oldPassword.status, 401);
      const newLogin = await signIn(base, 'alice', 'another long passphrase');

      // An administrator's reset ends every session of that user.
      const reset = await call(base, 'POST', `/api/v1/users/${created.body.id}/password`, { cookie: root.cookie, csrf: root.csrf, body: { password: 'reset by the administrator' } });
      assert.equal(reset.status, 204, JSON.stringify(reset.body));
      for (const ended of [aliceSession, newLogin]) {
        const after = await call(base, 'GET', '/api/v1/auth/session', { cookie: ended.cookie });
        assert.equal(after.status, 401);
        assert.match(after.body.message, /session has ended/);
      }

      // The last enabled admin cannot lose admin or be disabled.
      const rootId = root.body.user.id;
      const demote = await call(base, 'PATCH', `/api/v1/users/${rootId}`, { cookie: root.cookie, csrf: root.csrf, body: { roles: ['auditor'] } });
      assert.equal(demote.status, 409);
      assert.match(demote.body.message, /"root" is the last enabled user with the admin role/);
      const disable = await call(base, 'PATCH', `/api/v1/users/${rootId}`, { cookie: root.cookie, csrf: root.csrf, body: { disabled: true } });
      assert.equal(disable.status, 409);
      const disableAlice = await call(base, 'PATCH', `/api/v1/users/${created.body.id}`, { cookie: root.cookie, csrf: root.csrf, body: { disabled: true, displayName: 'Alice (left)' } });
      assert.equal(disableAlice.status, 200, JSON.stringify(disableAlice.body));
      assert.equal(disableAlice.body.disabled, true);
      const disabledLogin = await call(base, 'POST', '/api/v1/auth/login', { body: { username: 'alice', password: 'reset by the administrator' } });
      assert.equal(disabledLogin.status, 401);
      assert.equal(disabledLogin.body.message, 'username or password is wrong');

      // Logout ends the session and clears the cookie; it needs the CSRF token too.
      assert.equal((await call(base, 'POST', '/api/v1/auth/logout', { cookie: root.cookie })).status, 403);
      const logout = await call(base, 'POST', '/api/v1/auth/logout', { cookie: root.cookie, csrf: root.csrf });
      assert.equal(logout.status, 204);
      assert.match(logout.headers.get('set-cookie') ?? '', /^mamori_session=; .*Max-Age=0/);
      const afterLogout = await call(base, 'GET', '/api/v1/auth/session', { cookie: root.cookie });
      assert.equal(afterLogout.status, 401);
      const nothing = await call(base, 'GET', '/api/v1/auth/session');
      assert.equal(nothing.status, 401);
      assert.match(nothing.body.message, /sign in first/);

      // Every change above is in the audit log with the person as actor.
      const audit = await sut.rest('GET', '/api/v1/audit?subjectType=user&limit=100');
      assert.equal(audit.status, 200);
      const actions = audit.body.items.map((item: any) => `${item.action} by ${item.actor.kind}:${item.actor.name}`).reverse();
      assert.deepEqual(actions, [
        'user.created by system:mamori-server user add (test)',
        'auth.sign_in by user:root',
        'user.created by user:root',
        'auth.sign_in by user:alice',
        'user.password_changed by user:alice',
        'auth.sign_in by user:alice',
        'user.password_reset by user:root',
        'user.display_name_changed by user:root',
        'user.disabled by user:root',
        'auth.sign_out by user:root',
      ]);
      const resetRecord = audit.body.items.find((item: any) => item.action === 'user.password_reset');
      assert.equal(resetRecord.after.sessionsEnded, 2);
      assert.ok(!JSON.stringify(audit.body).includes('scrypt$'), 'no password hash in the audit log');
      assert.ok(audit.body.items.every((item: any) => item.sourceAddress === '127.0.0.1' || item.actor.kind === 'system'));
    });

    test('API tokens: shown once and stored hashed, limited to their roles and the owner\'s current roles, refused once expired or revoked', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const base = sut.httpBase;
      await addFirstAdmin(sut);
      const root = await signIn(base, 'root', ROOT_PASSWORD);

      const byAdminToken = await call(base, 'POST', '/api/v1/api-tokens', { token: ADMIN_TOKEN, body: { name: 'x', roles: ['admin'], expiresInDays: 1 } });
      assert.equal(byAdminToken.status, 403);
      assert.match(byAdminToken.body.message, /sign in as a user/);
      const beyond = await call(base, 'POST', '/api/v1/api-tokens', { cookie: root.cookie, csrf: root.csrf, body: { name: 'x', roles: ['security'], expiresInDays: 1 } });
      assert.equal(beyond.status, 403);
      assert.match(beyond.body.message, /you do not hold security/);
      const forever = await call(base, 'POST', '/api/v1/api-tokens', { cookie: root.cookie, csrf: root.csrf, body: { name: 'x', roles: ['auditor'], expiresInDays: 366 } });
      assert.equal(forever.status, 400);
      assert.match(forever.body.message, /expiresInDays must be a whole number from 1 to 365/);

      const created = await call(base, 'POST', '/api/v1/api-tokens', { cookie: root.cookie, csrf: root.csrf, body: { name: 'audit export', roles: ['auditor'], expiresInDays: 30 } });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const token: string = created.body.token;
      assert.match(token, /^mamori_pat_[0-9a-f-]{36}_[A-Za-z0-9_-]{43}$/);
      assert.deepEqual(created.body.roles, ['auditor']);
      const days = (Date.parse(created.body.expiresAt) - Date.now()) / 86_400_000;
      assert.ok(days > 29.9 && days <= 30, `expires in ${days} days`);
      const rows = await sut.collector.core.database.query<Record<string, unknown>>('SELECT * FROM api_tokens WHERE id = ?', [created.body.id]);
      const secret = token.slice(-43);
      assert.ok(!JSON.stringify(rows).includes(secret), 'the secret is not stored');
      assert.equal(rows[0].secret_hash, createHash('sha256').update(secret).digest('hex'));
      const listed = await call(base, 'GET', '/api/v1/api-tokens', { cookie: root.cookie });
      assert.equal(listed.status, 200);
      assert.equal(listed.body.items.length, 1);
      assert.equal(listed.body.items[0].token, undefined, 'the token is shown only once');
      assert.equal(listed.body.items[0].state, 'active');

      // The token acts with its own roles, not the owner's: no admin.
      const reads = await call(base, 'GET', '/api/v1/audit', { token });
      assert.equal(reads.status, 200, JSON.stringify(reads.body));
      const narrowed = await call(base, 'GET', '/api/v1/users', { token });
      assert.equal(narrowed.status, 403);
      assert.equal(narrowed.body.message, 'this needs the role admin; you hold auditor');
      assert.deepEqual(narrowed.body.heldRoles, ['auditor']);
      const whoami = await call(base, 'GET', '/api/v1/auth/session', { token });
      assert.equal(whoami.body.user.username, 'root');
      assert.equal(whoami.body.csrfToken, null);
      const tampered = await call(base, 'GET', '/api/v1/audit', { token: token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A') });
      assert.equal(tampered.status, 401);
      assert.equal(tampered.body.message, 'API token is not valid');

      // A token needs no CSRF token (no cookie is involved), and its changes name it in the audit log.
      const adminScoped = await call(base, 'POST', '/api/v1/api-tokens', { cookie: root.cookie, csrf: root.csrf, body: { name: 'provisioning', roles: ['admin', 'auditor'], expiresInDays: 1 } });
      assert.equal(adminScoped.status, 201);
      const bob = await call(base, 'POST', '/api/v1/users', { token: adminScoped.body.token, body: { username: 'bob', roles: ['auditor', 'security'], password: 'bob has a long passphrase' } });
      assert.equal(bob.status, 201, JSON.stringify(bob.body));
      const bobRecord = await sut.rest('GET', `/api/v1/audit?subjectType=user&subjectId=${bob.body.id}`);
      assert.deepEqual(bobRecord.body.items[0].actor, { kind: 'api-token', id: adminScoped.body.id, name: 'root/provisioning' });

      // A token's roles shrink with its owner's.
      const bobSession = await signIn(base, 'bob', 'bob has a long passphrase');
      const bobToken = await call(base, 'POST', '/api/v1/api-tokens', { cookie: bobSession.cookie, csrf: bobSession.csrf, body: { name: 'triage bot', roles: ['security', 'auditor'], expiresInDays: 7 } });
      assert.equal(bobToken.status, 201);
      const demoted = await call(base, 'PATCH', `/api/v1/users/${bob.body.id}`, { cookie: root.cookie, csrf: root.csrf, body: { roles: ['auditor'] } });
      assert.equal(demoted.status, 200);
      const bobWhoami = await call(base, 'GET', '/api/v1/auth/session', { token: bobToken.body.token });
      assert.deepEqual(bobWhoami.body.user.roles, ['auditor']);
      const othersTokens = await call(base, 'GET', '/api/v1/api-tokens?all=true', { cookie: bobSession.cookie });
      assert.equal(othersTokens.status, 403);
      assert.match(othersTokens.body.message, /all=true needs the role admin/);
      const everyones = await call(base, 'GET', '/api/v1/api-tokens?all=true', { cookie: root.cookie });
      assert.equal(everyones.body.items.length, 3);
      const notYours = await call(base, 'DELETE', `/api/v1/api-tokens/${created.body.id}`, { cookie: bobSession.cookie, csrf: bobSession.csrf });
      assert.equal(notYours.status, 404);
      // A disabled owner's tokens stop working.
      assert.equal((await call(base, 'PATCH', `/api/v1/users/${bob.body.id}`, { cookie: root.cookie, csrf: root.csrf, body: { disabled: true } })).status, 200);
      const disabledOwner = await call(base, 'GET', '/api/v1/audit', { token: bobToken.body.token });
      assert.equal(disabledOwner.status, 401);
      assert.equal(disabledOwner.body.message, 'API token "triage bot" belongs to "bob", who is disabled');
      assert.equal((await call(base, 'GET', '/api/v1/auth/session', { cookie: bobSession.cookie })).status, 401, 'and their sessions end');

      // Expired: refused with a message that says so.
      await sut.collector.core.database.transaction((sql) => sql.run('UPDATE api_tokens SET expires_at = ? WHERE id = ?', [Date.now() - 1000, adminScoped.body.id]));
      const expired = await call(base, 'GET', '/api/v1/users', { token: adminScoped.body.token });
      assert.equal(expired.status, 401);
      assert.match(expired.body.message, /API token "provisioning" expired at/);

      // Revoked: refused at once.
      const revoke = await call(base, 'DELETE', `/api/v1/api-tokens/${created.body.id}`, { cookie: root.cookie, csrf: root.csrf });
      assert.equal(revoke.status, 204);
      const revoked = await call(base, 'GET', '/api/v1/audit', { token });
      assert.equal(revoked.status, 401);
      assert.match(revoked.body.message, /API token "audit export" was revoked at/);

      const tokenAudit = await sut.rest('GET', '/api/v1/audit?subjectType=api_token&limit=100');
      const tokenActions = tokenAudit.body.items.map((item: any) => `${item.action} ${item.after.name} by ${item.actor.kind}:${item.actor.name}`).reverse();
      assert.deepEqual(tokenActions, [
        'api_token.created audit export by user:root',
        'api_token.created provisioning by user:root',
        'api_token.created triage bot by user:bob',
        'api_token.revoked audit export by user:root',
      ]);
      assert.ok(!JSON.stringify(tokenAudit.body).includes(secret));

      // The administrator token is a principal holding every role.
      const administrator = await sut.rest('GET', '/api/v1/auth/session');
      assert.equal(administrator.status, 200);
      assert.equal(administrator.body.user.username, 'administrator');
      assert.deepEqual(administrator.body.user.roles, ['admin', 'security', 'approver', 'it', 'auditor']);
      const wrongAdmin = await sut.rest('GET', '/api/v1/audit', undefined, 'not-the-administrator-token');
      assert.equal(wrongAdmin.status, 401);
      assert.equal(wrongAdmin.body.message, 'administrator token is not valid');
    });

    test('five failed sign-ins lock the username: the sixth attempt gets 429 with Retry-After, even with the right password', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const base = sut.httpBase;
      await addFirstAdmin(sut);
      for (let attempt = 1; attempt <= 5; attempt++) {
        const failed = await call(base, 'POST', '/api/v1/auth/login', { body: { username: 'root', password: `wrong password ${attempt}` } });
        assert.equal(failed.status, 401, `attempt ${attempt}`);
      }
      const sixth = await call(base, 'POST', '/api/v1/auth/login', { body: { username: 'root', password: ROOT_PASSWORD } });
      assert.equal(sixth.status, 429);
      const retryAfter = Number(sixth.headers.get('retry-after'));
      assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${sixth.headers.get('retry-after')}`);
      assert.match(sixth.body.message, /too many failed sign-ins; try again in \d+ seconds \(after \d{4}-\d\d-\d\dT/);
      // The lock is kept in the database, where every collector process sees it.
      const stored = await sut.collector.core.database.query<{ failures: number | string; locked_until: number | string | null }>('SELECT failures, locked_until FROM login_throttle WHERE username = ?', ['root']);
      assert.equal(Number(stored[0].failures), 5);
      assert.ok(Number(stored[0].locked_until) > Date.now());
      // Another username is not locked by it.
      const other = await call(base, 'POST', '/api/v1/auth/login', { body: { username: 'someone-else', password: 'not the password at all' } });
      assert.equal(other.status, 401);
      // A new password set by an operator lifts the lock.
      const users = sut.collector.app.get(UsersService);
      await users.setPassword((await users.getByUsername('root')).id, 'a brand new passphrase');
      await signIn(base, 'root', 'a brand new passphrase');
    });

    test('a session ends after the idle limit and at its absolute expiry; over HTTPS (X-Forwarded-Proto) the cookie is Secure', async (t) => {
      const sut = await startTestCollector(t, kind, { MAMORI_SESSION_IDLE_MINUTES: '30', MAMORI_SESSION_MAX_HOURS: '2' });
      if (sut === null) return;
      const base = sut.httpBase;
      await addFirstAdmin(sut);
      const secure = await call(base, 'POST', '/api/v1/auth/login', { body: { username: 'root', password: ROOT_PASSWORD }, headers: { 'x-forwarded-proto': 'https' } });
      assert.equal(secure.status, 200);
      assert.match(secure.headers.get('set-cookie') ?? '', /; Secure$/);
      const hours = (Date.parse(secure.body.expiresAt) - Date.now()) / 3_600_000;
      assert.ok(hours > 1.99 && hours <= 2, `absolute limit ${hours} h`);

      const idle = await signIn(base, 'root', ROOT_PASSWORD);
      const expired = await signIn(base, 'root', ROOT_PASSWORD);
      const database = sut.collector.core.database;
      const idOf = async (session: SignedIn) =>
        (await database.query<{ id: string }>('SELECT id FROM user_sessions WHERE secret_hash = ?', [createHash('sha256').update(session.cookie.split('=')[1]).digest('hex')]))[0].id;
      const idleId = await idOf(idle);
      const expiredId = await idOf(expired);
      await database.transaction(async (sql) => {
        await sql.run('UPDATE user_sessions SET last_seen_at = ? WHERE id = ?', [Date.now() - 31 * 60_000, idleId]);
        await sql.run('UPDATE user_sessions SET expires_at = ? WHERE id = ?', [Date.now() - 1_000, expiredId]);
      });
      const afterIdle = await call(base, 'GET', '/api/v1/auth/session', { cookie: idle.cookie });
      assert.equal(afterIdle.status, 401);
      assert.equal(afterIdle.body.message, 'your session ended after 30 minutes without activity; sign in again');
      const afterExpiry = await call(base, 'GET', '/api/v1/auth/session', { cookie: expired.cookie });
      assert.equal(afterExpiry.status, 401);
      assert.match(afterExpiry.body.message, /^your session expired at \d{4}-/);
    });

    test('the built mamori-server adds the first administrator from the command line (--password-stdin), who then signs in', async (t) => {
      const database = await provideDatabase(t, kind);
      if (database === null) return;
      const grpcPort = await freePort();
      const httpPort = await freePort();
      const env = {
        MAMORI_DATA_DIR: database.dataDir,
        MAMORI_DATABASE_URL: database.url,
        MAMORI_GRPC_ADDRESS: `127.0.0.1:${grpcPort}`,
        MAMORI_HTTP_ADDRESS: `127.0.0.1:${httpPort}`,
        MAMORI_SERVER_NAMES: 'localhost,127.0.0.1',
        MAMORI_ADMIN_TOKEN: ADMIN_TOKEN,
      };
      const added = await runWithStdin(['user', 'add', 'Hanako', '--role', 'admin', '--role', 'security', '--display-name', 'Hanako Yamada', '--password-stdin'], env, `${ROOT_PASSWORD}\n`);
      assert.equal(added.code, 0, added.stderr);
      assert.match(added.stdout, /user "hanako" added \(admin, security\)/);
      assert.doesNotMatch(added.stdout, new RegExp(ROOT_PASSWORD));
      const tooShort = await runWithStdin(['user', 'add', 'taro', '--role', 'it', '--password-stdin'], env, 'short\n');
      assert.equal(tooShort.code, 1);
      assert.match(tooShort.stderr, /password must be at least 12 characters long/);
      const generated = await runWithStdin(['user', 'add', 'taro', '--role', 'it'], env, '');
      assert.equal(generated.code, 0, generated.stderr);
      const password = /password \(shown once\): (\S+)/.exec(generated.stdout)?.[1];
      assert.ok(password !== undefined && password.length >= 20, generated.stdout);
      const listed = await runWithStdin(['user', 'list', '--json'], env, '');
      assert.equal(listed.code, 0, listed.stderr);
      assert.deepEqual(JSON.parse(listed.stdout).items.map((user: any) => `${user.username}:${user.roles.join('+')}`), ['hanako:admin+security', 'taro:it']);
      const lastAdmin = await runWithStdin(['user', 'disable', 'hanako'], env, '');
      assert.equal(lastAdmin.code, 1);
      assert.match(lastAdmin.stderr, /last enabled user with the admin role/);

      const server = startNodeProgram('mamori-server', SERVER_BIN, ['run'], env);
      t.after(() => server.stop());
      await server.waitForLine(/"msg":"mamori-server ready"/);
      const base = `http://127.0.0.1:${httpPort}`;
      const hanako = await signIn(base, 'hanako', ROOT_PASSWORD);
      assert.deepEqual(hanako.body.user.roles, ['admin', 'security']);
      assert.equal(hanako.body.user.displayName, 'Hanako Yamada');
      const taro = await signIn(base, 'taro', password);
      assert.deepEqual(taro.body.user.roles, ['it']);

      const audit = await call(base, 'GET', '/api/v1/audit?action=user.created', { token: ADMIN_TOKEN });
      assert.equal(audit.status, 200);
      assert.ok(audit.body.items.every((item: any) => item.actor.kind === 'system' && item.actor.id === 'cli' && item.sourceAddress === 'local'), JSON.stringify(audit.body.items));
    });
  });
}

/** Runs the built mamori-server with `input` on its standard input. */
async function runWithStdin(args: string[], env: Record<string, string | undefined>, input: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [SERVER_BIN, ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env } as NodeJS.ProcessEnv,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  child.stdin.end(input);
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
  clearTimeout(timer);
  return { code, stdout, stderr };
}
