import { Injectable } from '@nestjs/common';
import { CursorPosition, pageOf } from '../../common/pagination-cursor';
import { DatabaseService, SqlExecutor } from '../../database/database.service';
import { AuditAnchor, AuditChainChecker, AuditChainResult } from './audit-chain';
import { appendAuditRecord, AuditChange, AuditRecordRow } from './audit-log';

export interface AuditFilter {
  since?: Date;
  until?: Date;
  action?: string;
  subjectType?: string;
  subjectId?: string;
  /** Matches the actor's id or name, or the person the request named. */
  actor?: string;
}

export interface AuditRecordView {
  sequence: number;
  id: string;
  at: string;
  actor: { kind: string; id: string; name: string };
  onBehalfOf: string | null;
  sourceAddress: string;
  action: string;
  subject: { type: string; id: string };
  before: unknown;
  after: unknown;
  previousHash: string;
  hash: string;
}

/** How many records verification reads at a time. */
export const AUDIT_VERIFY_PAGE_SIZE = 1_000;

/**
 * The tamper-evident audit log: appended inside the transactions of changes made by people and
 * tokens, read newest first, verified from the first record. Nothing here updates or deletes.
 */
@Injectable()
export class AuditService {
  constructor(private readonly database: DatabaseService) {}

  /** Appends a record for `change` inside `sql` (see appendAuditRecord); call it as the transaction's last step. */
  async appendWithin(sql: SqlExecutor, change: AuditChange, now = new Date()): Promise<void> {
    await appendAuditRecord(sql, change, now);
  }

  /** Newest first (sequence desc), keyset-paginated; the cursor's id is the sequence number. */
  async list(filter: AuditFilter, limit: number, after: CursorPosition | null): Promise<{ items: AuditRecordView[]; nextCursor: string | null }> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.since !== undefined) {
      where.push('at >= ?');
      params.push(filter.since.getTime());
    }
    if (filter.until !== undefined) {
      where.push('at < ?');
      params.push(filter.until.getTime());
    }
    for (const [column, value] of [['action', filter.action], ['subject_type', filter.subjectType], ['subject_id', filter.subjectId]] as const) {
      if (value === undefined) continue;
      where.push(`${column} = ?`);
      params.push(value);
    }
    if (filter.actor !== undefined) {
      where.push('(actor_id = ? OR actor_name = ? OR on_behalf_of = ?)');
      params.push(filter.actor, filter.actor, filter.actor);
    }
    if (after !== null) {
      where.push('sequence < ?');
      params.push(Number(after.id));
    }
    params.push(limit + 1);
    const rows = await this.database.query<AuditRecordRow>(
      `SELECT * FROM audit_records ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`} ORDER BY sequence DESC LIMIT ?`,
      params,
    );
    const page = pageOf(rows, limit, (row) => ({ at: Number(row.at), id: String(row.sequence) }));
    return { items: page.items.map(auditRecordView), nextCursor: page.nextCursor };
  }

  /**
   * Checks the whole chain from the first record, reading AUDIT_VERIFY_PAGE_SIZE records at a
   * time and stopping at the first broken one. Records appended while it reads are checked too
   * when they arrive before it reaches the end. With an anchor, the record at its sequence must
   * also still have its hash.
   */
  async verify(anchor: AuditAnchor | null = null, pageSize = AUDIT_VERIFY_PAGE_SIZE): Promise<AuditChainResult> {
    const checker = new AuditChainChecker(anchor);
    let afterSequence = 0;
    for (;;) {
      const rows = await this.database.query<AuditRecordRow>('SELECT * FROM audit_records WHERE sequence > ? ORDER BY sequence LIMIT ?', [afterSequence, pageSize]);
      if (rows.length === 0 || !checker.feed(rows)) break;
      afterSequence = Number(rows[rows.length - 1].sequence);
      if (rows.length < pageSize) break;
    }
    return checker.result();
  }
}

export function auditRecordView(row: AuditRecordRow): AuditRecordView {
  return {
    sequence: Number(row.sequence),
    id: row.id,
    at: new Date(Number(row.at)).toISOString(),
    actor: { kind: row.actor_kind, id: row.actor_id, name: row.actor_name },
    onBehalfOf: row.on_behalf_of,
    sourceAddress: row.source_address,
    action: row.action,
    subject: { type: row.subject_type, id: row.subject_id },
    before: row.before_state === null ? null : JSON.parse(row.before_state),
    after: row.after_state === null ? null : JSON.parse(row.after_state),
    previousHash: row.previous_hash,
    hash: row.hash,
  };
}
