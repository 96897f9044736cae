import { BadRequestException, ConflictException, ForbiddenException, Injectable, NotFoundException } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { CursorPosition, pageOf } from '../../common/pagination-cursor';
import { fromUsbHex } from '../../common/usb-hex';
import { DatabaseService, SqlExecutor } from '../../database/database.service';
import { AuditService } from '../audit/audit.service';
import { PolicyService } from '../policy/policy.service';
import type { ApproveUsbExceptionDto, RejectUsbExceptionDto, RequestUsbExceptionDto, RevokeUsbExceptionDto } from './dto/request-usb-exception.dto';
import type { UsbExceptionStatusFilter } from './dto/list-usb-exceptions.query';
import { UsbExceptionExpiryScheduler } from './usb-exception-expiry.scheduler';
import { usbExceptionRecord, UsbExceptionRecord, UsbExceptionRow } from './usb-exception.record';
import type { Acted } from '../../common/acting-person';

/** The longest grant: C7 exceptions are for a trip or a project, not a standing registration. */
export const MAX_EXCEPTION_DAYS = 90;
const DAY_MS = 86_400_000;

export interface UsbExceptionFilter {
  status?: UsbExceptionStatusFilter;
  agentId?: string;
  since?: Date;
  until?: Date;
}

/** One event an exception was used for (the agent reported it, or the collector's rules relied on it). */
export interface UsbExceptionUse {
  eventId: string;
  agentId: string;
  kind: string;
  occurredAt: string;
  receivedAt: string;
  userName: string;
  payload: Record<string, unknown>;
}

/**
 * Time-boxed exceptions (CONTROLS.md C7): requested, then approved (possibly shortened) or
 * rejected by someone other than the requester; an approved one may be revoked. Every step keeps
 * who, when and why on the row. Approving and revoking change what agents enforce, so they
 * publish a policy version in the same transaction and re-arm the expiry timer.
 */
@Injectable()
export class UsbExceptionsService {
  constructor(
    private readonly database: DatabaseService,
    private readonly policy: PolicyService,
    private readonly expiry: UsbExceptionExpiryScheduler,
    private readonly audit: AuditService,
  ) {}

  async request(input: Acted<RequestUsbExceptionDto, 'requestedBy'>, now = new Date()): Promise<UsbExceptionRecord> {
    const notBefore = input.notBefore === undefined ? now : new Date(input.notBefore);
    const notAfter = new Date(input.notAfter);
    if (notAfter.getTime() <= notBefore.getTime()) throw new BadRequestException('notAfter must be later than notBefore');
    if (notAfter.getTime() <= now.getTime()) throw new BadRequestException('notAfter must be in the future');
    if (notAfter.getTime() - notBefore.getTime() > MAX_EXCEPTION_DAYS * DAY_MS) {
      throw new BadRequestException(`notAfter must be at most ${MAX_EXCEPTION_DAYS} days after notBefore (register the stick for longer use)`);
    }
    const id = randomUUID();
    await this.database.transaction(async (sql) => {
      const agents = await sql.query<{ status: string }>('SELECT status FROM agents WHERE id = ?', [input.agentId]);
      if (agents.length === 0) throw new BadRequestException(`agentId ${input.agentId} names no enrolled agent`);
      if (agents[0].status !== 'enrolled') throw new BadRequestException(`agentId ${input.agentId} names a ${agents[0].status} agent`);
      await sql.run(
        `INSERT INTO usb_exceptions (id, vendor_id, product_id, serial, agent_id, user_name, not_before, not_after, requested_not_after,
           justification, mode, status, requested_by, requested_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'requested', ?, ?)`,
        [
          id,
          fromUsbHex(input.vendorId),
          fromUsbHex(input.productId),
          input.serial,
          input.agentId,
          input.userName ?? '',
          notBefore,
          notAfter,
          notAfter,
          input.justification,
          input.mode,
          input.requestedBy,
          now,
        ],
      );
      await this.recordStep(sql, 'usb_exception.requested', id, null, input.requestedBy, now);
    });
    return this.get(id, now);
  }

  async approve(id: string, input: Acted<ApproveUsbExceptionDto, 'approvedBy'>, now = new Date()): Promise<UsbExceptionRecord> {
    const published = await this.database.transaction(async (sql) => {
      const current = await this.pending(sql, id, now, 'approved');
      if (sameName(input.approvedBy, current.requestedBy)) {
        throw new ForbiddenException(`an exception must be approved by someone other than its requester (${current.requestedBy})`);
      }
      let notAfter = current.notAfter;
      if (input.notAfter !== undefined) {
        const shortened = new Date(input.notAfter);
        if (shortened.getTime() > current.notAfter.getTime()) {
          throw new BadRequestException(`notAfter may only shorten the requested period, which ends ${current.notAfter.toISOString()}`);
        }
        if (shortened.getTime() <= Math.max(now.getTime(), current.notBefore.getTime())) {
          throw new BadRequestException('notAfter must be in the future and later than notBefore');
        }
        notAfter = shortened;
      }
      await sql.run(`UPDATE usb_exceptions SET status = 'approved', approved_by = ?, approved_at = ?, not_after = ? WHERE id = ? AND status = 'requested'`, [
        input.approvedBy,
        now,
        notAfter,
        id,
      ]);
      const version = await this.policy.publishWithin(sql, now);
      await this.recordStep(sql, 'usb_exception.approved', id, current, input.approvedBy, now);
      return version;
    });
    this.policy.announce(published);
    await this.expiry.rearm(now);
    return this.get(id, now);
  }

  async reject(id: string, input: Acted<RejectUsbExceptionDto, 'rejectedBy'>, now = new Date()): Promise<UsbExceptionRecord> {
    // A request never reached the policy, so rejecting it publishes nothing.
    await this.database.transaction(async (sql) => {
      const current = await this.pending(sql, id, now, 'rejected');
      await sql.run(`UPDATE usb_exceptions SET status = 'rejected', rejected_by = ?, rejected_at = ?, rejection_reason = ? WHERE id = ? AND status = 'requested'`, [
        input.rejectedBy,
        now,
        input.reason,
        id,
      ]);
      await this.recordStep(sql, 'usb_exception.rejected', id, current, input.rejectedBy, now);
    });
    return this.get(id, now);
  }

  async revoke(id: string, input: Acted<RevokeUsbExceptionDto, 'revokedBy'>, now = new Date()): Promise<UsbExceptionRecord> {
    const published = await this.database.transaction(async (sql) => {
      const current = await this.lockedRecord(sql, id, now);
      if (current.status === 'requested') throw new ConflictException(`exception ${id} has not been approved: reject it instead`);
      if (current.status !== 'approved') throw new ConflictException(`exception ${id} is ${current.status} and cannot be revoked`);
      await sql.run(`UPDATE usb_exceptions SET status = 'revoked', revoked_by = ?, revoked_at = ?, revocation_reason = ? WHERE id = ? AND status = 'approved'`, [
        input.revokedBy,
        now,
        input.reason,
        id,
      ]);
      const version = await this.policy.publishWithin(sql, now);
      await this.recordStep(sql, 'usb_exception.revoked', id, current, input.revokedBy, now);
      return version;
    });
    this.policy.announce(published);
    await this.expiry.rearm(now);
    return this.get(id, now);
  }

  /** The audit record of a step, the transaction's last statement. */
  private async recordStep(sql: SqlExecutor, action: string, id: string, before: UsbExceptionRecord | null, person: string, now: Date): Promise<void> {
    const after = await this.lockedRecord(sql, id, now);
    await this.audit.appendWithin(sql, { action, subjectType: 'usb_exception', subjectId: id, before, after, onBehalfOf: person }, now);
  }

  async get(id: string, now = new Date()): Promise<UsbExceptionRecord> {
    const rows = await this.database.query<UsbExceptionRow>('SELECT * FROM usb_exceptions WHERE id = ?', [id]);
    if (rows.length === 0) throw new NotFoundException(`exception ${id} does not exist`);
    return usbExceptionRecord(rows[0], now);
  }

  /** Newest request first, keyset-paginated over (requested_at desc, id desc). */
  async list(filter: UsbExceptionFilter, limit: number, after: CursorPosition | null, now = new Date()): Promise<{ items: UsbExceptionRecord[]; nextCursor: string | null }> {
    const where: string[] = [];
    const params: unknown[] = [];
    const nowMs = now.getTime();
    switch (filter.status) {
      case 'requested':
      case 'approved':
        where.push('status = ? AND not_after > ?');
        params.push(filter.status, nowMs);
        break;
      case 'active':
        where.push("status = 'approved' AND not_before <= ? AND not_after > ?");
        params.push(nowMs, nowMs);
        break;
      case 'expired':
        where.push("status IN ('requested', 'approved') AND not_after <= ?");
        params.push(nowMs);
        break;
      case 'rejected':
      case 'revoked':
        where.push('status = ?');
        params.push(filter.status);
        break;
      case undefined:
        break;
    }
    if (filter.agentId !== undefined) {
      where.push('agent_id = ?');
      params.push(filter.agentId);
    }
    if (filter.since !== undefined) {
      where.push('requested_at >= ?');
      params.push(filter.since.getTime());
    }
    if (filter.until !== undefined) {
      where.push('requested_at < ?');
      params.push(filter.until.getTime());
    }
    if (after !== null) {
      where.push('(requested_at < ? OR (requested_at = ? AND id < ?))');
      params.push(after.at, after.at, after.id);
    }
    const rows = await this.database.query<UsbExceptionRow>(
      `SELECT * FROM usb_exceptions ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY requested_at DESC, id DESC LIMIT ?`,
      [...params, limit + 1],
    );
    const page = pageOf(rows, limit, (row) => ({ at: Number(row.requested_at), id: row.id }));
    return { items: page.items.map((row) => usbExceptionRecord(row, now)), nextCursor: page.nextCursor };
  }

  /** The events this exception was used for, oldest first. */
  async uses(id: string): Promise<UsbExceptionUse[]> {
    const rows = await this.database.query<{
      event_id: string;
      agent_id: string;
      kind: string;
      occurred_at: string | number;
      received_at: string | number;
      user_name: string;
      payload: string;
    }>(
      `SELECT e.event_id, e.agent_id, e.kind, e.occurred_at, e.received_at, e.user_name, e.payload
       FROM usb_exception_uses u JOIN events e ON e.agent_id = u.agent_id AND e.event_id = u.event_id
       WHERE u.exception_id = ? ORDER BY e.occurred_at, e.id`,
      [id],
    );
    return rows.map((row) => ({
      eventId: row.event_id,
      agentId: row.agent_id,
      kind: row.kind,
      occurredAt: new Date(Number(row.occurred_at)).toISOString(),
      receivedAt: new Date(Number(row.received_at)).toISOString(),
      userName: row.user_name,
      payload: JSON.parse(row.payload),
    }));
  }

  /** The row, locked against a concurrent decision on PostgreSQL (SQLite writes are serialised already). */
  private async lockedRecord(sql: SqlExecutor, id: string, now: Date): Promise<UsbExceptionRecord> {
    const rows = await sql.query<UsbExceptionRow>(`SELECT * FROM usb_exceptions WHERE id = ?${sql.kind === 'postgres' ? ' FOR UPDATE' : ''}`, [id]);
    if (rows.length === 0) throw new NotFoundException(`exception ${id} does not exist`);
    return usbExceptionRecord(rows[0], now);
  }

  /** A request still waiting for a decision; anything else cannot be `decision` any more. */
  private async pending(sql: SqlExecutor, id: string, now: Date, decision: 'approved' | 'rejected'): Promise<UsbExceptionRecord> {
    const current = await this.lockedRecord(sql, id, now);
    if (current.status === 'expired') throw new ConflictException(`exception ${id} ended ${current.notAfter.toISOString()} before it was decided`);
    if (current.status !== 'requested') throw new ConflictException(`exception ${id} is ${current.status} and cannot be ${decision}`);
    return current;
  }
}

/** Names compared as people write them: "Hanako Yamada" and "hanako yamada " are the same person. */
function sameName(a: string, b: string): boolean {
  return a.trim().toLowerCase() === b.trim().toLowerCase();
}
