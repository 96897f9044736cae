import { BadRequestException, Injectable, NotFoundException } from '@nestjs/common';
import { In } from 'typeorm';
import { CursorPosition, pageOf } from '../../common/pagination-cursor';
import { DatabaseService, type SqlExecutor } from '../../database/database.service';
import { AuditService } from '../audit/audit.service';
import type { AuditRecordView } from '../audit/audit.service';
import { snapshotRow } from '../audit/audit-snapshot';
import { isDestinationSubject, isMachineSubject, isUserDaySubject, ViolationEntity, ViolationStatus } from './violation.entity';

export interface ViolationFilter {
  agentId?: string;
  rule?: string;
  status?: string;
  severity?: string;
  department?: string;
  assignee?: string;
  /** true: nobody assigned; false: somebody assigned. */
  unassigned?: boolean;
  since?: Date;
  until?: Date;
}

/** A violation with the ledger department of its machine ('' when the ledger does not know it). */
export interface LocatedViolation {
  violation: ViolationEntity;
  department: string;
}

/** What a triage changes; undefined leaves a field as it is, assignee null takes the assignment away. */
export interface TriageChange {
  status?: ViolationStatus;
  note?: string;
  assignee?: string | null;
}

/** A stored event as the trail shows it. */
export interface TrailEvent {
  eventId: string;
  agentId: string;
  sequence: string;
  kind: string;
  occurredAt: string;
  receivedAt: string;
  userName: string;
  /** Why this event is in the trail: trigger, plug, last_attempt, attempt, plug_event, day_event. */
  role: string;
  payload: Record<string, unknown>;
}

export interface ViolationTrail {
  events: TrailEvent[];
  audit: AuditRecordView[];
}

/** The role a user must hold to be assigned violations. */
export const ASSIGNEE_ROLE = 'security';
/** At most this many events are shown in a trail (the folded attempts of a busy destination can be many more). */
export const TRAIL_EVENT_LIMIT = 200;

interface EventRow {
  agent_id: string;
  event_id: string;
  sequence: string | number;
  kind: string;
  occurred_at: string | number;
  received_at: string | number;
  user_name: string;
  payload: string;
}

const EVENT_COLUMNS = 'agent_id, event_id, CAST(sequence AS TEXT) AS sequence, kind, occurred_at, received_at, user_name, payload';

/** Reading and triaging violations; they are created only by ingest and the collector's condition checks. */
@Injectable()
export class ViolationsService {
  constructor(
    private readonly database: DatabaseService,
    private readonly audit: AuditService,
  ) {}

  /** Newest first by the agent's time (occurred_at desc, id desc), keyset-paginated. */
  async list(filter: ViolationFilter, limit: number, after: CursorPosition | null): Promise<{ items: LocatedViolation[]; nextCursor: string | null }> {
    const query = this.database.dataSource.getRepository(ViolationEntity).createQueryBuilder('v');
    if (filter.agentId !== undefined) query.andWhere('v.agent_id = :agentId', { agentId: filter.agentId });
    if (filter.rule !== undefined) query.andWhere('v.rule = :rule', { rule: filter.rule });
    if (filter.status !== undefined) query.andWhere('v.status = :status', { status: filter.status });
    if (filter.severity !== undefined) query.andWhere('v.severity = :severity', { severity: filter.severity });
    if (filter.assignee !== undefined) query.andWhere('v.assignee = :assignee', { assignee: filter.assignee.toLowerCase() });
    if (filter.unassigned === true) query.andWhere('v.assignee IS NULL');
    if (filter.unassigned === false) query.andWhere('v.assignee IS NOT NULL');
    if (filter.department !== undefined) {
      // The machine's ledger row: the one matched to the violation's agent, else the one a
      // condition violation names (an overdue loan of a machine that never enrolled).
      query.andWhere(
        `(v.agent_id IN (SELECT d.agent_id FROM ledger_devices d WHERE d.department = :department AND d.agent_id IS NOT NULL)
          OR (v.ledger_device_id IN (SELECT d.id FROM ledger_devices d WHERE d.department = :department)
              AND NOT EXISTS (SELECT 1 FROM ledger_devices m WHERE m.agent_id = v.agent_id AND m.department <> '')))`,
        { department: filter.department },
      );
    }
    if (filter.since !== undefined) query.andWhere('v.occurred_at >= :since', { since: filter.since.getTime() });
    if (filter.until !== undefined) query.andWhere('v.occurred_at < :until', { until: filter.until.getTime() });
    if (after !== null) {
      query.andWhere('(v.occurred_at < :at OR (v.occurred_at = :at AND v.id < :id))', { at: after.at, id: after.id });
    }
    const rows = await query.orderBy('v.occurred_at', 'DESC').addOrderBy('v.id', 'DESC').take(limit + 1).getMany();
    const page = pageOf(rows, limit, (row) => ({ at: row.occurredAt.getTime(), id: row.id }));
    return { items: await this.locate(page.items), nextCursor: page.nextCursor };
  }

  /** The people violations can be assigned to. */
  assignees(): Promise<Assignee[]> {
    return assignableUsers(this.database);
  }

  async get(id: string): Promise<LocatedViolation> {
    const violation = await this.database.dataSource.getRepository(ViolationEntity).findOneBy({ id });
    if (violation === null) throw new NotFoundException(`violation ${id} does not exist`);
    return (await this.locate([violation]))[0];
  }

  /** The violations with these ids (missing ones left out), in the order of `ids`. */
  async byIds(ids: string[]): Promise<LocatedViolation[]> {
    if (ids.length === 0) return [];
    const found: ViolationEntity[] = [];
    for (let start = 0; start < ids.length; start += 500) {
      found.push(...(await this.database.dataSource.getRepository(ViolationEntity).findBy({ id: In(ids.slice(start, start + 500)) })));
    }
    const byId = new Map(found.map((violation) => [violation.id, violation]));
    return this.locate(ids.flatMap((id) => (byId.has(id) ? [byId.get(id)!] : [])));
  }

  /**
   * Sets status, note and assignee as given, with the audit record in the same transaction. The
   * assignee must be an enabled user holding the role security (400 naming it otherwise).
   */
  async triage(id: string, change: TriageChange, now = new Date()): Promise<LocatedViolation> {
    if (change.status === undefined && change.note === undefined && change.assignee === undefined) {
      throw new BadRequestException('give at least one of status, note or assignee');
    }
    const changed = await this.database.transaction(async (sql) => {
      const before = await snapshotRow(sql, 'violations', id);
      if (before === null) return 0;
      const assignee = change.assignee === undefined || change.assignee === null ? change.assignee : await assignableUser(sql, change.assignee);
      const fields: Array<[string, unknown]> = [];
      if (change.status !== undefined) fields.push(['status', change.status]);
      if (change.note !== undefined) fields.push(['note', change.note]);
      if (assignee !== undefined) fields.push(['assignee', assignee]);
      const updated = await sql.run(`UPDATE violations SET ${fields.map(([column]) => `${column} = ?`).join(', ')}, updated_at = ? WHERE id = ?`, [
        ...fields.map(([, value]) => value),
        now,
        id,
      ]);
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

  /**
   * The stored events behind a violation and its audit records. Events: the triggering one; for a
   * USB plug, the attach and the plug's later events (storage reports, detach) that name it; for a
   * destination, the attempts folded into it (same kind, host or address, between first and last
   * seen) and the newest one; for a user's day, that user's events of the same kind that day.
   * Oldest first, at most TRAIL_EVENT_LIMIT.
   */
  async trail(id: string): Promise<ViolationTrail> {
    const { violation } = await this.get(id);
    const events = new Map<string, TrailEvent>();
    const add = (rows: EventRow[], role: string) => {
      for (const row of rows) if (!events.has(`${row.agent_id}/${row.event_id}`)) events.set(`${row.agent_id}/${row.event_id}`, trailEventOf(row, role));
    };
    const agentId = violation.agentId;
    if (agentId !== null) {
      const named = [violation.eventId];
      if (violation.plugId !== null) named.push(violation.plugId);
      const subject = violation.device;
      if (isDestinationSubject(subject) && subject.lastEventId !== '') named.push(subject.lastEventId);
      const direct = await this.database.query<EventRow>(`SELECT ${EVENT_COLUMNS} FROM events WHERE agent_id = ? AND event_id IN (${named.map(() => '?').join(', ')})`, [agentId, ...named]);
      const trigger = direct.find((row) => row.event_id === violation.eventId);
      add(direct.filter((row) => row.event_id === violation.eventId), 'trigger');
      add(direct.filter((row) => row.event_id === violation.plugId), 'plug');
      add(direct, 'last_attempt');
      if (violation.plugId !== null) {
        const attach = direct.find((row) => row.event_id === violation.plugId);
        const from = attach === undefined ? violation.occurredAt.getTime() : Number(attach.occurred_at);
        add(
          await this.database.query<EventRow>(
            `SELECT ${EVENT_COLUMNS} FROM events WHERE agent_id = ? AND occurred_at >= ? AND payload LIKE ? ORDER BY occurred_at, id LIMIT ?`,
            [agentId, from, `%${likeEscaped(violation.plugId)}%`, TRAIL_EVENT_LIMIT],
          ),
          'plug_event',
        );
      }
      if (isDestinationSubject(subject) && trigger !== undefined) {
        const needle = subject.host !== '' ? subject.host : subject.ipAddress;
        add(
          await this.database.query<EventRow>(
            `SELECT ${EVENT_COLUMNS} FROM events WHERE agent_id = ? AND kind = ? AND occurred_at >= ? AND occurred_at <= ? AND payload LIKE ? ORDER BY occurred_at, id LIMIT ?`,
            [agentId, trigger.kind, Date.parse(subject.firstSeenAt) || Number(trigger.occurred_at), Date.parse(subject.lastSeenAt) || Date.now(), `%${likeEscaped(needle)}%`, TRAIL_EVENT_LIMIT],
          ),
          'attempt',
        );
      }
      if (isUserDaySubject(subject) && trigger !== undefined) {
        // The collector's local day, as the daily volume rule counts it.
        const start = new Date(`${subject.day}T00:00:00`);
        const end = new Date(start);
        end.setDate(end.getDate() + 1);
        add(
          await this.database.query<EventRow>(
            `SELECT ${EVENT_COLUMNS} FROM events WHERE agent_id = ? AND kind = ? AND user_name = ? AND occurred_at >= ? AND occurred_at < ? ORDER BY occurred_at, id LIMIT ?`,
            [agentId, trigger.kind, subject.userName, start.getTime(), end.getTime(), TRAIL_EVENT_LIMIT],
          ),
          'day_event',
        );
      }
    }
    const ordered = [...events.values()].sort((a, b) => a.occurredAt.localeCompare(b.occurredAt) || a.sequence.localeCompare(b.sequence, undefined, { numeric: true }));
    const audit = await this.audit.list({ subjectType: 'violation', subjectId: id }, 500, null);
    return { events: ordered.slice(0, TRAIL_EVENT_LIMIT), audit: audit.items };
  }

  /**
   * The ledger department of each violation's machine: the ledger row matched to its agent, else
   * the row a condition violation names, else what a machine subject recorded when raised.
   */
  private async locate(violations: ViolationEntity[]): Promise<LocatedViolation[]> {
    if (violations.length === 0) return [];
    const agentIds = [...new Set(violations.flatMap((violation) => (violation.agentId === null ? [] : [violation.agentId])))];
    const ledgerIds = [
      ...new Set(violations.flatMap((violation) => (isMachineSubject(violation.device) && typeof violation.device.ledgerDeviceId === 'string' ? [violation.device.ledgerDeviceId] : []))),
    ];
    const byAgent = new Map<string, string>();
    const byLedgerId = new Map<string, string>();
    for (let start = 0; start < agentIds.length; start += 500) {
      const chunk = agentIds.slice(start, start + 500);
      const rows = await this.database.query<{ agent_id: string; department: string }>(
        `SELECT agent_id, department FROM ledger_devices WHERE agent_id IN (${chunk.map(() => '?').join(', ')})`,
        chunk,
      );
      for (const row of rows) if (row.department !== '') byAgent.set(row.agent_id, row.department);
    }
    for (let start = 0; start < ledgerIds.length; start += 500) {
      const chunk = ledgerIds.slice(start, start + 500);
      const rows = await this.database.query<{ id: string; department: string }>(`SELECT id, department FROM ledger_devices WHERE id IN (${chunk.map(() => '?').join(', ')})`, chunk);
      for (const row of rows) if (row.department !== '') byLedgerId.set(row.id, row.department);
    }
    return violations.map((violation) => {
      const subject = violation.device;
      const machine = isMachineSubject(subject) ? subject : null;
      const department =
        (violation.agentId === null ? undefined : byAgent.get(violation.agentId)) ??
        (machine !== null && typeof machine.ledgerDeviceId === 'string' ? byLedgerId.get(machine.ledgerDeviceId) : undefined) ??
        (machine !== null && typeof machine.department === 'string' ? machine.department : '');
      return { violation, department };
    });
  }
}

/**
 * The stored username of `username` when it names an enabled user holding the role security;
 * otherwise a 400 that says which of those it is not.
 */
/** A person violations can be assigned to: an enabled user holding the role security. */
export interface Assignee {
  username: string;
  displayName: string;
}

/** Every enabled user holding the role security, by username (what the console offers to assign to). */
export async function assignableUsers(sql: Pick<SqlExecutor, 'query'>): Promise<Assignee[]> {
  const rows = await sql.query<{ username: string; display_name: string; roles: string; disabled: boolean | number | string }>(
    'SELECT username, display_name, roles, disabled FROM users ORDER BY username',
  );
  return rows.filter((row) => !isTrue(row.disabled) && rolesOf(row.roles).includes(ASSIGNEE_ROLE)).map((row) => ({ username: row.username, displayName: row.display_name }));
}

function isTrue(value: boolean | number | string): boolean {
  return value === true || value === 1 || value === '1' || value === 't' || value === 'true';
}

function rolesOf(json: string): string[] {
  try {
    const roles: unknown = JSON.parse(json);
    return Array.isArray(roles) ? roles.filter((role): role is string => typeof role === 'string') : [];
  } catch {
    return [];
  }
}

export async function assignableUser(sql: SqlExecutor, username: string): Promise<string> {
  const folded = username.trim().toLowerCase();
  const rows = await sql.query<{ username: string; roles: string; disabled: boolean | number | string }>('SELECT username, roles, disabled FROM users WHERE username = ?', [folded]);
  if (rows.length === 0) throw new BadRequestException(`assignee "${username}" is not a user of this collector`);
  const user = rows[0];
  if (isTrue(user.disabled)) throw new BadRequestException(`assignee "${username}" is a disabled user`);
  const roles = rolesOf(user.roles);
  if (!roles.includes(ASSIGNEE_ROLE)) {
    throw new BadRequestException(`assignee "${username}" does not hold the role ${ASSIGNEE_ROLE} (holds ${roles.length > 0 ? roles.join(', ') : 'no role'})`);
  }
  return user.username;
}

function triageFieldsOf(row: Record<string, unknown> | null): Record<string, unknown> | null {
  if (row === null) return null;
  return { rule: row.rule, severity: row.severity, agentId: row.agent_id, status: row.status, note: row.note, assignee: row.assignee ?? null, updatedAt: row.updated_at };
}

function trailEventOf(row: EventRow, role: string): TrailEvent {
  return {
    eventId: row.event_id,
    agentId: row.agent_id,
    sequence: String(row.sequence),
    kind: row.kind,
    occurredAt: new Date(Number(row.occurred_at)).toISOString(),
    receivedAt: new Date(Number(row.received_at)).toISOString(),
    userName: row.user_name,
    role,
    payload: JSON.parse(row.payload) as Record<string, unknown>,
  };
}

/**
 * A literal for LIKE without an ESCAPE clause (SQLite has no default escape, PostgreSQL uses
 * backslash): % and backslash become _, which matches them too, so the pattern can only match
 * more, never fail on the text itself.
 */
function likeEscaped(text: string): string {
  return text.replace(/[%\\]/g, '_');
}
