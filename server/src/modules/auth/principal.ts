import type { AuditActor } from '../audit/audit-context';
import { ROLES, type Role } from './roles';

/**
 * Who is calling, however they proved it. Route checks (the guard's @Roles decision) and
 * services look only at this, never at how it was made: a session cookie, an API token and the
 * administrator token each produce one here, and an OIDC sign-in would be one more producer (a
 * callback that finds or creates the user by `auth_provider = 'oidc'` and `external_subject`,
 * then opens the same kind of session) without touching any role check.
 */
export interface Principal {
  kind: 'user' | 'api-token' | 'admin-token';
  /** The user's id (user), the token's id (api-token), the token fingerprint (admin-token). */
  id: string;
  username: string;
  displayName: string;
  roles: Role[];
  /** The person behind it; null for the administrator token. */
  userId: string | null;
  /** The session id (not its secret), for a session-authenticated user. */
  sessionId?: string;
  tokenId?: string;
  /** The API token's name, for audit records ("alice/nightly export"). */
  tokenName?: string;
}

/** The administrator bearer token: the break-glass credential holds every role. */
export function adminTokenPrincipal(fingerprint: string): Principal {
  return { kind: 'admin-token', id: fingerprint, username: 'administrator', displayName: 'Administrator token', roles: [...ROLES], userId: null };
}

/** How audit records name a principal. The administrator token keeps its fingerprint actor. */
export function principalActor(principal: Principal): AuditActor {
  switch (principal.kind) {
    case 'user':
      return { kind: 'user', id: principal.id, name: principal.username };
    case 'api-token':
      return { kind: 'api-token', id: principal.tokenId ?? principal.id, name: `${principal.username}/${principal.tokenName ?? ''}` };
    case 'admin-token':
      return { kind: 'admin-token', id: principal.id, name: principal.username };
  }
}
