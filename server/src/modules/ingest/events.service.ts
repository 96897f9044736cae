import { Injectable } from '@nestjs/common';
import { CursorPosition, pageOf } from '../../common/pagination-cursor';
import { DatabaseService } from '../../database/database.service';

export interface EventFilter {
  agentId?: string;
  kind?: string;
  since?: Date;
  until?: Date;
}

export interface EventItem {
  eventId: string;
  agentId: string;
  sequence: string;
  kind: string;
  occurredAt: string;
  receivedAt: string;
  userName: string;
  payload: Record<string, unknown>;
}

interface EventRow {
  id: string | number;
  agent_id: string;
  event_id: string;
  sequence: string;
  kind: string;
  occurred_at: string | number;
  received_at: string | number;
  user_name: string;
  payload: string;
}

/** Reads of stored events for REST, newest first (occurred_at desc, id desc). */
@Injectable()
export class EventsService {
  constructor(private readonly database: DatabaseService) {}

  async list(filter: EventFilter, limit: number, after: CursorPosition | null): Promise<{ items: EventItem[]; nextCursor: string | null }> {
    const { where, params } = this.where(filter);
    if (after !== null) {
      where.push('(occurred_at < ? OR (occurred_at = ? AND id < ?))');
      params.push(after.at, after.at, Number(after.id));
    }
    const rows = await this.database.query<EventRow>(
      `SELECT id, agent_id, event_id, CAST(sequence AS TEXT) AS sequence, kind, occurred_at, received_at, user_name, payload
       FROM events ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY occurred_at DESC, id DESC LIMIT ?`,
      [...params, limit + 1],
    );
    const page = pageOf(rows, limit, (row) => ({ at: Number(row.occurred_at), id: String(row.id) }));
    return {
      items: page.items.map((row) => ({
        eventId: row.event_id,
        agentId: row.agent_id,
        sequence: String(row.sequence),
        kind: row.kind,
        occurredAt: new Date(Number(row.occurred_at)).toISOString(),
        receivedAt: new Date(Number(row.received_at)).toISOString(),
        userName: row.user_name,
        payload: JSON.parse(row.payload),
      })),
      nextCursor: page.nextCursor,
    };
  }

  async count(filter: EventFilter): Promise<number> {
    const { where, params } = this.where(filter);
    const rows = await this.database.query<{ count: string | number }>(
      `SELECT COUNT(*) AS count FROM events ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}`,
      params,
    );
    return Number(rows[0].count);
  }

  private where(filter: EventFilter): { where: string[]; params: unknown[] } {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.agentId !== undefined) {
      where.push('agent_id = ?');
      params.push(filter.agentId);
    }
    if (filter.kind !== undefined) {
      where.push('kind = ?');
      params.push(filter.kind);
    }
    if (filter.since !== undefined) {
      where.push('occurred_at >= ?');
      params.push(filter.since.getTime());
    }
    if (filter.until !== undefined) {
      where.push('occurred_at < ?');
      params.push(filter.until.getTime());
    }
    return { where, params };
  }
}
