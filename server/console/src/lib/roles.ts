/** The five roles (mirrors server/src/modules/auth/roles.ts; the server decides, this only shapes the UI). */
export const ROLES = ['admin', 'security', 'approver', 'it', 'auditor'] as const;
export type Role = (typeof ROLES)[number];
export const READERS: readonly Role[] = ['admin', 'security', 'auditor'];
