import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { provideDatabase } from '../../support/databases';
import { makeTempDir } from '../../support/temp-dir';
import { startTestCollector } from '../server/collector-harness';

/**
 * Replicas of a Deployment start together; on a new (or older) PostgreSQL database each one
 * applies the pending migrations at start. They must not race: every replica starts, and the
 * schema is migrated once.
 */
test('three collectors starting at once on an empty PostgreSQL database all start, migrate it once and publish policy version 1 once', async (t) => {
  const database = await provideDatabase(t, 'postgres');
  if (database === null) return;
  const folders = makeTempDir('mamori-concurrent-');
  t.after(() => folders.cleanup());
  const started = await Promise.allSettled(
    ['a', 'b', 'c'].map((name) => startTestCollector(t, 'sqlite', { MAMORI_DATABASE_URL: database.url!, MAMORI_DATA_DIR: join(folders.path, name), MAMORI_ADMIN_TOKEN: '' })),
  );
  assert.deepEqual(
    started.map((result) => (result.status === 'fulfilled' ? 'started' : String(result.reason))),
    ['started', 'started', 'started'],
  );
  const [first] = started.map((result) => (result as PromiseFulfilledResult<NonNullable<Awaited<ReturnType<typeof startTestCollector>>>>).value);
  const migrations = await first.collector.core.database.query<{ name: string; n: number | string }>('SELECT name, COUNT(*) AS n FROM migrations GROUP BY name');
  assert.ok(migrations.length > 0);
  for (const row of migrations) assert.equal(Number(row.n), 1, `${row.name} applied once`);
  // With no MAMORI_ADMIN_TOKEN set, every administrator token a replica printed lets its holder in.
  const printed = started.map((result) => (result as PromiseFulfilledResult<NonNullable<Awaited<ReturnType<typeof startTestCollector>>>>).value.collector.generatedAdminToken);
  assert.ok(printed.some((token) => token !== null), 'one replica printed the first administrator token');
  for (const token of printed.filter((value): value is string => value !== null)) {
    assert.equal((await first.rest('GET', '/api/v1/agents', undefined, token)).status, 200, 'a printed administrator token works');
  }
  const policies = await first.collector.core.database.query<{ version: number | string }>('SELECT version FROM policy_versions');
  assert.deepEqual(policies.map((row) => Number(row.version)), [1], 'policy version 1 is published once');
});
