import 'reflect-metadata';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExecutionContext, HttpException, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Public } from '../../../../server/src/modules/admin-auth/public.decorator';
import type { AdminAuthService } from '../../../../server/src/modules/admin-auth/admin-auth.service';
import { currentAuditContext, runWithAuditContext } from '../../../../server/src/modules/audit/audit-context';
import type { ApiTokensService } from '../../../../server/src/modules/auth/api-tokens.service';
import { AuthGuard, GuardedRequest } from '../../../../server/src/modules/auth/auth.guard';
import type { Principal } from '../../../../server/src/modules/auth/principal';
import { Roles } from '../../../../server/src/modules/auth/roles.decorator';
import type { SessionsService } from '../../../../server/src/modules/auth/sessions.service';

class Routes {
  @Roles('admin')
  adminOnly(): void {}

  @Public()
  open(): void {}

  undeclared(): void {}
}

@Roles('auditor')
class ReaderRoutes {
  inherited(): void {}

  @Roles('security')
  overridden(): void {}
}

const ALICE: Principal = { kind: 'user', id: 'u1', username: 'alice', displayName: 'Alice', roles: ['security'], userId: 'u1', sessionId: 's1' };

function sut(): AuthGuard {
  const adminAuth = { verify: async (token: string) => token === 'the-admin-token' } as unknown as AdminAuthService;
  const sessions = {
    authenticate: async (secret: string) => {
      if (secret !== 'good-session') throw new UnauthorizedException('your session has ended');
      return { principal: ALICE, csrfToken: 'csrf-1', expiresAt: new Date(0) };
    },
  } as unknown as SessionsService;
  const tokens = { authenticate: async () => ({ ...ALICE, kind: 'api-token', id: 't1', tokenId: 't1', tokenName: 'bot', roles: ['auditor'] }) } as unknown as ApiTokensService;
  return new AuthGuard(new Reflector(), adminAuth, sessions, tokens);
}

function contextFor(cls: new () => object, method: string, request: GuardedRequest): ExecutionContext {
  return {
    getType: () => 'http',
    getHandler: () => (cls.prototype as Record<string, unknown>)[method],
    getClass: () => cls,
    switchToHttp: () => ({ getRequest: () => request }),
  } as unknown as ExecutionContext;
}

async function outcome(cls: new () => object, method: string, request: GuardedRequest): Promise<{ status: number; body: unknown; actor: unknown }> {
  const audit = { actor: null, sourceAddress: '127.0.0.1' };
  return runWithAuditContext(audit, async () => {
    try {
      await sut().canActivate(contextFor(cls, method, request));
      return { status: 200, body: request.principal, actor: currentAuditContext()?.actor };
    } catch (error) {
      assert.ok(error instanceof HttpException, String(error));
      return { status: error.getStatus(), body: error.getResponse(), actor: currentAuditContext()?.actor };
    }
  });
}

const request = (method: string, headers: Record<string, string> = {}): GuardedRequest => ({ method, headers });

test('a route without @Roles or @Public fails closed with 500, even for the administrator token', async () => {
  const result = await outcome(Routes, 'undeclared', request('GET', { authorization: 'Bearer the-admin-token' }));
  assert.equal(result.status, 500);
  assert.match(JSON.stringify(result.body), /route has no role declaration \(Routes\.undeclared needs @Roles or @Public\)/);
});

test('a @Public route needs no credential', async () => {
  assert.equal((await outcome(Routes, 'open', request('POST'))).status, 200);
});

test('no credential is 401 naming what to send; a wrong administrator token is 401 too', async () => {
  const none = await outcome(Routes, 'adminOnly', request('GET'));
  assert.equal(none.status, 401);
  assert.match(JSON.stringify(none.body), /sign in first/);
  const wrong = await outcome(Routes, 'adminOnly', request('GET', { authorization: 'Bearer nope' }));
  assert.equal(wrong.status, 401);
  assert.match(JSON.stringify(wrong.body), /administrator token is not valid/);
});

test('the administrator token holds every role and is the audit actor by fingerprint', async () => {
  const result = await outcome(Routes, 'adminOnly', request('DELETE', { authorization: 'Bearer the-admin-token' }));
  assert.equal(result.status, 200);
  assert.equal((result.body as Principal).kind, 'admin-token');
  assert.deepEqual(result.actor, { kind: 'admin-token', id: (result.body as Principal).id, name: 'administrator' });
  assert.match((result.body as Principal).id, /^sha256:[0-9a-f]{16}$/);
});

test('a session may read without the CSRF token, must send it to change things, and is refused from another site', async () => {
  const cookie = 'mamori_session=good-session';
  const read = await outcome(ReaderRoutes, 'overridden', request('GET', { cookie }));
  assert.equal(read.status, 200);
  assert.deepEqual(read.actor, { kind: 'user', id: 'u1', name: 'alice' });
  assert.equal((await outcome(ReaderRoutes, 'overridden', request('PATCH', { cookie }))).status, 403);
  assert.equal((await outcome(ReaderRoutes, 'overridden', request('PATCH', { cookie, 'x-csrf-token': 'csrf-1' }))).status, 200);
  const crossSite = await outcome(ReaderRoutes, 'overridden', request('PATCH', { cookie, 'x-csrf-token': 'csrf-1', origin: 'https://evil.example', host: 'collector:8080' }));
  assert.equal(crossSite.status, 403);
  assert.match(JSON.stringify(crossSite.body), /cross-site request refused/);
  assert.equal((await outcome(ReaderRoutes, 'overridden', request('GET', { cookie: 'mamori_session=stale' }))).status, 401);
});

test('a handler\'s @Roles overrides its controller\'s; a caller without any of them gets 403 naming both', async () => {
  const cookie = 'mamori_session=good-session';
  const inherited = await outcome(ReaderRoutes, 'inherited', request('GET', { cookie }));
  assert.equal(inherited.status, 403);
  assert.deepEqual(inherited.body, { statusCode: 403, error: 'Forbidden', message: 'this needs the role auditor; you hold security', requiredRoles: ['auditor'], heldRoles: ['security'] });
});

test('an API token needs no CSRF token and acts as owner/token name', async () => {
  const token = `mamori_pat_0f8b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d_${'a'.repeat(43)}`;
  const result = await outcome(ReaderRoutes, 'inherited', request('POST', { authorization: `Bearer ${token}` }));
  assert.equal(result.status, 200);
  assert.deepEqual(result.actor, { kind: 'api-token', id: 't1', name: 'alice/bot' });
});
