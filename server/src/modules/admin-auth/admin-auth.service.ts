import { Inject, Injectable } from '@nestjs/common';
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { CollectorConfig } from '../../config/collector-config';
import { COLLECTOR_CONFIG } from '../../config/collector-config.token';
import { DatabaseService } from '../../database/database.service';

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * The administrator bearer token. MAMORI_ADMIN_TOKEN, when set, is the only one accepted;
 * otherwise the token generated at first start (only its hash is stored) is.
 */
@Injectable()
export class AdminAuthService {
  private storedHashes: Buffer[] = [];

  constructor(
    private readonly database: DatabaseService,
    @Inject(COLLECTOR_CONFIG) private readonly config: CollectorConfig,
  ) {}

  /** Loads the stored token hashes; creates a token when none exists and none is configured, and returns it (once). */
  async ensureToken(now = new Date()): Promise<string | null> {
    if (this.config.adminToken !== undefined) return null;
    const created = await this.database.transaction(async (sql) => {
      const rows = await sql.query<{ token_hash: string }>('SELECT token_hash FROM admin_credentials');
      if (rows.length > 0) {
        this.storedHashes = rows.map((row) => Buffer.from(row.token_hash, 'hex'));
        return null;
      }
      const token = `mamori_admin_${randomBytes(32).toString('base64url')}`;
      const hash = sha256(token);
      await sql.run('INSERT INTO admin_credentials (id, token_hash, created_at) VALUES (?, ?, ?)', [randomUUID(), hash.toString('hex'), now]);
      this.storedHashes = [hash];
      return token;
    });
    return created;
  }

  verify(presented: string): boolean {
    const hash = sha256(presented);
    if (this.config.adminToken !== undefined) return timingSafeEqual(hash, sha256(this.config.adminToken));
    return this.storedHashes.some((stored) => stored.length === hash.length && timingSafeEqual(stored, hash));
  }
}
