import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';

/**
 * An enrollment token is `<tokenId>.<secret>.<caPin>`: the id finds the row, the 256-bit
 * secret proves possession (only its SHA-256 is stored; a fast hash is enough for a random
 * secret of that size), and caPin lets the agent check the CA before it trusts the server.
 */
export interface ParsedEnrollmentToken {
  id: string;
  secret: string;
  caPin: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const BASE64URL_256_BITS = /^[A-Za-z0-9_-]{43}$/;

export function generateEnrollmentToken(caPin: string): ParsedEnrollmentToken & { token: string; secretHash: string } {
  const id = randomUUID();
  const secret = randomBytes(32).toString('base64url');
  return { id, secret, caPin, token: `${id}.${secret}.${caPin}`, secretHash: hashTokenSecret(secret) };
}

export function parseEnrollmentToken(token: string): ParsedEnrollmentToken | null {
  if (typeof token !== 'string') return null;
  const parts = token.trim().split('.');
  if (parts.length !== 3) return null;
  const [id, secret, caPin] = parts;
  if (!UUID.test(id) || !BASE64URL_256_BITS.test(secret) || !BASE64URL_256_BITS.test(caPin)) return null;
  return { id, secret, caPin };
}

export function hashTokenSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export function tokenSecretMatches(secret: string, storedHash: string): boolean {
  const actual = Buffer.from(hashTokenSecret(secret), 'hex');
  const expected = Buffer.from(storedHash, 'hex');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** Why a token cannot enroll an agent; the words end up in the UNAUTHENTICATED message. */
export type TokenRefusal = 'malformed' | 'unknown' | 'revoked' | 'expired' | 'used up' | 'for another CA';

export interface TokenState {
  revokedAt: Date | null;
  expiresAt: Date;
  maxUses: number | null;
  uses: number;
}

/** Pure decision over a stored token: null when it may be used now. Revocation wins over expiry. */
export function tokenRefusal(state: TokenState, now: Date): TokenRefusal | null {
  if (state.revokedAt !== null) return 'revoked';
  if (state.expiresAt.getTime() <= now.getTime()) return 'expired';
  if (state.maxUses !== null && state.uses >= state.maxUses) return 'used up';
  return null;
}
