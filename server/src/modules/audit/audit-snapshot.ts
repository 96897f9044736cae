import type { SqlExecutor } from '../../database/database.service';

/** The tables whose rows are recorded as they are; a fixed list, so no caller text reaches the SQL. */
export type SnapshotTable = 'agents' | 'usb_register_entries' | 'usb_exceptions' | 'enrollment_tokens' | 'violations' | 'ledger_devices';

/**
 * A row as stored, for an audit record's before or after, read inside the change's transaction;
 * null when there is none. On PostgreSQL the row is locked (FOR UPDATE) so a `before` read
 * first stays true until the change is written. Secrets are left out of enrollment tokens.
 */
export async function snapshotRow(sql: SqlExecutor, table: SnapshotTable, id: string): Promise<Record<string, unknown> | null> {
  const rows = await sql.query<Record<string, unknown>>(`SELECT * FROM ${table} WHERE id = ?${sql.kind === 'postgres' ? ' FOR UPDATE' : ''}`, [id]);
  if (rows.length === 0) return null;
  const { secret_hash: _secret, ...row } = rows[0];
  return row;
}
