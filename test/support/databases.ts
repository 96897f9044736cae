import { deferCleanup, type CleanupScope } from './cleanup-scope';
import { join } from 'node:path';
import { createTestDatabase, probePostgres } from './postgres';
import { skipOrFail } from './prerequisites';
import { makeTempDir } from './temp-dir';

/** The two databases the collector supports; integration and e2e suites run once per kind. */
export type DatabaseKind = 'sqlite' | 'postgres';
export const DATABASE_KINDS: DatabaseKind[] = ['sqlite', 'postgres'];

export interface ProvidedDatabase {
  kind: DatabaseKind;
  /** The value for MAMORI_DATABASE_URL; undefined means the embedded SQLite default. */
  url: string | undefined;
  /** A data folder of the test's own (the SQLite file lives here when url is undefined). */
  dataDir: string;
}

/**
 * Gives the test a fresh database of the asked kind and a fresh data folder, and registers
 * their removal with `t.after`, so they go away even when the test fails. Returns null when
 * the test was skipped because PostgreSQL is not reachable (outside CI).
 */
export async function provideDatabase(t: CleanupScope, kind: DatabaseKind): Promise<ProvidedDatabase | null> {
  const dir = makeTempDir(`mamori-${kind}-`);
  deferCleanup(t, () => dir.cleanup());
  if (kind === 'sqlite') {
    return { kind, url: undefined, dataDir: join(dir.path, 'data') };
  }
  const problem = await probePostgres();
  if (problem !== null) {
    skipOrFail(t, problem);
    return null;
  }
  const database = await createTestDatabase();
  deferCleanup(t, () => database.drop());
  return { kind, url: database.url, dataDir: join(dir.path, 'data') };
}
