import { randomUUID } from 'node:crypto';
import type { SqlExecutor } from '../../database/database.service';
import { AuditActor, COLLECTOR_SYSTEM_ACTOR, currentAuditContext } from './audit-context';
import { auditRecordHash, AuditRecordContent, canonicalJson, GENESIS_HASH } from './audit-hash';

/** One change to record; who and from where come from the current audit context. */
export interface AuditChange {
  /** `<subject>.<verb>`, e.g. whitelist.entry.created, usb_register.entry.deleted, violation.triaged. */
  action: string;
  subjectType: string;
  subjectId: string;
  /** The subject before the change, null when it did not exist. */
  before: unknown;
  /** The subject after the change, null when it no longer exists. */
  after: unknown;
  /** The person the request named as deciding or changing (approvedBy, changedBy, …), if it names one. */
  onBehalfOf?: string | null;
  /** Overrides the context's actor, for the collector's own changes (timers inherit the context that armed them). */
  actor?: AuditActor;
}

export interface AuditRecordRow {
  sequence: number | string;
  id: string;
  at: number | string;
  actor_kind: string;
  actor_id: string;
  actor_name: string;
  on_behalf_of: string | null;
  source_address: string;
  action: string;
  subject_type: string;
  subject_id: string;
  before_state: string | null;
  after_state: string | null;
  previous_hash: string;
  hash: string;
}

/**
 * Appends one record inside the caller's transaction, so the change and its record commit
 * together or not at all. The tail is locked first: on PostgreSQL several collector processes
 * may append at once, and EXCLUSIVE mode (held until the transaction ends) lets only one read
 * the tail and add after it, while plain reads (listing, verifying) go on. SQLite transactions
 * are already serialized, across processes too (BEGIN IMMEDIATE). Callers append late in their
 * transaction, after publishing a policy version if they publish one, so the lock is held
 * briefly and always taken after the policy's (no lock-order deadlock between processes).
 */
export async function appendAuditRecord(sql: SqlExecutor, change: AuditChange, now = new Date()): Promise<AuditRecordContent & { hash: string }> {
  if (sql.kind === 'postgres') await sql.run('LOCK TABLE audit_records IN EXCLUSIVE MODE');
  const tail = await sql.query<{ sequence: number | string; hash: string }>('SELECT sequence, hash FROM audit_records ORDER BY sequence DESC LIMIT 1');
  const context = currentAuditContext();
  const actor = change.actor ?? context?.actor ?? COLLECTOR_SYSTEM_ACTOR;
  const content: AuditRecordContent = {
    sequence: tail.length === 0 ? 1 : Number(tail[0].sequence) + 1,
    id: randomUUID(),
    at: now.getTime(),
    actorKind: actor.kind,
    actorId: actor.id,
    actorName: actor.name,
    onBehalfOf: change.onBehalfOf ?? null,
    sourceAddress: change.actor === undefined ? (context?.sourceAddress ?? '') : '',
    action: change.action,
    subjectType: change.subjectType,
    subjectId: change.subjectId,
    beforeJson: change.before === null || change.before === undefined ? null : canonicalJson(change.before),
    afterJson: change.after === null || change.after === undefined ? null : canonicalJson(change.after),
    previousHash: tail.length === 0 ? GENESIS_HASH : tail[0].hash,
  };
  const hash = auditRecordHash(content);
  await sql.run(
    `INSERT INTO audit_records (sequence, id, at, actor_kind, actor_id, actor_name, on_behalf_of, source_address, action, subject_type, subject_id,
       before_state, after_state, previous_hash, hash)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [
      content.sequence,
      content.id,
      content.at,
      content.actorKind,
      content.actorId,
      content.actorName,
      content.onBehalfOf,
      content.sourceAddress,
      content.action,
      content.subjectType,
      content.subjectId,
      content.beforeJson,
      content.afterJson,
      content.previousHash,
      hash,
    ],
  );
  return { ...content, hash };
}

/** A stored row as the content its hash covers. */
export function contentOfRow(row: AuditRecordRow): AuditRecordContent {
  return {
    sequence: Number(row.sequence),
    id: row.id,
    at: Number(row.at),
    actorKind: row.actor_kind,
    actorId: row.actor_id,
    actorName: row.actor_name,
    onBehalfOf: row.on_behalf_of,
    sourceAddress: row.source_address,
    action: row.action,
    subjectType: row.subject_type,
    subjectId: row.subject_id,
    beforeJson: row.before_state,
    afterJson: row.after_state,
    previousHash: row.previous_hash,
  };
}
