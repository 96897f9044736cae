/**
 * The roles a person or an API token can hold. A user may hold several; a route names the roles
 * any one of which lets a caller in (see roles.decorator.ts). Role checks look only at the
 * caller's Principal, never at how it signed in, so another sign-in method (OIDC) adds a way to
 * make a Principal and touches no route.
 */
export const ROLES = ['admin', 'security', 'approver', 'it', 'auditor'] as const;
export type Role = (typeof ROLES)[number];

export const ROLE_DESCRIPTIONS: Record<Role, string> = {
  admin: 'policy, the whitelist, zones, the USB register, users',
  security: 'review and triage violations; read everything',
  approver: 'decide whitelist and USB exception requests',
  it: 'enroll and manage devices, enrollment tokens and the ledger',
  auditor: 'read-only, including the audit log',
};

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** Roles that may read everything (the fleet, violations, policy, the audit log). */
export const READERS: readonly Role[] = ['admin', 'security', 'auditor'];
