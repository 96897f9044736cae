import { BadRequestException, ConflictException, Injectable, NotFoundException } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { normalizeHostName } from '../../../../agent/src/core/destinations/host-name';
import { normalizeIpAddress } from '../../../../agent/src/core/destinations/ip-address';
import { compileWhitelist, type CompiledWhitelist } from '../../../../agent/src/core/destinations/whitelist-matcher';
import { TransportProtocol as MatcherProtocol } from '../../../../agent/src/generated/mamori/v1/common';
import { CursorPosition } from '../../common/pagination-cursor';
import { newestFirstPage, type SqlCondition } from '../../common/newest-first-page';
import { DatabaseService, SqlExecutor } from '../../database/database.service';
import { protocolName, zoneModeName, type WhitelistProtocolName, type ZoneModeName } from '../policy/network-names';
import type { WhitelistEntryRow } from '../policy/network-settings';
import type { PolicyWhitelistEntry, PublishedPolicy } from '../policy/policy-document';
import { PolicyService } from '../policy/policy.service';
import { badField, matcherEntry, normalizeDestination, withFieldErrors, type DestinationInput } from './destination-syntax';
import type { CreateWhitelistEntryDto, ExpireWhitelistEntryDto, UpdateWhitelistEntryDto } from './dto/whitelist-entry.dto';
import { zoneWithin } from './network-zones.service';
import { WhitelistExpiryScheduler } from './whitelist-expiry.scheduler';
import { historyRecord, recordStep, WhitelistHistoryRecord, WhitelistHistoryRow } from './whitelist-history';
import { entryRecord, WhitelistEntryRecord } from './whitelist.record';
import type { Acted } from '../../common/acting-person';

export interface WhitelistFilter {
  zone?: string;
  q?: string;
  status?: 'active' | 'expired' | 'revoked';
  includeExpired?: boolean;
  since?: Date;
  until?: Date;
}

/** What an entry is made of, normalized, before it is stored. */
export interface WhitelistEntryFields {
  hostPattern: string;
  cidr: string;
  ports: Array<{ first: number; last: number }>;
  protocol: WhitelistProtocolName;
  service: string;
  zone: string;
  justification: string;
  requestedBy: string;
  approvedBy: string;
  expiresAt: Date | null;
  requestId: string | null;
}

/** The answer of GET /whitelist/check. */
export interface DestinationCheck {
  allowed: boolean;
  entryId: string | null;
  entry: PolicyWhitelistEntry | null;
  policyVersion: number;
  zone: string;
  /** The zone's mode in that version, null when the zone is not defined there. */
  zoneMode: ZoneModeName | null;
}

/**
 * A destination's zone must be a defined zone ('' for every zone); 400 naming `zone` otherwise.
 * Normalizes the destination with the shared matcher.
 */
export async function validatedDestination(
  sql: Pick<SqlExecutor, 'query'>,
  input: DestinationInput & { service?: string; zone?: string },
): Promise<Pick<WhitelistEntryFields, 'hostPattern' | 'cidr' | 'ports' | 'protocol' | 'service' | 'zone'>> {
  const zone = (input.zone ?? '').trim();
  if (zone !== '' && (await zoneWithin(sql, zone)) === null) throw new BadRequestException(`zone ${zone} is not a defined zone (GET /api/v1/zones); leave it out for every zone`);
  const service = input.service ?? 'any';
  return { ...normalizeDestination(input, { service, zone }), service, zone };
}

/**
 * The whitelist: approved destinations, added directly by an administrator or by approving a
 * request, changed, and ended by hand or by their expiry. Each change publishes a policy version
 * in its transaction, records a history step with the entry before and after, and re-arms the
 * expiry timer.
 */
@Injectable()
export class WhitelistService {
  /** The current version's whitelist compiled once for /check, until a newer version or an expiry. */
  private compiled: { version: number; whitelist: CompiledWhitelist } | null = null;

  constructor(
    private readonly database: DatabaseService,
    private readonly policy: PolicyService,
    private readonly expiry: WhitelistExpiryScheduler,
  ) {}

  async create(input: Acted<CreateWhitelistEntryDto, 'approvedBy'>, now = new Date()): Promise<WhitelistEntryRecord> {
    const expiresAt = futureExpiry(input.expiresAt, now);
    const { id, published } = await this.database.transaction(async (sql) => {
      const destination = await validatedDestination(sql, input);
      const fields: WhitelistEntryFields = {
        ...destination,
        justification: input.justification,
        requestedBy: input.requestedBy,
        approvedBy: input.approvedBy,
        expiresAt,
        requestId: null,
      };
      return this.insertWithin(sql, fields, input.approvedBy, now);
    });
    this.policy.announce(published);
    await this.expiry.rearm(now);
    return this.get(id, now);
  }

  /**
   * Stores an approved entry, publishes the version that carries it and records the step; the
   * caller announces the version after commit and re-arms the expiry timer.
   */
  async insertWithin(sql: SqlExecutor, fields: WhitelistEntryFields, actor: string, now: Date): Promise<{ id: string; published: PublishedPolicy }> {
    const id = randomUUID();
    await sql.run(
      `INSERT INTO whitelist_entries (id, host_pattern, cidr, ports, protocol, service, zone, justification, requested_by, approved_by, expires_at,
         status, created_at, updated_at, request_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?)`,
      [
        id,
        fields.hostPattern,
        fields.cidr,
        JSON.stringify(fields.ports),
        fields.protocol,
        fields.service,
        fields.zone,
        fields.justification,
        fields.requestedBy,
        fields.approvedBy,
        fields.expiresAt,
        now,
        now,
        fields.requestId,
      ],
    );
    const after = await this.lockedRecord(sql, id, now);
    const published = await this.policy.publishWithin(sql, now);
    await recordStep(sql, { kind: 'entry.created', subjectId: id, actor, before: null, after, policyVersion: published.version }, now);
    return { id, published };
  }

  async update(id: string, input: Acted<UpdateWhitelistEntryDto, 'changedBy'>, now = new Date()): Promise<WhitelistEntryRecord> {
    const expiresAt = input.expiresAt === undefined ? undefined : input.expiresAt === null ? null : futureExpiry(input.expiresAt, now);
    const published = await this.database.transaction(async (sql) => {
      const before = await this.lockedRecord(sql, id, now);
      if (before.status !== 'active') throw new ConflictException(`entry ${id} is ${before.status} and cannot be changed`);
      const destinationChanged = ['hostPattern', 'cidr', 'ports', 'protocol', 'service', 'zone'].some((field) => input[field as keyof UpdateWhitelistEntryDto] !== undefined);
      // A pattern replaces a block and the other way round: the one not given is cleared (both given is a 400).
      const destination = destinationChanged
        ? await validatedDestination(sql, {
            hostPattern: input.hostPattern ?? (input.cidr !== undefined ? '' : before.hostPattern),
            cidr: input.cidr ?? (input.hostPattern !== undefined ? '' : before.cidr),
            ports: input.ports ?? before.ports.map((range) => (range.first === range.last ? String(range.first) : `${range.first}-${range.last}`)),
            protocol: input.protocol ?? before.protocol,
            service: input.service ?? before.service,
            zone: input.zone ?? before.zone,
          })
        : before;
      await sql.run(
        `UPDATE whitelist_entries SET host_pattern = ?, cidr = ?, ports = ?, protocol = ?, service = ?, zone = ?, justification = ?, expires_at = ?, updated_at = ?
         WHERE id = ?`,
        [
          destination.hostPattern,
          destination.cidr,
          JSON.stringify(destination.ports),
          destination.protocol,
          destination.service,
          destination.zone,
          input.justification ?? before.justification,
          expiresAt === undefined ? (before.expiresAt === null ? null : new Date(before.expiresAt)) : expiresAt,
          now,
          id,
        ],
      );
      const after = await this.lockedRecord(sql, id, now);
      const version = await this.policy.publishWithin(sql, now);
      await recordStep(sql, { kind: 'entry.updated', subjectId: id, actor: input.changedBy, before, after, policyVersion: version.version }, now);
      return version;
    });
    this.policy.announce(published);
    await this.expiry.rearm(now);
    return this.get(id, now);
  }

  /** Ends an entry now (status revoked, with who and why); the next policy version no longer carries it. */
  async expire(id: string, input: Acted<ExpireWhitelistEntryDto, 'expiredBy'>, now = new Date()): Promise<WhitelistEntryRecord> {
    const published = await this.database.transaction(async (sql) => {
      const before = await this.lockedRecord(sql, id, now);
      if (before.status !== 'active') throw new ConflictException(`entry ${id} is ${before.status} already`);
      await sql.run(
        "UPDATE whitelist_entries SET status = 'revoked', revoked_by = ?, revoked_at = ?, revocation_reason = ?, updated_at = ? WHERE id = ? AND status = 'active'",
        [input.expiredBy, now, input.reason, now, id],
      );
      const after = await this.lockedRecord(sql, id, now);
      const version = await this.policy.publishWithin(sql, now);
      await recordStep(sql, { kind: 'entry.revoked', subjectId: id, actor: input.expiredBy, reason: input.reason, before, after, policyVersion: version.version }, now);
      return version;
    });
    this.policy.announce(published);
    await this.expiry.rearm(now);
    return this.get(id, now);
  }

  async get(id: string, now = new Date()): Promise<WhitelistEntryRecord> {
    const rows = await this.database.query<WhitelistEntryRow>('SELECT * FROM whitelist_entries WHERE id = ?', [id]);
    if (rows.length === 0) throw new NotFoundException(`whitelist entry ${id} does not exist`);
    return entryRecord(rows[0], now);
  }

  /** Newest first, keyset-paginated over (created_at desc, id desc). Active entries only, unless asked otherwise. */
  async list(filter: WhitelistFilter, limit: number, after: CursorPosition | null, now = new Date()): Promise<{ items: WhitelistEntryRecord[]; nextCursor: string | null }> {
    const where: SqlCondition[] = [];
    const nowMs = now.getTime();
    const status = filter.status ?? (filter.includeExpired === true ? undefined : 'active');
    if (status === 'active') where.push({ sql: "status = 'active' AND (expires_at IS NULL OR expires_at > ?)", params: [nowMs] });
    else if (status === 'expired') where.push({ sql: "(status = 'expired' OR (status = 'active' AND expires_at IS NOT NULL AND expires_at <= ?))", params: [nowMs] });
    else if (status === 'revoked') where.push({ sql: "status = 'revoked'" });
    if (filter.zone !== undefined) where.push(filter.zone === '' ? { sql: "zone = ''" } : { sql: "(zone = ? OR zone = '')", params: [filter.zone] });
    if (filter.q !== undefined && filter.q.trim() !== '') {
      const pattern = `%${filter.q.trim().toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      where.push({
        sql: "(LOWER(host_pattern) LIKE ? ESCAPE '\\' OR LOWER(cidr) LIKE ? ESCAPE '\\' OR LOWER(justification) LIKE ? ESCAPE '\\')",
        params: [pattern, pattern, pattern],
      });
    }
    const page = await newestFirstPage<WhitelistEntryRow>(this.database, {
      table: 'whitelist_entries',
      timeColumn: 'created_at',
      where,
      since: filter.since,
      until: filter.until,
      after,
      limit,
    });
    return { items: page.items.map((row) => entryRecord(row, now)), nextCursor: page.nextCursor };
  }

  /** Newest step first, keyset-paginated over (at desc, id desc). */
  async history(
    filter: { kind?: string; subjectId?: string; since?: Date; until?: Date },
    limit: number,
    after: CursorPosition | null,
  ): Promise<{ items: WhitelistHistoryRecord[]; nextCursor: string | null }> {
    const where: SqlCondition[] = [];
    if (filter.kind !== undefined) where.push({ sql: 'kind = ?', params: [filter.kind] });
    if (filter.subjectId !== undefined) where.push({ sql: 'subject_id = ?', params: [filter.subjectId] });
    const page = await newestFirstPage<WhitelistHistoryRow>(this.database, { table: 'whitelist_history', timeColumn: 'at', where, since: filter.since, until: filter.until, after, limit });
    return { items: page.items.map(historyRecord), nextCursor: page.nextCursor };
  }

  /**
   * Answers with the same matcher agents run, over the version agents receive now: whether a
   * connection to host/ip:port from `zone` is allowed and by which entry.
   */
  check(query: { host?: string; ip?: string; port: number; protocol?: 'tcp' | 'udp'; zone?: string }, now = new Date()): DestinationCheck {
    const host = query.host === undefined || query.host.trim() === '' ? undefined : withFieldErrors(() => normalizeHostName(query.host!.trim()), 'host.');
    let ip: string | undefined;
    if (query.ip !== undefined && query.ip.trim() !== '') {
      const normalized = normalizeIpAddress(query.ip.trim());
      if (normalized === null) throw badField('ip', `must be an IPv4 or IPv6 address, got ${JSON.stringify(query.ip)}`);
      ip = normalized;
    }
    if (host === undefined && ip === undefined) throw new BadRequestException('host: give a host name, an ip address or both');
    const current = this.policy.current();
    const whitelist = this.compiledFor(current, now);
    const zone = (query.zone ?? '').trim();
    const verdict = whitelist.decide({
      host,
      ip,
      port: query.port,
      protocol: query.protocol === 'udp' ? MatcherProtocol.TRANSPORT_PROTOCOL_UDP : MatcherProtocol.TRANSPORT_PROTOCOL_TCP,
      zone,
    });
    const entry = verdict.entryId === '' ? null : (current.document.network.whitelist.find((candidate) => candidate.entryId === verdict.entryId) ?? null);
    const zoneOf = current.document.network.zones.find((candidate) => candidate.name === zone);
    return {
      allowed: verdict.allowed,
      entryId: verdict.entryId === '' ? null : verdict.entryId,
      entry,
      policyVersion: current.version,
      zone,
      zoneMode: zoneOf === undefined ? null : zoneModeName(zoneOf.mode),
    };
  }

  private compiledFor(policy: PublishedPolicy, now: Date): CompiledWhitelist {
    const cached = this.compiled;
    const stale = cached === null || cached.version !== policy.version || (cached.whitelist.nextExpiry !== null && cached.whitelist.nextExpiry.getTime() <= now.getTime());
    if (!stale) return cached.whitelist;
    const whitelist = compileWhitelist(
      policy.document.network.whitelist.map((entry) => matcherEntry({ ...entry, protocol: protocolName(entry.protocol) })),
      now,
    );
    this.compiled = { version: policy.version, whitelist };
    return whitelist;
  }

  /** The row, locked against a concurrent change on PostgreSQL (SQLite writes are serialised already). */
  async lockedRecord(sql: SqlExecutor, id: string, now: Date): Promise<WhitelistEntryRecord> {
    const rows = await sql.query<WhitelistEntryRow>(`SELECT * FROM whitelist_entries WHERE id = ?${sql.kind === 'postgres' ? ' FOR UPDATE' : ''}`, [id]);
    if (rows.length === 0) throw new NotFoundException(`whitelist entry ${id} does not exist`);
    return entryRecord(rows[0], now);
  }
}

/** An expiry given on REST: in the future, else 400 naming expiresAt; null when none was given. */
export function futureExpiry(text: string | undefined, now: Date): Date | null {
  if (text === undefined) return null;
  const expiresAt = new Date(text);
  if (expiresAt.getTime() <= now.getTime()) throw new BadRequestException('expiresAt must be in the future');
  return expiresAt;
}
