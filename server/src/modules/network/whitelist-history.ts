import { randomUUID } from 'node:crypto';
import type { SqlExecutor } from '../../database/database.service';

/** Every kind of step the whitelist's history records. */
export const WHITELIST_HISTORY_KINDS = [
  'zone.created',
  'zone.updated',
  'zone.deleted',
  'entry.created',
  'entry.updated',
  'entry.revoked',
  'entry.expired',
  'request.filed',
  'request.approved',
  'request.rejected',
  'request.withdrawn',
  'agent.required_zone',
] as const;
export type WhitelistHistoryKind = (typeof WHITELIST_HISTORY_KINDS)[number];

/** The collector itself, as the actor of steps nobody took by hand (an entry's expiry). */
export const COLLECTOR_ACTOR = 'collector';

export interface WhitelistHistoryStep {
  kind: WhitelistHistoryKind;
  /** The zone name, entry id, request id or agent id the step is about. */
  subjectId: string;
  actor: string;
  reason?: string | null;
  before: unknown;
  after: unknown;
  /** The policy version the step published, null when it published none (a request filed). */
  policyVersion?: number | null;
}

/**
 * Appends one step inside the caller's transaction, so a change and its record commit together.
 * Records are never updated or deleted (issue 7 chains them into the audit log).
 */
export async function recordStep(sql: SqlExecutor, step: WhitelistHistoryStep, now: Date): Promise<void> {
  await sql.run(
    `INSERT INTO whitelist_history (id, at, kind, subject_id, actor, reason, before_state, after_state, policy_version)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [
      randomUUID(),
      now,
      step.kind,
      step.subjectId,
      step.actor,
      step.reason ?? null,
      step.before === null || step.before === undefined ? null : JSON.stringify(step.before),
      step.after === null || step.after === undefined ? null : JSON.stringify(step.after),
      step.policyVersion ?? null,
    ],
  );
}

export interface WhitelistHistoryRow {
  id: string;
  at: number | string;
  kind: WhitelistHistoryKind;
  subject_id: string;
  actor: string;
  reason: string | null;
  before_state: string | null;
  after_state: string | null;
  policy_version: number | string | null;
}

export interface WhitelistHistoryRecord {
  id: string;
  at: string;
  kind: WhitelistHistoryKind;
  subjectId: string;
  actor: string;
  reason: string | null;
  before: unknown;
  after: unknown;
  policyVersion: number | null;
}

export function historyRecord(row: WhitelistHistoryRow): WhitelistHistoryRecord {
  return {
    id: row.id,
    at: new Date(Number(row.at)).toISOString(),
    kind: row.kind,
    subjectId: row.subject_id,
    actor: row.actor,
    reason: row.reason,
    before: row.before_state === null ? null : JSON.parse(row.before_state),
    after: row.after_state === null ? null : JSON.parse(row.after_state),
    policyVersion: row.policy_version === null ? null : Number(row.policy_version),
  };
}
