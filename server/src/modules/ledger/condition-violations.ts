import { randomUUID } from 'node:crypto';
import type { SqlExecutor } from '../../database/database.service';
import type { ViolationSeverity } from '../violations/violation.entity';

/**
 * Violations about a condition rather than one event: a disk that is not encrypted, an agent
 * that went silent, a machine outside the ledger, an overdue loan. They live in the same table
 * and REST as the USB violations.
 *
 * One condition (its `key`) has at most one live violation: raising it again while one is open,
 * acknowledged or dismissed does nothing (a unique partial index makes that hold under
 * concurrent writers too). When the collector sees the condition end it clears the violation:
 * `cleared_at` is set, and an open or acknowledged one becomes `resolved` with a note saying what
 * cleared it; a dismissed one keeps its status. A violation someone resolved by hand while the
 * condition still holds is not live: the next evaluation raises a new one.
 */
export interface ConditionDraft {
  key: string;
  rule: ConditionRule;
  severity: ViolationSeverity;
  agentId: string | null;
  ledgerDeviceId: string | null;
  /** The event the condition was seen in; a fresh id when it came from a heartbeat or a sweep. */
  eventId?: string;
  hostname: string;
  userName: string;
  /** What the reviewer needs to find the machine and see why, shown as the violation's `device`. */
  subject: Record<string, unknown>;
  summary: string;
  occurredAt: Date;
}

export const CONDITION_RULES = ['disk.unencrypted', 'agent.silent', 'ledger.unknown_device', 'ledger.overdue', 'network.wrong_zone'] as const;
export type ConditionRule = (typeof CONDITION_RULES)[number];

export const conditionKey = {
  diskUnencrypted: (agentId: string) => `disk.unencrypted:agent:${agentId}`,
  agentSilent: (agentId: string) => `agent.silent:agent:${agentId}`,
  unknownDevice: (agentId: string) => `ledger.unknown_device:agent:${agentId}`,
  overdue: (ledgerDeviceId: string) => `ledger.overdue:ledger:${ledgerDeviceId}`,
  wrongZone: (agentId: string) => `network.wrong_zone:agent:${agentId}`,
};

/** Returns true when a new violation was created, false when one was already live. */
export async function raiseCondition(sql: SqlExecutor, draft: ConditionDraft, now: Date): Promise<boolean> {
  const rows = await sql.query<{ id: string }>(
    `INSERT INTO violations (id, rule, severity, status, agent_id, event_id, hostname, user_name, device, enforcement, occurred_at, detected_at,
       summary, note, updated_at, condition_key, cleared_at, ledger_device_id)
     VALUES (?, ?, ?, 'open', ?, ?, ?, ?, ?, NULL, ?, ?, ?, NULL, ?, ?, NULL, ?)
     ON CONFLICT (condition_key) WHERE condition_key IS NOT NULL AND cleared_at IS NULL AND status <> 'resolved' DO NOTHING
     RETURNING id`,
    [
      randomUUID(),
      draft.rule,
      draft.severity,
      draft.agentId,
      draft.eventId ?? randomUUID(),
      draft.hostname,
      draft.userName,
      JSON.stringify(draft.subject),
      draft.occurredAt,
      now,
      draft.summary,
      now,
      draft.key,
      draft.ledgerDeviceId,
    ],
  );
  return rows.length > 0;
}

/** Ends the condition `key`; returns how many violations were cleared (0 when none was live). */
export function clearCondition(sql: SqlExecutor, key: string, reason: string, now: Date): Promise<number> {
  const note = `cleared by the collector at ${now.toISOString()}: ${reason}`;
  return sql.run(
    `UPDATE violations SET
       note = CASE WHEN status IN ('open', 'acknowledged') THEN (CASE WHEN note IS NULL OR note = '' THEN ? ELSE note || ? END) ELSE note END,
       status = CASE WHEN status IN ('open', 'acknowledged') THEN 'resolved' ELSE status END,
       cleared_at = ?,
       updated_at = ?
     WHERE condition_key = ? AND cleared_at IS NULL`,
    [note, `\n${note}`, now, now, key],
  );
}

/** The condition keys of `rule` that have a violation not yet cleared. */
export async function unclearedKeys(sql: SqlExecutor, rule: ConditionRule): Promise<string[]> {
  const rows = await sql.query<{ condition_key: string }>(
    'SELECT DISTINCT condition_key FROM violations WHERE rule = ? AND condition_key IS NOT NULL AND cleared_at IS NULL',
    [rule],
  );
  return rows.map((row) => row.condition_key);
}
