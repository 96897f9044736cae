import type { Role } from './roles';

/** The console's pages, in nav order, with the roles that may read each (as the server's route table says). */
export const NAV_PAGES = [
  { key: 'violations', path: '/violations', readers: ['admin', 'security', 'auditor'] },
  { key: 'whitelist', path: '/whitelist', readers: ['admin', 'security', 'auditor', 'it', 'approver'] },
  { key: 'usb', path: '/usb', readers: ['admin', 'security', 'auditor', 'it', 'approver'] },
  { key: 'devices', path: '/devices', readers: ['admin', 'security', 'auditor', 'it'] },
  { key: 'audit', path: '/audit', readers: ['admin', 'security', 'auditor'] },
  { key: 'users', path: '/users', readers: ['admin', 'security', 'auditor', 'it', 'approver'] },
] as const satisfies ReadonlyArray<{ key: string; path: string; readers: readonly Role[] }>;

export type NavKey = (typeof NAV_PAGES)[number]['key'];

export function visiblePages(roles: readonly Role[]) {
  return NAV_PAGES.filter((page) => page.readers.some((role) => roles.includes(role)));
}

/** Where a user lands after sign-in: the first page they may read. */
export function landingPath(roles: readonly Role[]): string {
  return visiblePages(roles)[0]?.path ?? '/users';
}
