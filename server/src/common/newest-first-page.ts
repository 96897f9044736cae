import type { DatabaseService } from '../database/database.service';
import { pageOf, type CursorPosition } from './pagination-cursor';

/** One SQL condition with its `?` parameters, for the WHERE clause of a list. */
export interface SqlCondition {
  sql: string;
  params?: unknown[];
}

/** A list read newest first, keyset-paginated over (time column desc, id desc). */
export interface NewestFirstQuery {
  table: string;
  /** The epoch-milliseconds column the list is ordered by (and `since`/`until` apply to). */
  timeColumn: string;
  /** The tie-breaker column, unique per row (default `id`). */
  idColumn?: string;
  /** The list's own filters, ANDed. */
  where?: SqlCondition[];
  /** Inclusive lower bound on the time column. */
  since?: Date;
  /** Exclusive upper bound on the time column. */
  until?: Date;
  /** The position after which the page starts (from the previous page's cursor). */
  after: CursorPosition | null;
  limit: number;
}

/**
 * Reads one page of a newest-first list: the rows and the cursor for the next page. Every list of
 * the REST API pages the same way (time desc, id desc, `limit + 1` rows fetched to know whether
 * another page exists); this is the one place that writes that SQL.
 */
export async function newestFirstPage<Row extends object>(
  database: Pick<DatabaseService, 'query'>,
  query: NewestFirstQuery,
): Promise<{ items: Row[]; nextCursor: string | null }> {
  const time = query.timeColumn;
  const id = query.idColumn ?? 'id';
  const conditions: SqlCondition[] = [...(query.where ?? [])];
  if (query.since !== undefined) conditions.push({ sql: `${time} >= ?`, params: [query.since.getTime()] });
  if (query.until !== undefined) conditions.push({ sql: `${time} < ?`, params: [query.until.getTime()] });
  if (query.after !== null) conditions.push({ sql: `(${time} < ? OR (${time} = ? AND ${id} < ?))`, params: [query.after.at, query.after.at, query.after.id] });
  const where = conditions.length > 0 ? `WHERE ${conditions.map((c) => c.sql).join(' AND ')}` : '';
  const rows = await database.query<Row>(`SELECT * FROM ${query.table} ${where} ORDER BY ${time} DESC, ${id} DESC LIMIT ?`, [
    ...conditions.flatMap((c) => c.params ?? []),
    query.limit + 1,
  ]);
  return pageOf(rows, query.limit, (row) => ({ at: Number((row as Record<string, unknown>)[time]), id: String((row as Record<string, unknown>)[id]) }));
}
