import { BadRequestException, ConflictException, Injectable, NotFoundException } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DatabaseService, SqlExecutor } from '../../database/database.service';
import { AuditService } from '../audit/audit.service';
import { foldUsername, leavesNoAdmin, orderedRoles, rolesFromJson, usernameProblem } from './auth.rules';
import { hashPassword, passwordProblem } from './password-hash';
import type { Role } from './roles';

export interface UserRow {
  id: string;
  username: string;
  display_name: string;
  roles: string;
  auth_provider: string;
  external_subject: string | null;
  password_hash: string | null;
  password_changed_at: number | string | null;
  disabled: boolean | number;
  created_at: number | string;
  updated_at: number | string;
  last_sign_in_at: number | string | null;
}

export interface UserRecord {
  id: string;
  username: string;
  displayName: string;
  roles: Role[];
  /** 'local' (password) today; an OIDC provider adds 'oidc' users with an external subject. */
  authProvider: string;
  passwordHash: string | null;
  disabled: boolean;
  createdAt: Date;
  lastSignInAt: Date | null;
}

/** What REST and the CLI show of a user: never the password hash. */
export interface UserView {
  id: string;
  username: string;
  displayName: string;
  roles: Role[];
  disabled: boolean;
  createdAt: string;
  lastSignInAt: string | null;
}

export function userRecord(row: UserRow): UserRecord {
  return {
    id: row.id,
    username: row.username,
    displayName: row.display_name,
    roles: rolesFromJson(row.roles),
    authProvider: row.auth_provider,
    passwordHash: row.password_hash,
    disabled: Boolean(Number(row.disabled)),
    createdAt: new Date(Number(row.created_at)),
    lastSignInAt: row.last_sign_in_at === null ? null : new Date(Number(row.last_sign_in_at)),
  };
}

export function userView(user: UserRecord): UserView {
  return {
    id: user.id,
    username: user.username,
    displayName: user.displayName,
    roles: user.roles,
    disabled: user.disabled,
    createdAt: user.createdAt.toISOString(),
    lastSignInAt: user.lastSignInAt?.toISOString() ?? null,
  };
}

/** The audit record's picture of a user: what changed, never the password hash. */
function auditState(user: UserRecord): Record<string, unknown> {
  return { username: user.username, displayName: user.displayName, roles: user.roles, disabled: user.disabled, authProvider: user.authProvider };
}

export interface NewUser {
  username: string;
  displayName?: string;
  roles: readonly Role[];
  password: string;
}

export interface UserChange {
  displayName?: string;
  roles?: readonly Role[];
  disabled?: boolean;
}

/**
 * Local user accounts: created by an administrator (REST) or on the collector's machine (the
 * CLI, which is how the first administrator is made). Every change appends its audit record in
 * the same transaction. Disabling a user or resetting their password ends their sessions.
 */
@Injectable()
export class UsersService {
  constructor(
    private readonly database: DatabaseService,
    private readonly audit: AuditService,
  ) {}

  async create(input: NewUser, now = new Date()): Promise<UserRecord> {
    const problem = usernameProblem(input.username);
    if (problem !== null) throw new BadRequestException(problem);
    const roles = checkRoles(input.roles);
    const weak = passwordProblem(input.password);
    if (weak !== null) throw new BadRequestException(weak);
    const username = foldUsername(input.username);
    const displayName = (input.displayName ?? '').trim() || username;
    const passwordHash = await hashPassword(input.password);
    return this.database.transaction(async (sql) => {
      const taken = await sql.query<{ id: string }>('SELECT id FROM users WHERE username = ?', [username]);
      if (taken.length > 0) throw new ConflictException(`username "${username}" is already taken`);
      const id = randomUUID();
      await sql.run(
        `INSERT INTO users (id, username, display_name, roles, auth_provider, external_subject, password_hash, password_changed_at, disabled, created_at, updated_at, last_sign_in_at)
         VALUES (?, ?, ?, ?, 'local', NULL, ?, ?, ?, ?, ?, NULL)`,
        [id, username, displayName, JSON.stringify(roles), passwordHash, now, false, now, now],
      );
      const user = await this.getWithin(sql, id);
      await this.audit.appendWithin(sql, { action: 'user.created', subjectType: 'user', subjectId: id, before: null, after: auditState(user) }, now);
      return user;
    });
  }

  async list(): Promise<UserRecord[]> {
    return (await this.database.query<UserRow>('SELECT * FROM users ORDER BY username')).map(userRecord);
  }

  async get(id: string): Promise<UserRecord> {
    const rows = await this.database.query<UserRow>('SELECT * FROM users WHERE id = ?', [id]);
    if (rows.length === 0) throw new NotFoundException(`user ${id} does not exist`);
    return userRecord(rows[0]);
  }

  async findByUsername(username: string): Promise<UserRecord | null> {
    const rows = await this.database.query<UserRow>('SELECT * FROM users WHERE username = ?', [foldUsername(username)]);
    return rows.length === 0 ? null : userRecord(rows[0]);
  }

  /** The user named `username`, or 404 naming it (for the CLI). */
  async getByUsername(username: string): Promise<UserRecord> {
    const user = await this.findByUsername(username);
    if (user === null) throw new NotFoundException(`there is no user "${foldUsername(username)}"`);
    return user;
  }

  /**
   * Changes display name, roles and/or the disabled flag; one audit record per kind of change.
   * Refuses (409) to leave no enabled administrator.
   */
  async update(id: string, change: UserChange, now = new Date()): Promise<UserRecord> {
    const roles = change.roles === undefined ? undefined : checkRoles(change.roles);
    return this.database.transaction(async (sql) => {
      const before = await this.getWithin(sql, id, true);
      const after = {
        displayName: change.displayName === undefined ? before.displayName : change.displayName.trim() || before.username,
        roles: roles ?? before.roles,
        disabled: change.disabled ?? before.disabled,
      };
      await this.refuseLastAdmin(sql, before, after);
      await sql.run('UPDATE users SET display_name = ?, roles = ?, disabled = ?, updated_at = ? WHERE id = ?', [
        after.displayName,
        JSON.stringify(after.roles),
        after.disabled,
        now,
        id,
      ]);
      if (after.disabled && !before.disabled) await sql.run('DELETE FROM user_sessions WHERE user_id = ?', [id]);
      const updated = await this.getWithin(sql, id);
      const record = async (action: string, beforeState: unknown, afterState: unknown) =>
        this.audit.appendWithin(sql, { action, subjectType: 'user', subjectId: id, before: beforeState, after: afterState }, now);
      if (after.displayName !== before.displayName) {
        await record('user.display_name_changed', { username: before.username, displayName: before.displayName }, { username: before.username, displayName: after.displayName });
      }
      if (JSON.stringify(after.roles) !== JSON.stringify(before.roles)) {
        await record('user.roles_changed', { username: before.username, roles: before.roles }, { username: before.username, roles: after.roles });
      }
      if (after.disabled !== before.disabled) {
        await record(after.disabled ? 'user.disabled' : 'user.enabled', { username: before.username, disabled: before.disabled }, { username: before.username, disabled: after.disabled });
      }
      return updated;
    });
  }

  /**
   * Sets a new password chosen by an administrator (REST) or the operator (CLI), ends every
   * session of that user and lifts a sign-in lock on their name. `action` tells the audit log whether it was a reset or the user's own change.
   */
  async setPassword(
    id: string,
    password: string,
    options: { action?: 'user.password_reset' | 'user.password_changed'; keepSessionId?: string; field?: string } = {},
    now = new Date(),
  ): Promise<{ user: UserRecord; sessionsEnded: number }> {
    const weak = passwordProblem(password, options.field ?? 'password');
    if (weak !== null) throw new BadRequestException(weak);
    const passwordHash = await hashPassword(password);
    return this.database.transaction(async (sql) => {
      const user = await this.getWithin(sql, id, true);
      if (user.authProvider !== 'local') throw new ConflictException(`user "${user.username}" signs in through ${user.authProvider}, not with a password`);
      await sql.run('UPDATE users SET password_hash = ?, password_changed_at = ?, updated_at = ? WHERE id = ?', [passwordHash, now, now, id]);
      // A new password also lifts a sign-in lock, so an operator can let a locked-out user back in.
      await sql.run('DELETE FROM login_throttle WHERE username = ?', [user.username]);
      const sessionsEnded =
        options.keepSessionId === undefined
          ? await sql.run('DELETE FROM user_sessions WHERE user_id = ?', [id])
          : await sql.run('DELETE FROM user_sessions WHERE user_id = ? AND id <> ?', [id, options.keepSessionId]);
      await this.audit.appendWithin(
        sql,
        {
          action: options.action ?? 'user.password_reset',
          subjectType: 'user',
          subjectId: id,
          before: { username: user.username },
          after: { username: user.username, passwordChangedAt: now.toISOString(), sessionsEnded },
        },
        now,
      );
      return { user, sessionsEnded };
    });
  }

  private async getWithin(sql: SqlExecutor, id: string, lock = false): Promise<UserRecord> {
    const rows = await sql.query<UserRow>(`SELECT * FROM users WHERE id = ?${lock && sql.kind === 'postgres' ? ' FOR UPDATE' : ''}`, [id]);
    if (rows.length === 0) throw new NotFoundException(`user ${id} does not exist`);
    return userRecord(rows[0]);
  }

  /**
   * 409 when the change would leave no enabled admin. On PostgreSQL the enabled users are locked
   * first, so two administrators demoting each other at once cannot both succeed.
   */
  private async refuseLastAdmin(sql: SqlExecutor, before: UserRecord, after: { roles: readonly Role[]; disabled: boolean }): Promise<void> {
    if (!before.roles.includes('admin') || before.disabled) return;
    const rows = await sql.query<UserRow>(`SELECT * FROM users WHERE disabled = ?${sql.kind === 'postgres' ? ' FOR UPDATE' : ''}`, [false]);
    const users = rows.map(userRecord);
    if (leavesNoAdmin(users, before.id, after)) {
      throw new ConflictException(
        `"${before.username}" is the last enabled user with the admin role; give another user admin first (removing admin from or disabling this one would leave nobody to manage users)`,
      );
    }
  }
}

function checkRoles(roles: readonly Role[]): Role[] {
  const ordered = orderedRoles(roles);
  if (ordered.length === 0) throw new BadRequestException('roles must name at least one of admin, security, approver, it, auditor');
  return ordered;
}
