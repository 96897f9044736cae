import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { SqlExecutor } from '../../database/database.service';
import type { ValidatedEvent } from '../ingest/event-validation';
import { collectorLineageWithin } from '../ingest/policy-at-event';
import type { ViolationDestination, ViolationJudgement } from '../violations/violation.entity';
import {
  DESTINATION_NOT_WHITELISTED_RULE,
  destinationAttemptOf,
  destinationKey,
  destinationSeverity,
  destinationSummary,
  foldDestinationAttempts,
  type DestinationAttempt,
} from './network.rules';

/** 500 keys per IN list stays far below SQLite's and PostgreSQL's parameter limits. */
const KEYS_PER_STATEMENT = 500;

/**
 * The whitelist's part of ingest, run inside the ingest transaction on the events that call
 * stored (never twice for one event): every DestinationAccess the agent blocked or let through in
 * audit mode counts towards destination.not_whitelisted, folded into one unresolved violation per
 * agent, destination, protocol and port whose attempt counts and last-seen time are kept current.
 * A violation someone resolved lets the next attempt raise a new one; an acknowledged or
 * dismissed one keeps counting.
 */
@Injectable()
export class DestinationIngestService {
  /** Returns how many violations were raised (not those brought up to date). */
  async ingest(sql: SqlExecutor, agentId: string, fresh: readonly ValidatedEvent[], now: Date): Promise<number> {
    const groups = new Map<string, DestinationAttempt[]>();
    for (const event of fresh) {
      const attempt = destinationAttemptOf(event);
      if (attempt === null) continue;
      const key = destinationKey(agentId, attempt);
      groups.set(key, [...(groups.get(key) ?? []), attempt]);
    }
    if (groups.size === 0) return 0;
    const agent = await sql.query<{ hostname: string }>('SELECT hostname FROM agents WHERE id = ?', [agentId]);
    const hostname = agent[0]?.hostname ?? '';
    const lineage = await collectorLineageWithin(sql);
    // Every key names this agent: two uploads from it at once (to two collectors) count one after
    // the other, so neither overwrites the other's attempts. SQLite writers are serialised already.
    if (sql.kind === 'postgres') await sql.query('SELECT pg_advisory_xact_lock(hashtext(?))', [`${DESTINATION_NOT_WHITELISTED_RULE}:agent:${agentId}`]);
    const keys = [...groups.keys()].sort();
    const live = new Map<string, { id: string; device: string }>();
    for (let start = 0; start < keys.length; start += KEYS_PER_STATEMENT) {
      const chunk = keys.slice(start, start + KEYS_PER_STATEMENT);
      const rows = await sql.query<{ id: string; device: string; condition_key: string }>(
        `SELECT id, device, condition_key FROM violations
         WHERE condition_key IN (${chunk.map(() => '?').join(', ')}) AND cleared_at IS NULL AND status <> 'resolved'`,
        chunk,
      );
      for (const row of rows) live.set(row.condition_key, row);
    }
    let newest: number | null = null;
    let raised = 0;
    for (const key of keys) {
      const attempts = groups.get(key)!.sort((a, b) => a.occurredAtMs - b.occurredAtMs);
      const existing = live.get(key);
      if (existing !== undefined) {
        const subject = foldDestinationAttempts(JSON.parse(existing.device) as ViolationDestination, attempts);
        await sql.run('UPDATE violations SET device = ?, severity = ?, summary = ?, updated_at = ? WHERE id = ?', [
          JSON.stringify(subject),
          destinationSeverity(subject),
          destinationSummary(subject, hostname),
          now,
          existing.id,
        ]);
        continue;
      }
      const subject = foldDestinationAttempts(null, attempts);
      const first = attempts[0];
      let judgedUnder: ViolationJudgement;
      if (first.policyLineageId === lineage && first.policyVersion > 0) {
        judgedUnder = { policyVersion: first.policyVersion, source: 'decision', note: '' };
      } else {
        newest ??= Number((await sql.query<{ version: string | number | null }>('SELECT MAX(version) AS version FROM policy_versions'))[0]?.version ?? 0);
        judgedUnder = {
          policyVersion: newest,
          source: 'newest',
          note: "the agent named no policy version of this collector's lineage; the newest version at detection is recorded, and the agent's own decision is reported as it stands",
        };
      }
      const inserted = await sql.query<{ id: string }>(
        `INSERT INTO violations (id, rule, severity, status, agent_id, event_id, hostname, user_name, device, enforcement, occurred_at, detected_at,
           summary, note, updated_at, condition_key, cleared_at, ledger_device_id, plug_id, judged_under)
         VALUES (?, ?, ?, 'open', ?, ?, ?, ?, ?, NULL, ?, ?, ?, NULL, ?, ?, NULL, NULL, NULL, ?)
         ON CONFLICT (condition_key) WHERE condition_key IS NOT NULL AND cleared_at IS NULL AND status <> 'resolved' DO NOTHING
         RETURNING id`,
        [
          randomUUID(),
          DESTINATION_NOT_WHITELISTED_RULE,
          destinationSeverity(subject),
          agentId,
          first.eventId,
          hostname,
          first.userName,
          JSON.stringify(subject),
          first.occurredAtMs,
          now,
          destinationSummary(subject, hostname),
          now,
          key,
          JSON.stringify(judgedUnder),
        ],
      );
      raised += inserted.length;
    }
    return raised;
  }
}
