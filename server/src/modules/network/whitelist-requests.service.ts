import { BadRequestException, ConflictException, ForbiddenException, Injectable, NotFoundException } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { CursorPosition } from '../../common/pagination-cursor';
import { newestFirstPage } from '../../common/newest-first-page';
import { DatabaseService, SqlExecutor } from '../../database/database.service';
import { PolicyService } from '../policy/policy.service';
import type { ApproveWhitelistRequestDto, RejectWhitelistRequestDto, RequestWhitelistEntryDto, WithdrawWhitelistRequestDto } from './dto/whitelist-request.dto';
import { WhitelistExpiryScheduler } from './whitelist-expiry.scheduler';
import { recordStep } from './whitelist-history';
import { requestRecord, WhitelistRequestRecord, WhitelistRequestRow, WhitelistRequestStatus } from './whitelist.record';
import { futureExpiry, validatedDestination, WhitelistService } from './whitelist.service';
import type { Acted } from '../../common/acting-person';

export interface WhitelistRequestFilter {
  status?: WhitelistRequestStatus;
  since?: Date;
  until?: Date;
}

/**
 * The application workflow (CONTROLS.md C3): a user or administrator files a request for a
 * destination with a justification; someone other than the requester approves it (possibly with
 * an earlier expiry) or rejects it with a reason; the requester may withdraw it while it waits.
 * Approving creates the entry and publishes the version that carries it in one transaction.
 * Every step is recorded in the whitelist history.
 */
@Injectable()
export class WhitelistRequestsService {
  constructor(
    private readonly database: DatabaseService,
    private readonly policy: PolicyService,
    private readonly whitelist: WhitelistService,
    private readonly expiry: WhitelistExpiryScheduler,
  ) {}

  async file(input: Acted<RequestWhitelistEntryDto, 'requestedBy'>, now = new Date()): Promise<WhitelistRequestRecord> {
    const expiresAt = futureExpiry(input.expiresAt, now);
    const id = randomUUID();
    await this.database.transaction(async (sql) => {
      const destination = await validatedDestination(sql, input);
      await sql.run(
        `INSERT INTO whitelist_requests (id, host_pattern, cidr, ports, protocol, service, zone, justification, requested_by, requested_at,
           requested_expires_at, status)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')`,
        [
          id,
          destination.hostPattern,
          destination.cidr,
          JSON.stringify(destination.ports),
          destination.protocol,
          destination.service,
          destination.zone,
          input.justification,
          input.requestedBy,
          now,
          expiresAt,
        ],
      );
      // A request does not change what agents enforce: no version is published.
      await recordStep(sql, { kind: 'request.filed', subjectId: id, actor: input.requestedBy, before: null, after: await this.locked(sql, id) }, now);
    });
    return this.get(id);
  }

  async approve(id: string, input: Acted<ApproveWhitelistRequestDto, 'approvedBy'>, now = new Date()): Promise<WhitelistRequestRecord> {
    const published = await this.database.transaction(async (sql) => {
      const before = await this.pending(sql, id, 'approved');
      if (sameName(input.approvedBy, before.requestedBy)) {
        throw new ForbiddenException(`a request must be approved by someone other than its requester (${before.requestedBy})`);
      }
      const requested = before.requestedExpiresAt === null ? null : new Date(before.requestedExpiresAt);
      if (requested !== null && requested.getTime() <= now.getTime()) {
        throw new ConflictException(`request ${id} asked for an entry until ${requested.toISOString()}, which has passed: file a new request`);
      }
      let expiresAt = requested;
      if (input.expiresAt !== undefined) {
        const shortened = new Date(input.expiresAt);
        if (requested !== null && shortened.getTime() > requested.getTime()) {
          throw new BadRequestException(`expiresAt may only shorten the requested expiry, which is ${requested.toISOString()}`);
        }
        if (shortened.getTime() <= now.getTime()) throw new BadRequestException('expiresAt must be in the future');
        expiresAt = shortened;
      }
      // The zone may have been deleted while the request waited; the entry is validated as if added now.
      const destination = await validatedDestination(sql, {
        hostPattern: before.hostPattern,
        cidr: before.cidr,
        ports: before.ports.map((range) => (range.first === range.last ? String(range.first) : `${range.first}-${range.last}`)),
        protocol: before.protocol,
        service: before.service,
        zone: before.zone,
      });
      const { id: entryId, published: version } = await this.whitelist.insertWithin(
        sql,
        { ...destination, justification: before.justification, requestedBy: before.requestedBy, approvedBy: input.approvedBy, expiresAt, requestId: id },
        input.approvedBy,
        now,
      );
      await sql.run(
        "UPDATE whitelist_requests SET status = 'approved', decided_by = ?, decided_at = ?, approved_expires_at = ?, entry_id = ? WHERE id = ? AND status = 'pending'",
        [input.approvedBy, now, expiresAt, entryId, id],
      );
      await recordStep(
        sql,
        { kind: 'request.approved', subjectId: id, actor: input.approvedBy, before, after: await this.locked(sql, id), policyVersion: version.version },
        now,
      );
      return version;
    });
    this.policy.announce(published);
    await this.expiry.rearm(now);
    return this.get(id);
  }

  async reject(id: string, input: Acted<RejectWhitelistRequestDto, 'rejectedBy'>, now = new Date()): Promise<WhitelistRequestRecord> {
    await this.database.transaction(async (sql) => {
      const before = await this.pending(sql, id, 'rejected');
      await sql.run("UPDATE whitelist_requests SET status = 'rejected', decided_by = ?, decided_at = ?, decision_reason = ? WHERE id = ? AND status = 'pending'", [
        input.rejectedBy,
        now,
        input.reason,
        id,
      ]);
      await recordStep(sql, { kind: 'request.rejected', subjectId: id, actor: input.rejectedBy, reason: input.reason, before, after: await this.locked(sql, id) }, now);
    });
    return this.get(id);
  }

  async withdraw(id: string, input: WithdrawWhitelistRequestDto, now = new Date()): Promise<WhitelistRequestRecord> {
    await this.database.transaction(async (sql) => {
      const before = await this.pending(sql, id, 'withdrawn');
      const actor = input.withdrawnBy ?? before.requestedBy;
      await sql.run("UPDATE whitelist_requests SET status = 'withdrawn', decided_by = ?, decided_at = ?, decision_reason = ? WHERE id = ? AND status = 'pending'", [
        actor,
        now,
        input.reason ?? null,
        id,
      ]);
      await recordStep(sql, { kind: 'request.withdrawn', subjectId: id, actor, reason: input.reason ?? null, before, after: await this.locked(sql, id) }, now);
    });
    return this.get(id);
  }

  async get(id: string): Promise<WhitelistRequestRecord> {
    const rows = await this.database.query<WhitelistRequestRow>('SELECT * FROM whitelist_requests WHERE id = ?', [id]);
    if (rows.length === 0) throw new NotFoundException(`whitelist request ${id} does not exist`);
    return requestRecord(rows[0]);
  }

  /** Newest request first, keyset-paginated over (requested_at desc, id desc). */
  async list(filter: WhitelistRequestFilter, limit: number, after: CursorPosition | null): Promise<{ items: WhitelistRequestRecord[]; nextCursor: string | null }> {
    const page = await newestFirstPage<WhitelistRequestRow>(this.database, {
      table: 'whitelist_requests',
      timeColumn: 'requested_at',
      where: filter.status === undefined ? [] : [{ sql: 'status = ?', params: [filter.status] }],
      since: filter.since,
      until: filter.until,
      after,
      limit,
    });
    return { items: page.items.map(requestRecord), nextCursor: page.nextCursor };
  }

  /** The row, locked against a concurrent decision on PostgreSQL (SQLite writes are serialised already). */
  private async locked(sql: SqlExecutor, id: string): Promise<WhitelistRequestRecord> {
    const rows = await sql.query<WhitelistRequestRow>(`SELECT * FROM whitelist_requests WHERE id = ?${sql.kind === 'postgres' ? ' FOR UPDATE' : ''}`, [id]);
    if (rows.length === 0) throw new NotFoundException(`whitelist request ${id} does not exist`);
    return requestRecord(rows[0]);
  }

  /** A request still waiting; anything else cannot be `decision` any more. */
  private async pending(sql: SqlExecutor, id: string, decision: WhitelistRequestStatus): Promise<WhitelistRequestRecord> {
    const current = await this.locked(sql, id);
    if (current.status !== 'pending') throw new ConflictException(`request ${id} is ${current.status} and cannot be ${decision}`);
    return current;
  }
}

/** Names compared as people write them: "Hanako Yamada" and "hanako yamada " are the same person. */
function sameName(a: string, b: string): boolean {
  return a.trim().toLowerCase() === b.trim().toLowerCase();
}
