import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';

/**
 * Who made a change. Today every REST caller holds the administrator bearer token; signed-in
 * users and API tokens (issue 7's roles) plug in as further kinds through setCurrentActor, from
 * whatever authenticated the request. `system` is the collector itself (an expiry) or the
 * command line on the collector's machine.
 */
export interface AuditActor {
  kind: 'admin-token' | 'user' | 'api-token' | 'system';
  /** Stable and safe to show: a user id, a token id, a token fingerprint, "cli", "collector". */
  id: string;
  name: string;
}

/** What the audit log learns about a change from where it came from. */
export interface AuditContext {
  /** Null until the request is authenticated (guards run after the middleware that opens the context). */
  actor: AuditActor | null;
  /** The client's IP address for REST, "local" for the command line. */
  sourceAddress: string;
}

/** The collector's own changes: expiry timers and anything else no request caused. */
export const COLLECTOR_SYSTEM_ACTOR: AuditActor = { kind: 'system', id: 'collector', name: 'mamori collector' };

const storage = new AsyncLocalStorage<AuditContext>();

/** Runs `work` (and everything it awaits) with `context` as the current audit context. */
export function runWithAuditContext<T>(context: AuditContext, work: () => T): T {
  return storage.run(context, work);
}

export function currentAuditContext(): AuditContext | undefined {
  return storage.getStore();
}

/** The one seam an authentication step uses to say who the caller is. */
export function setCurrentActor(actor: AuditActor): void {
  const context = storage.getStore();
  if (context !== undefined) context.actor = actor;
}

/**
 * The administrator bearer token as an actor. Its id is a fingerprint (the first 16 hex digits
 * of its SHA-256), so records tell a token from its replacement after `admin-token reset`
 * without holding anything that could be presented as the token.
 */
export function adminTokenActor(token: string): AuditActor {
  return { kind: 'admin-token', id: `sha256:${createHash('sha256').update(token, 'utf8').digest('hex').slice(0, 16)}`, name: 'administrator' };
}

/** Express gives IPv4 clients of a dual-stack socket as ::ffff:a.b.c.d; records keep the IPv4 form. */
export function clientAddressOf(address: string | undefined): string {
  if (address === undefined || address === '') return 'unknown';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice('::ffff:'.length) : address;
}
