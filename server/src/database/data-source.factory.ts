import { chmodSync, existsSync, mkdirSync } from 'node:fs';
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
import { UsbDeviceControl1733000000000 } from './migrations/1733000000000-usb-device-control';
import { UsbViolationPlugs1733200000000 } from './migrations/1733200000000-usb-violation-plugs';
import { Ledger1733100000000 } from './migrations/1733100000000-ledger';
import { Transfers1733300000000 } from './migrations/1733300000000-transfers';
import { ViolationConditionIndex1733400000000 } from './migrations/1733400000000-violation-condition-index';
import { NetworkWhitelist1733500000000 } from './migrations/1733500000000-network-whitelist';
import { AuditLog1733600000000 } from './migrations/1733600000000-audit-log';
import { UsersAndSessions1733700000000 } from './migrations/1733700000000-users-and-sessions';
import { ViolationTriage1733800000000 } from './migrations/1733800000000-violation-triage';
import { UninstallCodes1733900000000 } from './migrations/1733900000000-uninstall-codes';
import { EnrollmentTokenZone1734000000000 } from './migrations/1734000000000-enrollment-token-zone';
import { CertificateRenewal1734100000000 } from './migrations/1734100000000-certificate-renewal';
import { AgentReleases1734200000000 } from './migrations/1734200000000-agent-releases';
import { CaRotation1734300000000 } from './migrations/1734300000000-ca-rotation';

export const ENTITIES = [
  AdminCredentialEntity,
  AgentEntity,
  EnrollmentTokenEntity,
  StoredEventEntity,
  PolicyVersionEntity,
  UsbRegisterEntryEntity,
  ViolationEntity,
];
export const MIGRATIONS = [InitialSchema1732700000000, CollectorSettings1732800000000, UsbDeviceControl1733000000000, Ledger1733100000000, UsbViolationPlugs1733200000000, Transfers1733300000000, ViolationConditionIndex1733400000000, NetworkWhitelist1733500000000, AuditLog1733600000000, UsersAndSessions1733700000000, ViolationTriage1733800000000, UninstallCodes1733900000000, EnrollmentTokenZone1734000000000, CertificateRenewal1734100000000, AgentReleases1734200000000, CaRotation1734300000000];

export function databaseKindOf(config: CollectorConfig): DatabaseKind {
  return config.databaseUrl === undefined ? 'sqlite' : 'postgres';
}

/** Builds (but does not open) the DataSource the configuration selects. Schema changes only through MIGRATIONS. */
export function createDataSource(config: CollectorConfig): DataSource {
  const common = { entities: ENTITIES, migrations: MIGRATIONS, synchronize: false, logging: false, migrationsTransactionMode: 'each' as const };
  if (config.databaseUrl === undefined) {
    preparePrivateDataDir(config.dataDir);
    return new DataSource({
      ...common,
      type: 'better-sqlite3',
      database: sqliteFileOf(config),
      enableWAL: true,
      // Opening and migrating wait for a writer in another process instead of failing with
      // SQLITE_BUSY; DatabaseService shortens this once the collector serves (see there why).
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

export function sqliteFileOf(config: CollectorConfig): string {
  return join(config.dataDir, 'mamori.sqlite');
}

/**
 * Creates the data folder owner-only, and makes an existing one owner-only too: it holds the CA
 * key and (with SQLite) every event, and mkdir leaves the mode of a folder that already exists
 * (made by hand, or by an older version) as it was.
 */
export function preparePrivateDataDir(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  chmodSync(dataDir, 0o700);
}

/**
 * Opens the data source. The SQLite database and its -wal/-shm companions are owner-only:
 * existing ones are tightened first, and new ones are created under umask 077 (SQLite gives the
 * -wal and -shm files it makes later the database file's mode, so they stay 0600 too).
 */
async function initialize(dataSource: DataSource, config: CollectorConfig): Promise<void> {
  if (config.databaseUrl !== undefined) {
    await dataSource.initialize();
    return;
  }
  const file = sqliteFileOf(config);
  for (const path of [file, `${file}-wal`, `${file}-shm`]) {
    if (existsSync(path)) chmodSync(path, 0o600);
  }
  // The umask is process-wide; nothing else creates files while the database opens at start.
  const previous = process.umask(0o077);
  try {
    await dataSource.initialize();
  } finally {
    process.umask(previous);
  }
}

/** Opens the DataSource and applies pending migrations; returns their names. */
export async function openDatabase(config: CollectorConfig): Promise<{ dataSource: DataSource; applied: string[] }> {
  preparePrivateDataDir(config.dataDir);
  const dataSource = createDataSource(config);
  await initialize(dataSource, config);
  try {
    const applied = await withMigrationLock(dataSource, () => dataSource.runMigrations({ transaction: 'each' }));
    return { dataSource, applied: applied.map((migration) => migration.name) };
  } catch (error) {
    await dataSource.destroy();
    throw error;
  }
}

/** Any fixed number: the PostgreSQL advisory lock every collector takes to migrate ("mamori" in ASCII). */
const MIGRATION_LOCK_KEY = 0x6d616d6f7269;

/**
 * Replicas sharing one PostgreSQL database start together (a Deployment's pods) and each applies
 * pending migrations at start; without a lock they race (one creates the migrations table while
 * another does, and fails). A session-level advisory lock on a connection of its own makes them
 * take turns: the first migrates, the others then find nothing pending. SQLite needs none: it has
 * one writer, and the busy timeout makes a second process wait.
 */
async function withMigrationLock<T>(dataSource: DataSource, migrate: () => Promise<T>): Promise<T> {
  if (dataSource.options.type !== 'postgres') return migrate();
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      return await migrate();
    } finally {
      await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await runner.release();
  }
}
