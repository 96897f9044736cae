import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The laptop ledger and disk-encryption posture (issue 4).
 *
 * - agents: the hardware facts of the heartbeat and the newest disk-encryption posture, with its
 *   verdict (`encrypted`, `not_encrypted`, `unknown`) kept as a column so lists can filter on it.
 * - ledger_devices: one row per machine. Rows with a status come from the departments' ledger
 *   (REST or CSV import), possibly before the machine is enrolled; rows without a status were
 *   discovered (an enrolled agent that matched no ledger row) and are what
 *   `ledger.unknown_device` points at, until someone adds them to the ledger.
 * - violations: condition violations (a disk that is not encrypted, a silent agent, a machine
 *   outside the ledger, an overdue loan) are not tied to one event. `condition_key` names the
 *   condition; at most one violation per key is live (not cleared and not resolved by hand), and
 *   `cleared_at` records when the collector saw the condition end. A loan that is overdue may
 *   belong to a machine that was never enrolled, so agent_id becomes nullable.
 */
export class Ledger1733100000000 implements MigrationInterface {
  name = 'Ledger1733100000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const sqlite = queryRunner.connection.options.type === 'better-sqlite3';
    if (sqlite) await makeViolationAgentNullableOnSqlite(queryRunner);
    else await queryRunner.query('ALTER TABLE violations ALTER COLUMN agent_id DROP NOT NULL');

    const statements = [
      `ALTER TABLE agents ADD COLUMN hardware_serial TEXT NOT NULL DEFAULT ''`,
      `ALTER TABLE agents ADD COLUMN hardware_model TEXT NOT NULL DEFAULT ''`,
      `ALTER TABLE agents ADD COLUMN hardware_vendor TEXT NOT NULL DEFAULT ''`,
      `ALTER TABLE agents ADD COLUMN disk_encryption TEXT NULL`,
      `ALTER TABLE agents ADD COLUMN disk_encryption_state VARCHAR(16) NOT NULL DEFAULT 'unknown'`,
      `ALTER TABLE agents ADD COLUMN disk_encryption_at BIGINT NULL`,
      `ALTER TABLE violations ADD COLUMN condition_key TEXT NULL`,
      `ALTER TABLE violations ADD COLUMN cleared_at BIGINT NULL`,
      `ALTER TABLE violations ADD COLUMN ledger_device_id VARCHAR(36) NULL`,
      `CREATE UNIQUE INDEX violations_live_condition_key ON violations (condition_key)
         WHERE condition_key IS NOT NULL AND cleared_at IS NULL AND status <> 'resolved'`,
      `CREATE TABLE ledger_devices (
        id VARCHAR(36) PRIMARY KEY,
        asset_tag TEXT NULL,
        hardware_serial TEXT NOT NULL DEFAULT '',
        serial_key TEXT NOT NULL DEFAULT '',
        hostname TEXT NOT NULL DEFAULT '',
        hostname_key TEXT NOT NULL DEFAULT '',
        department TEXT NOT NULL DEFAULT '',
        holder TEXT NOT NULL DEFAULT '',
        loaned_since VARCHAR(10) NULL,
        due_back VARCHAR(10) NULL,
        status VARCHAR(16) NULL,
        note TEXT NOT NULL DEFAULT '',
        agent_id VARCHAR(36) NULL REFERENCES agents (id),
        matched_by VARCHAR(16) NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      )`,
      `CREATE UNIQUE INDEX ledger_devices_asset_tag_key ON ledger_devices (asset_tag)`,
      `CREATE UNIQUE INDEX ledger_devices_agent_key ON ledger_devices (agent_id)`,
      `CREATE INDEX ledger_devices_serial_idx ON ledger_devices (serial_key)`,
      `CREATE INDEX ledger_devices_hostname_idx ON ledger_devices (hostname_key)`,
      `CREATE INDEX ledger_devices_department_idx ON ledger_devices (department, created_at, id)`,
      `CREATE INDEX ledger_devices_created_idx ON ledger_devices (created_at, id)`,
    ];
    for (const statement of statements) await queryRunner.query(statement);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const statement of [
      'DROP TABLE ledger_devices',
      'DROP INDEX violations_live_condition_key',
      'ALTER TABLE violations DROP COLUMN ledger_device_id',
      'ALTER TABLE violations DROP COLUMN cleared_at',
      'ALTER TABLE violations DROP COLUMN condition_key',
      'ALTER TABLE agents DROP COLUMN disk_encryption_at',
      'ALTER TABLE agents DROP COLUMN disk_encryption_state',
      'ALTER TABLE agents DROP COLUMN disk_encryption',
      'ALTER TABLE agents DROP COLUMN hardware_vendor',
      'ALTER TABLE agents DROP COLUMN hardware_model',
      'ALTER TABLE agents DROP COLUMN hardware_serial',
    ]) {
      await queryRunner.query(statement);
    }
    // violations.agent_id stays nullable: rows without an agent may exist by now.
  }
}

/**
 * SQLite cannot drop a NOT NULL constraint in place. This is SQLite's documented procedure for
 * other schema changes (https://www.sqlite.org/lang_altertable.html, section 7): create the new
 * table from the stored definition with the one change, copy, drop, rename, recreate indexes.
 * The stored definition is read rather than restated, so columns added by earlier migrations
 * (and any added by a migration written at the same time) are kept. Nothing references
 * violations, so dropping it breaks no foreign key.
 */
async function makeViolationAgentNullableOnSqlite(queryRunner: QueryRunner): Promise<void> {
  const table = (await queryRunner.query(`SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'violations'`)) as Array<{ sql: string }>;
  if (table.length !== 1) throw new Error('violations table not found');
  const definition = table[0].sql;
  const column = /(\bagent_id\s+VARCHAR\(36\)\s+)NOT\s+NULL/i;
  if (!column.test(definition)) return;
  const rebuilt = definition.replace(column, '$1NULL').replace(/^CREATE TABLE\s+"?violations"?/i, 'CREATE TABLE violations_rebuilt');
  const indexes = (await queryRunner.query(
    `SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'violations' AND sql IS NOT NULL`,
  )) as Array<{ sql: string }>;
  await queryRunner.query(rebuilt);
  await queryRunner.query('INSERT INTO violations_rebuilt SELECT * FROM violations');
  await queryRunner.query('DROP TABLE violations');
  await queryRunner.query('ALTER TABLE violations_rebuilt RENAME TO violations');
  for (const index of indexes) await queryRunner.query(index.sql);
}
