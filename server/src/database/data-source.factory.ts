import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import type { CollectorConfig } from '../config/collector-config';
import { AdminCredentialEntity } from '../modules/admin-auth/admin-credential.entity';
import { AgentEntity } from '../modules/agents/agent.entity';
import { EnrollmentTokenEntity } from '../modules/enrollment/enrollment-token.entity';
import { StoredEventEntity } from '../modules/ingest/stored-event.entity';
import { PolicyVersionEntity } from '../modules/policy/policy-version.entity';
import { UsbRegisterEntryEntity } from '../modules/usb-register/usb-register-entry.entity';
import { ViolationEntity } from '../modules/violations/violation.entity';
import type { DatabaseKind } from './database-kind';
import { InitialSchema1732700000000 } from './migrations/1732700000000-initial-schema';
import { CollectorSettings1732800000000 } from './migrations/1732800000000-collector-settings';

export const ENTITIES = [
  AdminCredentialEntity,
  AgentEntity,
  EnrollmentTokenEntity,
  StoredEventEntity,
  PolicyVersionEntity,
  UsbRegisterEntryEntity,
  ViolationEntity,
];
export const MIGRATIONS = [InitialSchema1732700000000, CollectorSettings1732800000000];

export function databaseKindOf(config: CollectorConfig): DatabaseKind {
  return config.databaseUrl === undefined ? 'sqlite' : 'postgres';
}

/** Builds (but does not open) the DataSource the configuration selects. Schema changes only through MIGRATIONS. */
export function createDataSource(config: CollectorConfig): DataSource {
  const common = { entities: ENTITIES, migrations: MIGRATIONS, synchronize: false, logging: false, migrationsTransactionMode: 'each' as const };
  if (config.databaseUrl === undefined) {
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    return new DataSource({
      ...common,
      type: 'better-sqlite3',
      database: join(config.dataDir, 'mamori.sqlite'),
      enableWAL: true,
      // A writer from another process (the CLI) waits instead of failing with SQLITE_BUSY.
      timeout: 10_000,
    });
  }
  return new DataSource({
    ...common,
    type: 'postgres',
    url: config.databaseUrl,
    extra: { max: 10 },
  });
}

/** Opens the DataSource and applies pending migrations; returns their names. */
export async function openDatabase(config: CollectorConfig): Promise<{ dataSource: DataSource; applied: string[] }> {
  const dataSource = createDataSource(config);
  await dataSource.initialize();
  try {
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    return { dataSource, applied: applied.map((migration) => migration.name) };
  } catch (error) {
    await dataSource.destroy();
    throw error;
  }
}
