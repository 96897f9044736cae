import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * Passwords are stored with scrypt (memory-hard, in Node's own crypto, no native add-on) in a
 * self-describing format, so the cost can be raised later and old hashes still verify:
 *
 *     scrypt$ln=15,r=8,p=1$<salt, base64url>$<32-byte key, base64url>
 *
 * ln is log2 of N. N=2^15, r=8 takes 32 MiB and ~50-100 ms per hash on a small server.
 */
export const PASSWORD_PARAMS = { ln: 15, r: 8, p: 1 } as const;
const KEY_LENGTH = 32;
const SALT_LENGTH = 16;
/** Upper bounds for parameters read back from the database, so a tampered row cannot make a verify take the machine. */
const MAX_LN = 20;
const MAX_R = 16;
const MAX_P = 4;

export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 1024;

/** The reason a new password is refused, or null when it is acceptable. */
export function passwordProblem(password: string, field = 'password'): string | null {
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) return `${field} must be at least ${PASSWORD_MIN_LENGTH} characters long (it has ${length}); a few unrelated words make a good one`;
  if (length > PASSWORD_MAX_LENGTH) return `${field} must be at most ${PASSWORD_MAX_LENGTH} characters long`;
  return null;
}

function derive(password: string, salt: Buffer, params: { ln: number; r: number; p: number }): Promise<Buffer> {
  const N = 2 ** params.ln;
  // Node refuses more than 32 MiB by default; allow what these parameters need plus room.
  const options: ScryptOptions = { N, r: params.r, p: params.p, maxmem: 128 * N * params.r * params.p + 16 * 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, KEY_LENGTH, options, (error, key) => (error === null ? resolve(key) : reject(error)));
  });
}

export async function hashPassword(password: string, params: { ln: number; r: number; p: number } = PASSWORD_PARAMS): Promise<string> {
  const salt = randomBytes(SALT_LENGTH);
  const key = await derive(password, salt, params);
  return `scrypt$ln=${params.ln},r=${params.r},p=${params.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/** Parses a stored hash; null when it is not one this code wrote (or its parameters are out of bounds). */
export function parsePasswordHash(stored: string): { ln: number; r: number; p: number; salt: Buffer; key: Buffer } | null {
  const match = /^scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/.exec(stored);
  if (match === null) return null;
  const [ln, r, p] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (ln < 10 || ln > MAX_LN || r < 1 || r > MAX_R || p < 1 || p > MAX_P) return null;
  const salt = Buffer.from(match[4], 'base64url');
  const key = Buffer.from(match[5], 'base64url');
  if (salt.length < 8 || key.length !== KEY_LENGTH) return null;
  return { ln, r, p, salt, key };
}

/** Constant-time check of `password` against a stored hash; false for a hash it cannot read. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parsePasswordHash(stored);
  if (parsed === null) return false;
  const key = await derive(password, parsed.salt, parsed);
  return timingSafeEqual(key, parsed.key);
}

/** Whether a stored hash was made with weaker parameters than today's (to re-hash at the next sign-in). */
export function needsRehash(stored: string): boolean {
  const parsed = parsePasswordHash(stored);
  return parsed === null || parsed.ln < PASSWORD_PARAMS.ln || parsed.r < PASSWORD_PARAMS.r;
}

let dummy: Promise<string> | null = null;

/**
 * A hash of a random password with today's parameters. Sign-in verifies against it when the
 * username does not exist, so an unknown name costs as long as a wrong password and the
 * response time does not tell which names exist.
 */
export function dummyPasswordHash(): Promise<string> {
  dummy ??= hashPassword(randomBytes(24).toString('base64url'));
  return dummy;
}

/** A password for `user add` without --password-stdin: 20 characters from an unambiguous alphabet (~114 bits). */
export function generatePassword(length = 20): string {
  const alphabet = 'abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  let result = '';
  while (result.length < length) {
    for (const byte of randomBytes(length * 2)) {
      // Rejection sampling keeps every character equally likely.
      if (byte < 256 - (256 % alphabet.length) && result.length < length) result += alphabet[byte % alphabet.length];
    }
  }
  return result;
}
