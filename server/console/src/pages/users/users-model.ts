/**
 * The users page's data (GET /api/v1/users, /api-tokens) and the checks its forms make before
 * sending. The collector decides (password rules, the last administrator); these only catch what
 * needs no server. Pure (no DOM, no React).
 */

export const ALL_ROLES = ['admin', 'security', 'approver', 'it', 'auditor'] as const;

export interface UserView {
  id: string;
  username: string;
  displayName: string;
  roles: string[];
  disabled: boolean;
  createdAt: string;
  lastSignInAt: string | null;
}

export interface ApiTokenView {
  id: string;
  name: string;
  roles: string[];
  createdAt?: string;
  expiresAt: string;
  lastUsedAt?: string | null;
  revokedAt?: string | null;
  state?: 'active' | 'expired' | 'revoked' | string;
  /** Present on ?all=true lists: whose token it is. */
  username?: string;
  userId?: string;
}

export interface CreatedApiToken extends ApiTokenView {
  token: string;
}

/** A list answer as {items} or a bare array. */
export function itemsOf<T>(answer: unknown): T[] {
  if (Array.isArray(answer)) return answer as T[];
  if (answer !== null && typeof answer === 'object' && Array.isArray((answer as { items?: unknown }).items)) return (answer as { items: T[] }).items;
  return [];
}

/** Roles in the order the product lists them; unknown names kept at the end. */
export function orderedRoles(roles: readonly string[]): string[] {
  const known = ALL_ROLES.filter((role) => roles.includes(role));
  return [...known, ...roles.filter((role) => !(ALL_ROLES as readonly string[]).includes(role))];
}

export type FieldProblem<F extends string> = { field: F; problem: string };

const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export interface NewUserForm {
  username: string;
  displayName: string;
  roles: string[];
  password: string;
  confirm: string;
}

/** POST /users body, or what is wrong with the form. */
export function newUserBody(form: NewUserForm): { ok: true; body: Record<string, unknown> } | { ok: false; problems: FieldProblem<'username' | 'displayName' | 'roles' | 'password' | 'confirm'>[] } {
  const problems: FieldProblem<'username' | 'displayName' | 'roles' | 'password' | 'confirm'>[] = [];
  const username = form.username.trim();
  if (username === '') problems.push({ field: 'username', problem: 'required' });
  else if (!USERNAME.test(username)) problems.push({ field: 'username', problem: 'usernameFormat' });
  if (form.displayName.trim().length > 128) problems.push({ field: 'displayName', problem: 'tooLong' });
  if (form.roles.length === 0) problems.push({ field: 'roles', problem: 'rolesRequired' });
  problems.push(...passwordProblems(form.password, form.confirm));
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, body: { username, displayName: form.displayName.trim() === '' ? username : form.displayName.trim(), roles: orderedRoles(form.roles), password: form.password } };
}

/** The collector's shortest password (PASSWORD_MIN_LENGTH); it decides, this only saves a round trip. */
export const PASSWORD_MIN_LENGTH = 12;

/** A new password and its repetition: given, long enough and equal. */
export function passwordProblems(password: string, confirm: string): FieldProblem<'password' | 'confirm'>[] {
  if (password === '') return [{ field: 'password', problem: 'required' }];
  if ([...password].length < PASSWORD_MIN_LENGTH) return [{ field: 'password', problem: 'tooShort' }];
  if (password !== confirm) return [{ field: 'confirm', problem: 'mismatch' }];
  return [];
}

/** PATCH /users/:id body with only what changed; null when nothing did. */
export function userPatch(user: UserView, change: { displayName: string; roles: string[] }): Record<string, unknown> | null {
  const patch: Record<string, unknown> = {};
  const displayName = change.displayName.trim();
  if (displayName !== '' && displayName !== user.displayName) patch.displayName = displayName;
  if (!sameRoles(user.roles, change.roles)) patch.roles = orderedRoles(change.roles);
  return Object.keys(patch).length === 0 ? null : patch;
}

export function sameRoles(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((role) => b.includes(role));
}

export function toggleRole(roles: readonly string[], role: string): string[] {
  return roles.includes(role) ? roles.filter((held) => held !== role) : orderedRoles([...roles, role]);
}

export interface TokenForm {
  name: string;
  roles: string[];
  expiresInDays: string;
}

export const MAX_TOKEN_DAYS = 365;

/** POST /api-tokens body; a token's roles must be among the creator's own. */
export function tokenBody(form: TokenForm, ownRoles: readonly string[]): { ok: true; body: Record<string, unknown> } | { ok: false; problems: FieldProblem<'name' | 'roles' | 'expiresInDays'>[] } {
  const problems: FieldProblem<'name' | 'roles' | 'expiresInDays'>[] = [];
  const name = form.name.trim();
  if (name === '') problems.push({ field: 'name', problem: 'required' });
  else if (name.length > 128) problems.push({ field: 'name', problem: 'tooLong' });
  if (form.roles.length === 0) problems.push({ field: 'roles', problem: 'rolesRequired' });
  else if (form.roles.some((role) => !ownRoles.includes(role))) problems.push({ field: 'roles', problem: 'rolesNotHeld' });
  const days = Number(form.expiresInDays.trim());
  if (form.expiresInDays.trim() === '' || !Number.isInteger(days) || days < 1 || days > MAX_TOKEN_DAYS) problems.push({ field: 'expiresInDays', problem: 'days' });
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, body: { name, roles: orderedRoles(form.roles), expiresInDays: days } };
}

/** A token's state for the list: revoked, expired or active. */
export function tokenState(token: ApiTokenView, now: Date): 'active' | 'expired' | 'revoked' {
  if (token.state === 'active' || token.state === 'expired' || token.state === 'revoked') return token.state;
  if (token.revokedAt !== undefined && token.revokedAt !== null) return 'revoked';
  return new Date(token.expiresAt).getTime() <= now.getTime() ? 'expired' : 'active';
}

/** Enabled users that hold admin: the collector refuses to take admin from (or disable) the last of them. */
export function enabledAdmins(users: readonly UserView[]): number {
  return users.filter((user) => !user.disabled && user.roles.includes('admin')).length;
}
