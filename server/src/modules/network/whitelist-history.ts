import { randomUUID } from 'node:crypto';
import type { SqlExecutor } from '../../database/database.service';
import { COLLECTOR_SYSTEM_ACTOR } from '../audit/audit-context';
import { appendAuditRecord } from '../audit/audit-log';

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

/** How each kind of step appears in the audit log: its action and the type of its subject. */
function auditActionOf(kind: WhitelistHistoryKind): { action: string; subjectType: string } {
  if (kind === 'agent.required_zone') return { action: 'agent.required_zone.set', subjectType: 'agent' };
  const [noun, verb] = kind.split('.');
  if (noun === 'zone') return { action: `network_zone.${verb}`, subjectType: 'network_zone' };
  return { action: `whitelist.${noun}.${verb}`, subjectType: `whitelist_${noun}` };
}

/**
 * Appends one step inside the caller's transaction, so a change and its record commit together,
 * and the matching audit record beside it (the whitelist's own history stays the detailed,
 * per-subject view; the audit log is the chained one across the product). Callers record their
 * step after publishing, so the audit log's lock is always taken after the policy's, never
 * before it (no lock-order deadlock between collector processes). Records are never updated or
 * deleted.
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
  // An expiry is the collector's own step, run from a timer that may have been armed while serving
  // a request (and so carries that request's context): it names the collector explicitly. Decided
  // by the kind, not the actor text, which a request could set to "collector".
  const byCollector = step.kind === 'entry.expired';
  await appendAuditRecord(
    sql,
    {
      ...auditActionOf(step.kind),
      subjectId: step.subjectId,
      before: step.before ?? null,
      after: step.after ?? null,
      onBehalfOf: byCollector ? null : step.actor,
      actor: byCollector ? COLLECTOR_SYSTEM_ACTOR : undefined,
    },
    now,
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
