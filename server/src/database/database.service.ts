import type BetterSqlite3 from 'better-sqlite3';
import type { Pool, PoolClient } from 'pg';
import { DataSource } from 'typeorm';
import { AsyncMutex } from '../common/async-mutex';
import type { DatabaseKind } from './database-kind';
import { PostgresNotificationListener, type NotificationHandlers } from './postgres-notification-listener';

/**
 * How long one SQLite statement may wait for a lock inside the driver. better-sqlite3 waits
 * synchronously, freezing the whole event loop (REST, gRPC, timers) for as long as it waits, so
 * the wait in the driver is kept short and longer waits happen in sqliteTransaction's async loop.
 */
export const SQLITE_STATEMENT_BUSY_MS = 50;
/** How long a write waits in all for another process (the CLI) to release the write lock. */
export const SQLITE_WRITE_LOCK_WAIT_MS = 10_000;

/** Raw SQL inside one transaction. SQL is written with `?` placeholders for both dialects. */
export interface SqlExecutor {
  readonly kind: DatabaseKind;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Runs a statement and returns how many rows it changed. */
  run(sql: string, params?: unknown[]): Promise<number>;
}

/**
 * The one way the collector writes. TypeORM's better-sqlite3 driver shares a single connection,
 * so two interleaved async transactions would nest (savepoints) and one rollback could undo
 * the other's acknowledged events; every SQLite write therefore runs under one process-wide
 * mutex. PostgreSQL transactions each get a pooled client of their own.
 */
export class DatabaseService {
  readonly kind: DatabaseKind;
  private readonly sqliteWrites = new AsyncMutex();
  private readonly statements = new Map<string, BetterSqlite3.Statement>();

  constructor(readonly dataSource: DataSource) {
    this.kind = dataSource.options.type === 'better-sqlite3' ? 'sqlite' : 'postgres';
    // The data source opens with a long busy timeout, so migrations at start wait for a CLI
    // writer; once the collector serves, waits must not block the event loop.
    if (this.kind === 'sqlite') this.sqlite().pragma(`busy_timeout = ${SQLITE_STATEMENT_BUSY_MS}`);
  }

  transaction<T>(work: (sql: SqlExecutor) => Promise<T>): Promise<T> {
    return this.kind === 'sqlite' ? this.sqliteTransaction(work) : this.postgresTransaction(work);
  }

  /** A read outside any transaction. */
  async query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    if (this.kind === 'sqlite') return this.sqliteExecutor().query<T>(sql, params);
    const result = await this.pool().query(toPostgres(sql), params.map(toPostgresValue));
    return result.rows as T[];
  }

  /**
   * A listener for NOTIFY on `channel` over a connection of its own, for changes made by other
   * collector processes sharing this PostgreSQL database; null on SQLite, which has no such thing
   * (one collector process owns an SQLite file).
   */
  notificationListener(channel: string, handlers: NotificationHandlers): PostgresNotificationListener | null {
    if (this.kind === 'sqlite') return null;
    return new PostgresNotificationListener(PostgresNotificationListener.connectionOf(this.pool()), channel, handlers);
  }

  private async sqliteTransaction<T>(work: (sql: SqlExecutor) => Promise<T>): Promise<T> {
    return this.sqliteWrites.run(async () => {
      const db = this.sqlite();
      await this.beginImmediate(db);
      try {
        const result = await work(this.sqliteExecutor());
        db.exec('COMMIT');
        return result;
      } catch (error) {
        if (db.inTransaction) db.exec('ROLLBACK');
        throw error;
      }
    });
  }

  /**
   * IMMEDIATE takes the write lock now, so a concurrent CLI process is waited for at BEGIN, not
   * mid-way. While another process holds the lock, each attempt gives up after
   * SQLITE_STATEMENT_BUSY_MS and the next one is scheduled after a short sleep, so the event
   * loop keeps serving other requests (reads in WAL mode do not need the lock) until the
   * overall deadline.
   */
  private async beginImmediate(db: BetterSqlite3.Database): Promise<void> {
    const deadline = Date.now() + SQLITE_WRITE_LOCK_WAIT_MS;
    for (let attempt = 0; ; attempt++) {
      try {
        db.exec('BEGIN IMMEDIATE');
        return;
      } catch (error) {
        if (!isSqliteBusy(error) || Date.now() >= deadline) throw error;
        // 5, 10, 20, 40, then 50 ms, with jitter so two waiting processes do not retry in step.
        const pause = Math.min(5 * 2 ** attempt, 50) * (0.5 + Math.random() / 2);
        await new Promise((resolve) => setTimeout(resolve, pause));
      }
    }
  }

  private async postgresTransaction<T>(work: (sql: SqlExecutor) => Promise<T>): Promise<T> {
    const client: PoolClient = await this.pool().connect();
    let broken = false;
    // The pool listens for errors on idle clients only: a connection the server ends while this
    // transaction holds it (PostgreSQL restarted) emits 'error' here, which unheard would end
    // the process. The query in flight fails on its own; the client goes back as broken.
    const onConnectionError = () => {
      broken = true;
    };
    client.on('error', onConnectionError);
    try {
      await client.query('BEGIN');
      const result = await work(postgresExecutor(client));
      await client.query('COMMIT');
      return result;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true;
      }
      throw error;
    } finally {
      client.removeListener('error', onConnectionError);
      client.release(broken);
    }
  }

  private sqliteExecutor(): SqlExecutor {
    const db = this.sqlite();
    const prepare = (sql: string) => {
      let statement = this.statements.get(sql);
      if (statement === undefined) {
        statement = db.prepare(sql);
        this.statements.set(sql, statement);
      }
      return statement;
    };
    return {
      kind: 'sqlite',
      query: async <T>(sql: string, params: unknown[] = []) => {
        const statement = prepare(sql);
        const values = params.map(toSqliteValue);
        if (statement.reader) return statement.all(values) as T[];
        statement.run(values);
        return [] as T[];
      },
      run: async (sql: string, params: unknown[] = []) => prepare(sql).run(params.map(toSqliteValue)).changes,
    };
  }

  private sqlite(): BetterSqlite3.Database {
    return (this.dataSource.driver as unknown as { databaseConnection: BetterSqlite3.Database }).databaseConnection;
  }

  private pool(): Pool {
    return (this.dataSource.driver as unknown as { master: Pool }).master;
  }
}

function postgresExecutor(client: PoolClient): SqlExecutor {
  return {
    kind: 'postgres',
    query: async <T>(sql: string, params: unknown[] = []) => (await client.query(toPostgres(sql), params.map(toPostgresValue))).rows as T[],
    run: async (sql: string, params: unknown[] = []) => (await client.query(toPostgres(sql), params.map(toPostgresValue))).rowCount ?? 0,
  };
}

/** Rewrites `?` placeholders as $1, $2, … (the collector's SQL has no `?` inside literals). */
export function toPostgres(sql: string): string {
  let index = 0;
  return sql.replace(/\?/g, () => `$${++index}`);
}

function isSqliteBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

function toSqliteValue(value: unknown): unknown {
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'boolean') return value ? 1 : 0;
  return value;
}

function toPostgresValue(value: unknown): unknown {
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'bigint') return value.toString();
  return value;
}
