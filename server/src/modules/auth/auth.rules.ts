import { isRole, ROLES, type Role } from './roles';

/**
 * The guard's decisions as pure functions over what a request carries, so each rule is tested
 * on its own (test/unit/server/auth/auth.rules.test.ts) and the guard only wires them up.
 */

export const SESSION_COOKIE = 'mamori_session';
export const CSRF_HEADER = 'x-csrf-token';
export const API_TOKEN_PREFIX = 'mamori_pat_';

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const API_TOKEN = new RegExp(`^${API_TOKEN_PREFIX}(${UUID})_([A-Za-z0-9_-]{43})$`);

export function formatApiToken(id: string, secret: string): string {
  return `${API_TOKEN_PREFIX}${id}_${secret}`;
}

/** `mamori_pat_<uuid>_<43 base64url characters>` → its parts; null for anything else. */
export function parseApiToken(token: string): { id: string; secret: string } | null {
  const match = API_TOKEN.exec(token);
  return match === null ? null : { id: match[1], secret: match[2] };
}

/** The Cookie header as name → value (the first of a repeated name wins, as browsers send the most specific first). */
export function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  if (header === undefined) return cookies;
  for (const part of header.split(';')) {
    const equals = part.indexOf('=');
    if (equals <= 0) continue;
    const name = part.slice(0, equals).trim();
    let value = part.slice(equals + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    if (name !== '' && !cookies.has(name)) cookies.set(name, value);
  }
  return cookies;
}

export type Credential =
  | { kind: 'api-token'; id: string; secret: string }
  | { kind: 'admin-token'; token: string }
  | { kind: 'session'; secret: string }
  | { kind: 'none' }
  | { kind: 'malformed'; problem: string };

/**
 * Which credential a request presents. An Authorization header wins over the cookie (a script
 * in a browser with a session still means its token); a bearer that looks like an API token is
 * one, any other bearer is tried as the administrator token.
 */
export function credentialOf(authorization: string | undefined, cookieHeader: string | undefined): Credential {
  if (authorization !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (match === null) return { kind: 'malformed', problem: 'Authorization header must be "Bearer <API token or administrator token>"' };
    const token = match[1];
    if (token.startsWith(API_TOKEN_PREFIX)) {
      const parsed = parseApiToken(token);
      if (parsed === null) return { kind: 'malformed', problem: 'API token is malformed (expected mamori_pat_<id>_<secret> as it was shown when created)' };
      return { kind: 'api-token', ...parsed };
    }
    return { kind: 'admin-token', token };
  }
  const session = parseCookies(cookieHeader).get(SESSION_COOKIE);
  if (session !== undefined && session !== '') return { kind: 'session', secret: session };
  return { kind: 'none' };
}

export const NO_CREDENTIAL_MESSAGE =
  'sign in first (the mamori_session cookie is missing), or send "Authorization: Bearer <API token or administrator token>"';

/** What a route declares: open to all, open to any of these roles, or (a programming error) nothing. */
export type RouteAccess = { kind: 'public' } | { kind: 'roles'; roles: readonly Role[] } | { kind: 'undeclared' };

export function routeAccessOf(isPublic: boolean | undefined, roles: readonly Role[] | undefined): RouteAccess {
  if (isPublic === true) return { kind: 'public' };
  if (roles === undefined || roles.length === 0) return { kind: 'undeclared' };
  return { kind: 'roles', roles };
}

export interface ForbiddenBody {
  statusCode: 403;
  error: 'Forbidden';
  message: string;
  requiredRoles: Role[];
  heldRoles: Role[];
}

/** Null when the caller holds one of `required`; else the 403 body naming both sides. */
export function roleDecision(required: readonly Role[], held: readonly Role[]): ForbiddenBody | null {
  if (required.some((role) => held.includes(role))) return null;
  const requiredList = orderedRoles(required);
  const heldList = orderedRoles(held);
  const needs = requiredList.length === 1 ? requiredList[0] : `${requiredList.slice(0, -1).join(', ')} or ${requiredList[requiredList.length - 1]}`;
  return {
    statusCode: 403,
    error: 'Forbidden',
    message: `this needs the role ${needs}; you hold ${heldList.length === 0 ? 'no role' : heldList.join(', ')}`,
    requiredRoles: requiredList,
    heldRoles: heldList,
  };
}

/** Roles in their canonical order without duplicates. */
export function orderedRoles(roles: Iterable<string>): Role[] {
  const set = new Set(roles);
  return ROLES.filter((role) => set.has(role));
}

/** A stored roles column (JSON list) → the valid roles in it; unknown names are dropped. */
export function rolesFromJson(text: string): Role[] {
  try {
    const parsed: unknown = JSON.parse(text);
    return Array.isArray(parsed) ? orderedRoles(parsed.filter((role): role is Role => typeof role === 'string' && isRole(role))) : [];
  } catch {
    return [];
  }
}

/** An API token acts with the roles it was given that its owner still holds. */
export function effectiveTokenRoles(tokenRoles: readonly Role[], ownerRoles: readonly Role[]): Role[] {
  return orderedRoles(tokenRoles.filter((role) => ownerRoles.includes(role)));
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function isUnsafeMethod(method: string): boolean {
  return !SAFE_METHODS.has(method.toUpperCase());
}

export const CSRF_MESSAGE = 'CSRF token missing or wrong (send the X-CSRF-Token header from the session)';

/**
 * A request authenticated by the session cookie that changes something must echo the
 * session's CSRF token in X-CSRF-Token (a cross-site page can make the browser send the
 * cookie but cannot read the token). `equal` is a constant-time comparison.
 */
export function csrfDecision(method: string, expected: string, presented: string | undefined, equal: (a: string, b: string) => boolean): string | null {
  if (!isUnsafeMethod(method)) return null;
  if (presented === undefined || presented === '' || !equal(presented, expected)) return CSRF_MESSAGE;
  return null;
}

/**
 * Refuses a request a browser marks as coming from another site: an Origin header whose host
 * is not the Host the request was sent to, or Sec-Fetch-Site "cross-site". Requests without
 * these headers (scripts, older browsers) pass; the CSRF token still guards them.
 */
export function crossSiteDecision(origin: string | undefined, host: string | undefined, secFetchSite: string | undefined): string | null {
  if (secFetchSite !== undefined && secFetchSite.toLowerCase() === 'cross-site') {
    return 'cross-site request refused (the browser marked it Sec-Fetch-Site: cross-site)';
  }
  if (origin === undefined || origin === '') return null;
  let originHost: string;
  try {
    originHost = new URL(origin).host;
  } catch {
    return `cross-site request refused (Origin "${origin.slice(0, 100)}" is not a URL)`;
  }
  if (host === undefined || originHost.toLowerCase() !== host.toLowerCase()) {
    return `cross-site request refused (Origin ${origin.slice(0, 100)} is not this collector${host === undefined ? '' : `, ${host}`})`;
  }
  return null;
}

export interface SessionLimits {
  idleMs: number;
  maxMs: number;
}

/** Whether a session is still good at `now`: ended after `idleMs` without a request, and at its absolute expiry. */
export function sessionState(session: { lastSeenAt: number; expiresAt: number }, now: number, limits: SessionLimits): 'active' | 'idle' | 'expired' {
  if (now >= session.expiresAt) return 'expired';
  if (now >= session.lastSeenAt + limits.idleMs) return 'idle';
  return 'active';
}

/** The Set-Cookie value for a new session, or (secret null) one that clears it. */
export function sessionCookie(secret: string | null, secure: boolean, maxAgeSeconds: number): string {
  const parts = [`${SESSION_COOKIE}=${secret ?? ''}`, 'HttpOnly', 'SameSite=Strict', 'Path=/'];
  parts.push(secret === null ? 'Max-Age=0' : `Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}`);
  if (secure) parts.push('Secure');
  return parts.join('; ');
}

/** The usernames people sign in with: folded to lower case, so "Alice" and "alice" are one account. */
const USERNAME = /^[a-z0-9][a-z0-9._@-]{0,63}$/;
/** The administrator token's name in audit records; no person may take it. */
export const RESERVED_USERNAMES = new Set(['administrator']);

export function foldUsername(raw: string): string {
  return raw.trim().toLowerCase();
}

/** The reason `raw` cannot be a new username, or null. */
export function usernameProblem(raw: string): string | null {
  const folded = foldUsername(raw);
  if (!USERNAME.test(folded)) {
    return `username "${raw.slice(0, 80)}" must be 1 to 64 letters, digits, ".", "_", "@" or "-", starting with a letter or digit`;
  }
  if (RESERVED_USERNAMES.has(folded)) return `username "${folded}" is reserved for the administrator token`;
  return null;
}

/**
 * Whether a change to one user (its roles and disabled flag afterwards) would leave no enabled
 * user holding admin, so nobody could manage users any more from the console.
 */
export function leavesNoAdmin(
  users: readonly { id: string; roles: readonly Role[]; disabled: boolean }[],
  changedId: string,
  after: { roles: readonly Role[]; disabled: boolean },
): boolean {
  const isAdmin = (user: { roles: readonly Role[]; disabled: boolean }) => !user.disabled && user.roles.includes('admin');
  const before = users.find((user) => user.id === changedId);
  if (before === undefined || !isAdmin(before) || isAdmin(after)) return false;
  return !users.some((user) => user.id !== changedId && isAdmin(user));
}
