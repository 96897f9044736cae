import { Injectable, NotFoundException } from '@nestjs/common';
import { CursorPosition, pageOf } from '../../common/pagination-cursor';
import { DatabaseService } from '../../database/database.service';
import { AuditService } from '../audit/audit.service';
import { snapshotRow } from '../audit/audit-snapshot';
import { ViolationEntity, ViolationStatus } from './violation.entity';

export interface ViolationFilter {
  agentId?: string;
  rule?: string;
  status?: string;
  since?: Date;
  until?: Date;
}

/** Reading and triaging violations; they are created only by ingest. */
@Injectable()
export class ViolationsService {
  constructor(
    private readonly database: DatabaseService,
    private readonly audit: AuditService,
  ) {}

  /** Newest first by the agent's time (occurred_at desc, id desc), keyset-paginated. */
  async list(filter: ViolationFilter, limit: number, after: CursorPosition | null): Promise<{ items: ViolationEntity[]; nextCursor: string | null }> {
    const query = this.database.dataSource.getRepository(ViolationEntity).createQueryBuilder('v');
    if (filter.agentId !== undefined) query.andWhere('v.agent_id = :agentId', { agentId: filter.agentId });
    if (filter.rule !== undefined) query.andWhere('v.rule = :rule', { rule: filter.rule });
    if (filter.status !== undefined) query.andWhere('v.status = :status', { status: filter.status });
    if (filter.since !== undefined) query.andWhere('v.occurred_at >= :since', { since: filter.since.getTime() });
    if (filter.until !== undefined) query.andWhere('v.occurred_at < :until', { until: filter.until.getTime() });
    if (after !== null) {
      query.andWhere('(v.occurred_at < :at OR (v.occurred_at = :at AND v.id < :id))', { at: after.at, id: after.id });
    }
    const rows = await query.orderBy('v.occurred_at', 'DESC').addOrderBy('v.id', 'DESC').take(limit + 1).getMany();
    return pageOf(rows, limit, (row) => ({ at: row.occurredAt.getTime(), id: row.id }));
  }

  async get(id: string): Promise<ViolationEntity> {
    const violation = await this.database.dataSource.getRepository(ViolationEntity).findOneBy({ id });
    if (violation === null) throw new NotFoundException(`violation ${id} does not exist`);
    return violation;
  }

  async triage(id: string, status: ViolationStatus, note: string | undefined, now = new Date()): Promise<ViolationEntity> {
    const changed = await this.database.transaction(async (sql) => {
      const before = await snapshotRow(sql, 'violations', id);
      if (before === null) return 0;
      const updated =
        note === undefined
          ? await sql.run('UPDATE violations SET status = ?, updated_at = ? WHERE id = ?', [status, now, id])
          : await sql.run('UPDATE violations SET status = ?, note = ?, updated_at = ? WHERE id = ?', [status, note, now, id]);
      // The triage fields only: the evidence (device, enforcement) does not change and can be large.
      await this.audit.appendWithin(
        sql,
        { action: 'violation.triaged', subjectType: 'violation', subjectId: id, before: triageFieldsOf(before), after: triageFieldsOf(await snapshotRow(sql, 'violations', id)) },
        now,
      );
      return updated;
    });
    if (changed === 0) throw new NotFoundException(`violation ${id} does not exist`);
    return this.get(id);
  }
}

function triageFieldsOf(row: Record<string, unknown> | null): Record<string, unknown> | null {
  if (row === null) return null;
  return { rule: row.rule, severity: row.severity, agentId: row.agent_id, status: row.status, note: row.note, updatedAt: row.updated_at };
}
