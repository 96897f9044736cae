import assert from 'node:assert/strict';
import type { Role } from '../../../server/src/modules/auth/roles';
import type { TestCollector } from './collector-harness';

/** How a caller proves who it is: nothing, a bearer token (API or administrator), or a console session. */
export type Credential = { kind: 'none' } | { kind: 'token'; token: string } | { kind: 'session'; cookie: string; csrfToken: string };

export interface Answer {
  status: number;
  body: any;
}

const CALL_TIMEOUT_MS = 10_000;

/**
 * One REST call as `credential`. A session call that changes something carries the session's
 * CSRF token, as the console does. A route that streams (text/event-stream) is judged by its
 * status and headers and then closed, since its body never ends.
 */
export async function call(collector: TestCollector, method: string, path: string, credential: Credential, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (credential.kind === 'token') headers.authorization = `Bearer ${credential.token}`;
  if (credential.kind === 'session') {
    headers.cookie = credential.cookie;
    if (method !== 'GET') headers['x-csrf-token'] = credential.csrfToken;
  }
  const payload = method === 'GET' ? undefined : JSON.stringify(body ?? {});
  if (payload !== undefined) headers['content-type'] = 'application/json';
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), CALL_TIMEOUT_MS);
  try {
    const response = await fetch(`${collector.httpBase}${path}`, { method, headers, body: payload, signal: abort.signal });
    if ((response.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
      abort.abort();
      return { status: response.status, body: undefined };
    }
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      // CSV exports and the console's pages answer with text.
    }
    return { status: response.status, body: parsed };
  } finally {
    clearTimeout(timer);
  }
}

export const TEST_PASSWORD = 'role-user-password-Correct-Horse-9';

/** A user with `roles`, made through REST with the administrator token. */
export async function createUser(collector: TestCollector, username: string, roles: Role[]): Promise<{ id: string; username: string }> {
  const created = await collector.rest('POST', '/api/v1/users', { username, displayName: `Test ${username}`, roles, password: TEST_PASSWORD });
  assert.equal(created.status, 201, `creating ${username}: ${JSON.stringify(created.body)}`);
  return created.body;
}

/** Signs `username` in as the console does: the session cookie and its CSRF token. */
export async function signIn(collector: TestCollector, username: string, password = TEST_PASSWORD): Promise<Credential & { kind: 'session' }> {
  const response = await fetch(`${collector.httpBase}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  const body = (await response.json()) as { csrfToken: string };
  assert.equal(response.status, 200, `signing in as ${username}: ${JSON.stringify(body)}`);
  const cookie = response.headers
    .getSetCookie()
    .map((line) => line.split(';')[0])
    .find((pair) => pair.startsWith('mamori_session='));
  assert.ok(cookie !== undefined, `signing in as ${username} set no mamori_session cookie`);
  return { kind: 'session', cookie, csrfToken: body.csrfToken };
}

/** An API token of the signed-in user, holding `roles`. */
export async function apiToken(collector: TestCollector, session: Credential, roles: Role[], name = 'test script'): Promise<Credential & { kind: 'token' }> {
  const token = await call(collector, 'POST', '/api/v1/api-tokens', session, { name, roles, expiresInDays: 1 });
  assert.equal(token.status, 201, `API token: ${JSON.stringify(token.body)}`);
  assert.match(token.body.token, /^mamori_pat_/);
  return { kind: 'token', token: token.body.token };
}

/** A user holding `roles`, signed in to the console and holding an API token of the same roles. */
export async function roleUser(collector: TestCollector, username: string, roles: Role[]): Promise<{ username: string; session: Credential; token: Credential }> {
  await createUser(collector, username, roles);
  const session = await signIn(collector, username);
  return { username, session, token: await apiToken(collector, session, roles) };
}
