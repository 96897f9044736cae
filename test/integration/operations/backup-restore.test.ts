import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DATABASE_KINDS } from '../../support/databases';
import { createTestDatabase } from '../../support/postgres';
import { skipOrFail } from '../../support/prerequisites';
import { makeTempDir } from '../../support/temp-dir';
import { startTestCollector, type TestCollector } from '../server/collector-harness';

/** Changes that leave audit records and rows a restore must bring back. */
async function makeHistory(sut: TestCollector): Promise<{ tokenId: string }> {
  const token = await sut.rest('POST', '/api/v1/enrollment-tokens', { label: 'before the backup' });
  assert.equal(token.status, 201);
  assert.equal((await sut.rest('PUT', '/api/v1/policy/usb', { unregisteredDeviceMode: 'block' })).status, 200);
  return { tokenId: token.body.id };
}

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  assert.equal(result.status, 0, `${command} ${args.join(' ')}: ${result.stderr}`);
}

function has(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
}

/**
 * The README's backup and restore procedure, done here: an online backup of a running
 * collector's database (sqlite3 .backup, or pg_dump), its data folder's key material copied,
 * a restore into a fresh database and folder, and a collector started on the restored copy that
 * finds its rows, the same CA, and an unbroken audit chain.
 */
for (const kind of DATABASE_KINDS) {
  describe(`backup and restore on ${kind}`, () => {
    test('an online backup restored into a fresh database starts a collector with the same CA, data and an intact audit chain', async (t) => {
      const tool = kind === 'sqlite' ? 'sqlite3' : 'pg_dump';
      if (!has(tool) || (kind === 'postgres' && !has('pg_restore'))) {
        skipOrFail(t, `${tool} is not installed`);
        return;
      }
      const original = await startTestCollector(t, kind);
      if (original === null) return;
      const { tokenId } = await makeHistory(original);
      const before = (await original.rest('GET', '/api/v1/audit/verify')).body;
      assert.equal(before.ok, true);

      const backup = makeTempDir('mamori-backup-');
      t.after(() => backup.cleanup());
      const sourceDir = original.collector.core.config.dataDir;
      const restoredDir = join(backup.path, 'restored-data');
      mkdirSync(restoredDir, { mode: 0o700 });
      // The key material: the CA (agents pin it) and the server certificate.
      for (const file of readdirSync(sourceDir).filter((name) => /\.(crt|key)$/.test(name))) copyFileSync(join(sourceDir, file), join(restoredDir, file));

      const env: Record<string, string> = { MAMORI_DATA_DIR: restoredDir };
      if (kind === 'sqlite') {
        // While the collector runs: sqlite3's .backup takes a consistent copy (WAL included).
        const copy = join(backup.path, 'mamori.sqlite.backup');
        run('sqlite3', [join(sourceDir, 'mamori.sqlite'), `.backup '${copy}'`]);
        await original.collector.close();
        copyFileSync(copy, join(restoredDir, 'mamori.sqlite'));
      } else {
        const dump = join(backup.path, 'mamori.dump');
        run('pg_dump', ['--format=custom', '--no-owner', '--file', dump, original.collector.core.config.databaseUrl!]);
        await original.collector.close();
        const fresh = await createTestDatabase();
        t.after(() => fresh.drop());
        run('pg_restore', ['--no-owner', '--exit-on-error', '--dbname', fresh.url, dump]);
        env.MAMORI_DATABASE_URL = fresh.url;
      }

      const restored = await startTestCollector(t, kind, env);
      assert.ok(restored !== null);
      assert.equal(restored.caPem, original.caPem, 'the same CA: enrolled agents keep working');
      const after = (await restored.rest('GET', '/api/v1/audit/verify')).body;
      assert.equal(after.ok, true, JSON.stringify(after));
      assert.ok(after.records >= before.records, 'every record of the backup is there');
      assert.ok(after.last.sequence >= before.last.sequence);
      const tokens = (await restored.rest('GET', '/api/v1/enrollment-tokens')).body;
      assert.ok(JSON.stringify(tokens).includes(tokenId), 'the enrollment token made before the backup is there');
      assert.equal((await restored.rest('GET', '/api/v1/policy')).body.usb.unregisteredDeviceMode, 'block');
    });
  });
}
