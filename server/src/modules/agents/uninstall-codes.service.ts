import { Injectable } from '@nestjs/common';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { DatabaseService } from '../../database/database.service';
import { AuditService } from '../audit/audit.service';
import { AgentsService } from './agents.service';

/** Crockford's base32 alphabet: no I, L, O or U, so a code read aloud or retyped survives. */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A new code: 80 random bits as 16 base32 letters in four dash-separated groups. */
export function newUninstallCode(random: Buffer = randomBytes(10)): string {
  let bits = 0n;
  for (const byte of random) bits = (bits << 8n) | BigInt(byte);
  let text = '';
  for (let i = 0; i < 16; i++) {
    text = ALPHABET[Number(bits & 31n)] + text;
    bits >>= 5n;
  }
  return text.match(/.{4}/g)!.join('-');
}

/** The form that is hashed: upper case, no dashes or spaces, O read as 0 and I/L as 1 (Crockford). */
export function normalizeUninstallCode(code: string): string {
  return code.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
}

function hashOf(code: string): string {
  return createHash('sha256').update(normalizeUninstallCode(code), 'utf8').digest('hex');
}

/** Why an uninstall was refused; the agent must stay installed. */
export class UninstallRefused extends Error {
  constructor(
    readonly reason: 'wrong_code' | 'no_code',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Per-device uninstall codes. IT issues one (shown once, stored hashed, audited); the agent presents
 * it over mutual TLS before it is removed. Every attempt is audited whatever its outcome; a valid
 * code is used up and the agent revoked, so an agent removed this way never raises agent.silent.
 */
@Injectable()
export class UninstallCodesService {
  constructor(
    private readonly database: DatabaseService,
    private readonly audit: AuditService,
    private readonly agents: AgentsService,
  ) {}

  /** Issues a new code for `agentId` (404 for an unknown agent), replacing any earlier one. */
  async issue(agentId: string, now = new Date()): Promise<{ agentId: string; code: string; issuedAt: Date }> {
    await this.agents.get(agentId);
    const code = newUninstallCode();
    await this.database.transaction(async (sql) => {
      const [before] = await sql.query<{ issued_at: string | number; used_at: string | number | null }>(
        'SELECT issued_at, used_at FROM agent_uninstall_codes WHERE agent_id = ?',
        [agentId],
      );
      await sql.run('DELETE FROM agent_uninstall_codes WHERE agent_id = ?', [agentId]);
      await sql.run('INSERT INTO agent_uninstall_codes (agent_id, code_hash, issued_at, used_at) VALUES (?, ?, ?, NULL)', [agentId, hashOf(code), now.getTime()]);
      await this.audit.appendWithin(
        sql,
        {
          action: 'agent.uninstall_code.issued',
          subjectType: 'agent',
          subjectId: agentId,
          // The code itself is never recorded; only when the one it replaced was issued and used.
          before: before === undefined ? null : { codeIssuedAt: new Date(Number(before.issued_at)).toISOString(), codeUsedAt: before.used_at === null ? null : new Date(Number(before.used_at)).toISOString() },
          after: { codeIssuedAt: now.toISOString(), codeUsedAt: null },
        },
        now,
      );
    });
    return { agentId, code, issuedAt: now };
  }

  /**
   * The agent `agentId` (from its certificate) presents `code`. Records the attempt, then either
   * uses the code up and revokes the agent, or throws UninstallRefused.
   */
  async redeem(agentId: string, code: string, peer: string, now = new Date()): Promise<Date> {
    const refused = await this.database.transaction(async (sql): Promise<UninstallRefused | null> => {
      let outcome: UninstallRefused | null = null;
      const [row] = await sql.query<{ code_hash: string; issued_at: string | number; used_at: string | number | null }>(
        'SELECT code_hash, issued_at, used_at FROM agent_uninstall_codes WHERE agent_id = ?',
        [agentId],
      );
      if (row === undefined || row.used_at !== null) {
        outcome = new UninstallRefused('no_code', `no unused uninstall code was issued for agent ${agentId}; ask IT for one`);
      } else if (!timingSafeEqual(Buffer.from(row.code_hash, 'hex'), Buffer.from(hashOf(code), 'hex'))) {
        outcome = new UninstallRefused('wrong_code', `the uninstall code is not valid for agent ${agentId}; the agent stays installed`);
      } else {
        await sql.run('UPDATE agent_uninstall_codes SET used_at = ? WHERE agent_id = ? AND used_at IS NULL', [now.getTime(), agentId]);
      }
      await this.audit.appendWithin(
        sql,
        {
          action: outcome === null ? 'agent.uninstall.accepted' : 'agent.uninstall.refused',
          subjectType: 'agent',
          subjectId: agentId,
          before: null,
          after: {
            outcome: outcome === null ? 'accepted' : outcome.reason,
            codeIssuedAt: row === undefined ? null : new Date(Number(row.issued_at)).toISOString(),
            from: peer,
          },
        },
        now,
      );
      return outcome;
    });
    if (refused !== null) throw refused;
    await this.agents.revoke(agentId, now);
    return now;
  }
}
