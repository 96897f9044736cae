import { Inject, Injectable } from '@nestjs/common';
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { CollectorConfig } from '../../config/collector-config';
import { COLLECTOR_CONFIG } from '../../config/collector-config.token';
import { DatabaseService, SqlExecutor } from '../../database/database.service';
import { adminTokenActor } from '../audit/audit-context';
import { AuditService } from '../audit/audit.service';

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * How long the stored token hashes are served from memory. A token replaced by
 * `mamori-server admin-token reset` (another process) is honoured by a running collector, and
 * the old one refused, within this time.
 */
export const ADMIN_CREDENTIAL_CACHE_MS = 5_000;

/** `admin-token reset` while MAMORI_ADMIN_TOKEN is set: the stored token would never be used. */
export class AdminTokenConfiguredError extends Error {
  constructor() {
    super(
      'MAMORI_ADMIN_TOKEN is set, and it is the only administrator token the collector accepts; ' +
        'change it there, or unset it to use a stored token and run "mamori-server admin-token reset" again',
    );
  }
}

/**
 * The administrator bearer token. MAMORI_ADMIN_TOKEN, when set, is the only one accepted;
 * otherwise the stored one (only its hash is kept) is: generated at the first start that gets
 * both listeners up, or by `admin-token reset`.
 */
@Injectable()
export class AdminAuthService {
  private stored: { hashes: Buffer[]; fetchedAt: number } | null = null;
  private refreshing: Promise<Buffer[]> | null = null;

  constructor(
    private readonly database: DatabaseService,
    @Inject(COLLECTOR_CONFIG) private readonly config: CollectorConfig,
    private readonly audit: AuditService,
  ) {}

  /**
   * Creates and stores a token when none is configured and none is stored, and returns it so the
   * caller can print it (once); null otherwise. The collector calls this only once its listeners
   * are up: a start that fails earlier (a busy port) must not use up the only moment the token
   * is shown.
   */
  async createIfNone(now = new Date()): Promise<string | null> {
    if (this.config.adminToken !== undefined) return null;
    return this.database.transaction(async (sql) => {
      const rows = await sql.query<{ token_hash: string }>('SELECT token_hash FROM admin_credentials');
      if (rows.length > 0) return null;
      const token = await this.storeNew(sql, now);
      // The break-glass credential's birth is in the chain too (actor: the collector itself).
      await this.audit.appendWithin(
        sql,
        { action: 'admin_token.created', subjectType: 'admin_token', subjectId: 'administrator', before: null, after: { storedTokens: 1, fingerprint: adminTokenActor(token).id } },
        now,
      );
      return token;
    });
  }

  /** Replaces every stored administrator token with a new one and returns it (to be shown once). */
  async reset(now = new Date()): Promise<string> {
    if (this.config.adminToken !== undefined) throw new AdminTokenConfiguredError();
    return this.database.transaction(async (sql) => {
      const before = await sql.query<{ token_hash: string }>('SELECT token_hash FROM admin_credentials');
      await sql.run('DELETE FROM admin_credentials');
      const token = await this.storeNew(sql, now);
      // Fingerprints as the audit log names token actors, so records made with either token can be told apart.
      await this.audit.appendWithin(
        sql,
        {
          action: 'admin_token.reset',
          subjectType: 'admin_token',
          subjectId: 'administrator',
          before: { storedTokens: before.length },
          after: { storedTokens: 1, fingerprint: adminTokenActor(token).id },
        },
        now,
      );
      return token;
    });
  }

  async verify(presented: string): Promise<boolean> {
    const hash = sha256(presented);
    if (this.config.adminToken !== undefined) return timingSafeEqual(hash, sha256(this.config.adminToken));
    const hashes = await this.storedHashes();
    return hashes.some((stored) => stored.length === hash.length && timingSafeEqual(stored, hash));
  }

  private async storeNew(sql: SqlExecutor, now: Date): Promise<string> {
    const token = `mamori_admin_${randomBytes(32).toString('base64url')}`;
    const hash = sha256(token);
    await sql.run('INSERT INTO admin_credentials (id, token_hash, created_at) VALUES (?, ?, ?)', [randomUUID(), hash.toString('hex'), now]);
    // This process sees its own change at once; others within ADMIN_CREDENTIAL_CACHE_MS.
    this.stored = null;
    return token;
  }

  private storedHashes(): Promise<Buffer[]> {
    if (this.stored !== null && Date.now() - this.stored.fetchedAt < ADMIN_CREDENTIAL_CACHE_MS) return Promise.resolve(this.stored.hashes);
    // Concurrent requests share one read instead of each querying the database.
    this.refreshing ??= (async () => {
      try {
        const fetchedAt = Date.now();
        const rows = await this.database.query<{ token_hash: string }>('SELECT token_hash FROM admin_credentials');
        const hashes = rows.map((row) => Buffer.from(row.token_hash, 'hex'));
        this.stored = { hashes, fetchedAt };
        return hashes;
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }
}
