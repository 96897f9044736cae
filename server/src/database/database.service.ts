import type BetterSqlite3 from 'better-sqlite3';
import type { Pool, PoolClient } from 'pg';
import { DataSource } from 'typeorm';
import { AsyncMutex } from '../common/async-mutex';
import type { DatabaseKind } from './database-kind';

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

  private async sqliteTransaction<T>(work: (sql: SqlExecutor) => Promise<T>): Promise<T> {
    return this.sqliteWrites.run(async () => {
      const db = this.sqlite();
      // IMMEDIATE takes the write lock now, so a concurrent CLI process waits at BEGIN, not mid-way.
      db.exec('BEGIN IMMEDIATE');
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

  private async postgresTransaction<T>(work: (sql: SqlExecutor) => Promise<T>): Promise<T> {
    const client: PoolClient = await this.pool().connect();
    let broken = false;
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
