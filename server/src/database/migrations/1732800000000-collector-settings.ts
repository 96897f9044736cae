import { randomUUID } from 'node:crypto';
import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The settings row that names this database's policy lineage. */
export const POLICY_LINEAGE_SETTING = 'policy_lineage_id';

/**
 * Facts about the database itself, one row per name. The first is the policy lineage id: a UUID
 * made once, when this migration runs on a database, so agents can tell a recreated or restored
 * database (whose policy versions start again at 1) from the one whose versions they cached.
 * It is made here rather than at start so every process that opens the database (collector and
 * CLI) reads the same value and no start-up race can make two.
 */
export class CollectorSettings1732800000000 implements MigrationInterface {
  name = 'CollectorSettings1732800000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE collector_settings (
      name VARCHAR(64) PRIMARY KEY,
      value TEXT NOT NULL
    )`);
    const sqlite = queryRunner.connection.options.type === 'better-sqlite3';
    await queryRunner.query(`INSERT INTO collector_settings (name, value) VALUES (${sqlite ? '?, ?' : '$1, $2'})`, [POLICY_LINEAGE_SETTING, randomUUID()]);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE collector_settings');
  }
}
