import { BadRequestException, ForbiddenException, Injectable, NotFoundException, UnauthorizedException } from '@nestjs/common';
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { DatabaseService } from '../../database/database.service';
import { AuditService } from '../audit/audit.service';
import { effectiveTokenRoles, formatApiToken, orderedRoles, rolesFromJson } from './auth.rules';
import type { Principal } from './principal';
import type { Role } from './roles';
import { sha256Hex } from './sessions.service';

export const API_TOKEN_MIN_DAYS = 1;
export const API_TOKEN_MAX_DAYS = 365;
const DAY_MS = 86_400_000;
/** How often last_used_at is written at most. */
const LAST_USED_RESOLUTION_MS = 60_000;

interface ApiTokenRow {
  id: string;
  user_id: string;
  name: string;
  roles: string;
  secret_hash: string;
  created_at: number | string;
  expires_at: number | string;
  last_used_at: number | string | null;
  revoked_at: number | string | null;
  username?: string;
}

export interface ApiTokenView {
  id: string;
  name: string;
  userId: string;
  username: string;
  roles: Role[];
  createdAt: string;
  expiresAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
  state: 'active' | 'expired' | 'revoked';
}

function tokenView(row: ApiTokenRow, now = Date.now()): ApiTokenView {
  const revokedAt = row.revoked_at === null ? null : new Date(Number(row.revoked_at)).toISOString();
  return {
    id: row.id,
    name: row.name,
    userId: row.user_id,
    username: row.username ?? '',
    roles: rolesFromJson(row.roles),
    createdAt: new Date(Number(row.created_at)).toISOString(),
    expiresAt: new Date(Number(row.expires_at)).toISOString(),
    lastUsedAt: row.last_used_at === null ? null : new Date(Number(row.last_used_at)).toISOString(),
    revokedAt,
    state: revokedAt !== null ? 'revoked' : Number(row.expires_at) <= now ? 'expired' : 'active',
  };
}

/**
 * API tokens for scripts: `mamori_pat_<id>_<secret>`, owned by a user, limited to some of the
 * owner's roles and to a lifetime of 1 to 365 days. Only the SHA-256 of the secret is stored;
 * the token is shown once. On each use the token acts with its roles that the owner still holds.
 */
@Injectable()
export class ApiTokensService {
  constructor(
    private readonly database: DatabaseService,
    private readonly audit: AuditService,
  ) {}

  async create(principal: Principal, input: { name: string; roles: readonly Role[]; expiresInDays: number }, now = new Date()): Promise<ApiTokenView & { token: string }> {
    if (principal.kind !== 'user' || principal.userId === null) {
      throw new ForbiddenException('API tokens belong to a person: sign in as a user to create one (an API token or the administrator token cannot)');
    }
    const name = input.name.trim();
    if (name === '') throw new BadRequestException('name must not be empty');
    const roles = orderedRoles(input.roles);
    if (roles.length === 0) throw new BadRequestException('roles must name at least one of your roles');
    const beyond = roles.filter((role) => !principal.roles.includes(role));
    if (beyond.length > 0) {
      throw new ForbiddenException(`a token can only have roles you hold; you do not hold ${beyond.join(', ')} (you hold ${principal.roles.join(', ') || 'no role'})`);
    }
    if (!Number.isInteger(input.expiresInDays) || input.expiresInDays < API_TOKEN_MIN_DAYS || input.expiresInDays > API_TOKEN_MAX_DAYS) {
      throw new BadRequestException(`expiresInDays must be a whole number from ${API_TOKEN_MIN_DAYS} to ${API_TOKEN_MAX_DAYS}`);
    }
    const id = randomUUID();
    const secret = randomBytes(32).toString('base64url');
    const expiresAt = new Date(now.getTime() + input.expiresInDays * DAY_MS);
    const userId = principal.userId;
    const row = await this.database.transaction(async (sql) => {
      await sql.run(
        'INSERT INTO api_tokens (id, user_id, name, roles, secret_hash, created_at, expires_at, last_used_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL)',
        [id, userId, name, JSON.stringify(roles), sha256Hex(secret), now, expiresAt],
      );
      const created = (await sql.query<ApiTokenRow>('SELECT t.*, u.username FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = ?', [id]))[0];
      const view = tokenView(created, now.getTime());
      await this.audit.appendWithin(
        sql,
        { action: 'api_token.created', subjectType: 'api_token', subjectId: id, before: null, after: { name, username: view.username, roles, expiresAt: view.expiresAt } },
        now,
      );
      return created;
    });
    return { ...tokenView(row, now.getTime()), token: formatApiToken(id, secret) };
  }

  /** The caller's own tokens; every user's with `all` (the controller lets only admin ask for that). */
  async list(principal: Principal, all: boolean): Promise<ApiTokenView[]> {
    const select = 'SELECT t.*, u.username FROM api_tokens t JOIN users u ON u.id = t.user_id';
    const rows = all
      ? await this.database.query<ApiTokenRow>(`${select} ORDER BY t.created_at DESC, t.id`)
      : await this.database.query<ApiTokenRow>(`${select} WHERE t.user_id = ? ORDER BY t.created_at DESC, t.id`, [principal.userId ?? '']);
    return rows.map((row) => tokenView(row));
  }

  /** Revokes one token: the caller's own, or anyone's for a caller holding admin. */
  async revoke(principal: Principal, id: string, now = new Date()): Promise<ApiTokenView> {
    return this.database.transaction(async (sql) => {
      const rows = await sql.query<ApiTokenRow>('SELECT t.*, u.username FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = ?', [id]);
      const row = rows[0];
      if (row === undefined || (row.user_id !== principal.userId && !principal.roles.includes('admin'))) {
        throw new NotFoundException(`there is no API token ${id} of yours`);
      }
      if (row.revoked_at !== null) return tokenView(row, now.getTime());
      await sql.run('UPDATE api_tokens SET revoked_at = ? WHERE id = ?', [now, id]);
      const before = tokenView(row, now.getTime());
      await this.audit.appendWithin(
        sql,
        { action: 'api_token.revoked', subjectType: 'api_token', subjectId: id, before: { name: row.name, username: before.username, revokedAt: null }, after: { name: row.name, username: before.username, revokedAt: now.toISOString() } },
        now,
      );
      return { ...before, revokedAt: now.toISOString(), state: 'revoked' as const };
    });
  }

  /** A presented token as a Principal, or 401 naming why it is refused. */
  async authenticate(id: string, secret: string, now = new Date()): Promise<Principal> {
    const rows = await this.database.query<ApiTokenRow & { u_id: string; u_username: string; u_display_name: string; u_roles: string; u_disabled: boolean | number }>(
      `SELECT t.id, t.user_id, t.name, t.roles, t.secret_hash, t.created_at, t.expires_at, t.last_used_at, t.revoked_at,
              u.id AS u_id, u.username AS u_username, u.display_name AS u_display_name, u.roles AS u_roles, u.disabled AS u_disabled
         FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = ?`,
      [id],
    );
    const row = rows[0];
    const presented = Buffer.from(sha256Hex(secret), 'hex');
    if (row === undefined || !timingSafeEqual(presented, Buffer.from(row.secret_hash, 'hex'))) throw new UnauthorizedException('API token is not valid');
    if (row.revoked_at !== null) throw new UnauthorizedException(`API token "${row.name}" was revoked at ${new Date(Number(row.revoked_at)).toISOString()}`);
    if (Number(row.expires_at) <= now.getTime()) throw new UnauthorizedException(`API token "${row.name}" expired at ${new Date(Number(row.expires_at)).toISOString()}`);
    const owner = {
      id: String(row.u_id),
      username: String(row.u_username),
      displayName: String(row.u_display_name),
      roles: rolesFromJson(String(row.u_roles)),
      disabled: Boolean(Number(row.u_disabled)),
    };
    if (owner.disabled) throw new UnauthorizedException(`API token "${row.name}" belongs to "${owner.username}", who is disabled`);
    if (row.last_used_at === null || now.getTime() - Number(row.last_used_at) >= LAST_USED_RESOLUTION_MS) {
      await this.database.transaction((sql) => sql.run('UPDATE api_tokens SET last_used_at = ? WHERE id = ?', [now, row.id]));
    }
    return {
      kind: 'api-token',
      id: row.id,
      username: owner.username,
      displayName: owner.displayName,
      roles: effectiveTokenRoles(rolesFromJson(row.roles), owner.roles),
      userId: owner.id,
      tokenId: row.id,
      tokenName: row.name,
    };
  }
}
