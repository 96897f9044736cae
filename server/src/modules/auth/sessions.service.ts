import { HttpException, HttpStatus, Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { CollectorConfig } from '../../config/collector-config';
import { COLLECTOR_CONFIG } from '../../config/collector-config.token';
import { DatabaseService, SqlExecutor } from '../../database/database.service';
import { JsonLogger } from '../../logging/json-logger';
import { setCurrentActor } from '../audit/audit-context';
import { AuditService } from '../audit/audit.service';
import { foldUsername, SessionLimits, sessionState } from './auth.rules';
import { AddressThrottle, afterFailure, lockRemainingMs, retryAfter, ThrottleState } from './login-throttle';
import { dummyPasswordHash, hashPassword, needsRehash, verifyPassword } from './password-hash';
import { principalActor, type Principal } from './principal';
import { userRecord, UserRecord, UserRow, UsersService } from './users.service';

export const SIGN_IN_FAILED_MESSAGE = 'username or password is wrong';

/** 429 for a throttled sign-in; the controller copies `retryAfterSeconds` into the Retry-After header. */
export class SignInThrottledException extends HttpException {
  constructor(readonly retryAfterSeconds: number, message: string) {
    super({ statusCode: HttpStatus.TOO_MANY_REQUESTS, error: 'Too Many Requests', message, retryAfterSeconds }, HttpStatus.TOO_MANY_REQUESTS);
  }
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Constant-time string comparison (over hashes, so different lengths do not leak either). */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

export interface OpenedSession {
  user: UserRecord;
  sessionId: string;
  /** Goes into the cookie; only its SHA-256 is stored. */
  secret: string;
  csrfToken: string;
  expiresAt: Date;
}

export interface SessionPrincipal {
  principal: Principal;
  csrfToken: string;
  expiresAt: Date;
}

interface SessionJoinRow extends UserRow {
  session_id: string;
  csrf_token: string;
  session_created_at: number | string;
  last_seen_at: number | string;
  expires_at: number | string;
}

/** How often a session's last_seen_at is written at most (the idle limit is counted from it). */
const LAST_SEEN_RESOLUTION_MS = 60_000;

/**
 * Console sign-in: checks the password (with throttling), opens a session the browser holds
 * in an HttpOnly cookie, and turns that cookie back into a Principal on every request. This is
 * the 'local' way to make a user Principal; an OIDC callback would open the same sessions for
 * users it found by their external subject, and nothing after authenticate() would change.
 */
@Injectable()
export class SessionsService {
  private readonly addresses = new AddressThrottle();
  readonly limits: SessionLimits;

  constructor(
    private readonly database: DatabaseService,
    private readonly audit: AuditService,
    private readonly users: UsersService,
    private readonly logger: JsonLogger,
    @Inject(COLLECTOR_CONFIG) config: CollectorConfig,
  ) {
    this.limits = { idleMs: config.session.idleMinutes * 60_000, maxMs: config.session.maxHours * 3_600_000 };
  }

  async signIn(rawUsername: string, password: string, address: string, now = new Date()): Promise<OpenedSession> {
    const username = foldUsername(rawUsername).slice(0, 64);
    const addressWait = this.addresses.remainingMs(address, now.getTime());
    if (addressWait > 0) this.throttled(addressWait, now, { username, address, layer: 'address' });
    const throttle = await this.database.query<ThrottleRow>('SELECT * FROM login_throttle WHERE username = ?', [username]);
    const nameWait = lockRemainingMs(throttle.length === 0 ? null : throttleState(throttle[0]), now.getTime());
    if (nameWait > 0) this.throttled(nameWait, now, { username, address, layer: 'username' });

    // Made (once per process) before the user is looked up, so the first sign-in costs the same
    // whether or not the name exists.
    const dummy = await dummyPasswordHash();
    const user = await this.users.findByUsername(username);
    let good: boolean;
    if (user === null || user.passwordHash === null) {
      // Same work as a wrong password, so the response time does not tell which names exist.
      await verifyPassword(password, dummy);
      good = false;
    } else {
      good = (await verifyPassword(password, user.passwordHash)) && !user.disabled;
    }
    if (!good || user === null) {
      const state = await this.recordFailure(username, now);
      this.addresses.recordFailure(address, now.getTime());
      this.logger.emitFields('warn', 'sign-in failed', {
        username,
        address,
        reason: user === null ? 'unknown user' : user.disabled ? 'user disabled' : 'wrong password',
        failures: state.failures,
        lockedUntil: state.lockedUntil === null ? null : new Date(state.lockedUntil).toISOString(),
      });
      throw new UnauthorizedException(SIGN_IN_FAILED_MESSAGE);
    }
    const rehash = user.passwordHash !== null && needsRehash(user.passwordHash) ? await hashPassword(password) : null;
    return this.open(user, address, now, rehash);
  }

  /**
   * The session `secret` (from the cookie) as a Principal, or 401 saying it has ended. `touch:
   * false` checks without counting as activity (a long-lived stream re-checking its caller must
   * not keep an idle session alive).
   */
  async authenticate(secret: string, now = new Date(), options: { touch?: boolean } = {}): Promise<SessionPrincipal> {
    const rows = await this.database.query<SessionJoinRow>(
      `SELECT u.*, s.id AS session_id, s.csrf_token, s.created_at AS session_created_at, s.last_seen_at, s.expires_at
         FROM user_sessions s JOIN users u ON u.id = s.user_id WHERE s.secret_hash = ?`,
      [sha256Hex(secret)],
    );
    const ended = 'your session has ended (signed out, timed out or replaced); sign in again';
    if (rows.length === 0) throw new UnauthorizedException(ended);
    const row = rows[0];
    const state = sessionState({ lastSeenAt: Number(row.last_seen_at), expiresAt: Number(row.expires_at) }, now.getTime(), this.limits);
    if (state === 'expired') throw new UnauthorizedException(`your session expired at ${new Date(Number(row.expires_at)).toISOString()}; sign in again`);
    if (state === 'idle') throw new UnauthorizedException(`your session ended after ${this.limits.idleMs / 60_000} minutes without activity; sign in again`);
    const user = userRecord(row);
    if (user.disabled) throw new UnauthorizedException(`user "${user.username}" is disabled`);
    if (options.touch !== false && now.getTime() - Number(row.last_seen_at) >= LAST_SEEN_RESOLUTION_MS) {
      await this.database.transaction((sql) => sql.run('UPDATE user_sessions SET last_seen_at = ? WHERE id = ?', [now, row.session_id]));
    }
    return {
      principal: { kind: 'user', id: user.id, username: user.username, displayName: user.displayName, roles: user.roles, userId: user.id, sessionId: row.session_id },
      csrfToken: row.csrf_token,
      expiresAt: new Date(Number(row.expires_at)),
    };
  }

  /** Ends one session (sign-out), with its audit record. */
  async signOut(principal: Principal, now = new Date()): Promise<void> {
    if (principal.sessionId === undefined) return;
    await this.database.transaction(async (sql) => {
      const ended = await sql.run('DELETE FROM user_sessions WHERE id = ?', [principal.sessionId]);
      if (ended === 0) return;
      await this.audit.appendWithin(
        sql,
        { action: 'auth.sign_out', subjectType: 'user', subjectId: principal.id, before: { username: principal.username, sessionId: principal.sessionId }, after: null },
        now,
      );
    });
  }

  private async open(user: UserRecord, address: string, now: Date, rehash: string | null): Promise<OpenedSession> {
    const secret = randomBytes(32).toString('base64url');
    const csrfToken = randomBytes(32).toString('base64url');
    const sessionId = randomUUID();
    const expiresAt = new Date(now.getTime() + this.limits.maxMs);
    await this.database.transaction(async (sql) => {
      await sql.run('DELETE FROM login_throttle WHERE username = ?', [user.username]);
      // Sessions that ended without a sign-out go whenever someone signs in.
      await sql.run('DELETE FROM user_sessions WHERE expires_at <= ? OR last_seen_at <= ?', [now, now.getTime() - this.limits.idleMs]);
      await sql.run(
        'INSERT INTO user_sessions (id, secret_hash, user_id, csrf_token, created_at, last_seen_at, expires_at, source_address) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        [sessionId, sha256Hex(secret), user.id, csrfToken, now, now, expiresAt, address.slice(0, 64)],
      );
      if (rehash !== null) await sql.run('UPDATE users SET password_hash = ? WHERE id = ?', [rehash, user.id]);
      await sql.run('UPDATE users SET last_sign_in_at = ? WHERE id = ?', [now, user.id]);
      // The request was anonymous until now: the record names the person who signed in.
      setCurrentActor(principalActor({ kind: 'user', id: user.id, username: user.username, displayName: user.displayName, roles: user.roles, userId: user.id }));
      await this.audit.appendWithin(
        sql,
        { action: 'auth.sign_in', subjectType: 'user', subjectId: user.id, before: null, after: { username: user.username, sessionId, expiresAt: expiresAt.toISOString() } },
        now,
      );
    });
    return { user: { ...user, lastSignInAt: now }, sessionId, secret, csrfToken, expiresAt };
  }

  /** Counts a failure for `username` in the shared table (locked, so concurrent failures all count). */
  private recordFailure(username: string, now: Date): Promise<ThrottleState> {
    return this.database.transaction(async (sql: SqlExecutor) => {
      await sql.run(
        `INSERT INTO login_throttle (username, failures, window_started_at, locked_until, lockouts, last_failure_at) VALUES (?, 0, ?, NULL, 0, ?)
         ON CONFLICT (username) DO NOTHING`,
        [username, now, now],
      );
      const rows = await sql.query<ThrottleRow>(`SELECT * FROM login_throttle WHERE username = ?${sql.kind === 'postgres' ? ' FOR UPDATE' : ''}`, [username]);
      const next = afterFailure(throttleState(rows[0]), now.getTime());
      await sql.run('UPDATE login_throttle SET failures = ?, window_started_at = ?, locked_until = ?, lockouts = ?, last_failure_at = ? WHERE username = ?', [
        next.failures,
        next.windowStartedAt,
        next.lockedUntil,
        next.lockouts,
        next.lastFailureAt,
        username,
      ]);
      return next;
    });
  }

  private throttled(remainingMs: number, now: Date, fields: Record<string, unknown>): never {
    const wait = retryAfter(remainingMs, now.getTime());
    this.logger.emitFields('warn', 'sign-in throttled', { ...fields, retryAfterSeconds: wait.seconds });
    throw new SignInThrottledException(wait.seconds, wait.message);
  }
}

interface ThrottleRow {
  username: string;
  failures: number | string;
  window_started_at: number | string;
  locked_until: number | string | null;
  lockouts: number | string;
  last_failure_at: number | string;
}

function throttleState(row: ThrottleRow): ThrottleState {
  return {
    failures: Number(row.failures),
    windowStartedAt: Number(row.window_started_at),
    lockedUntil: row.locked_until === null ? null : Number(row.locked_until),
    lockouts: Number(row.lockouts),
    lastFailureAt: Number(row.last_failure_at),
  };
}
