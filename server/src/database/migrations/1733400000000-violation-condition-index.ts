import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * An index for clearing condition violations (server/src/modules/ledger/condition-violations.ts
 * clearCondition: `WHERE condition_key = ? AND cleared_at IS NULL`), which runs for every disk
 * encryption report. The unique index of the ledger migration cannot serve it, because its
 * predicate also requires `status <> 'resolved'`; without this one every report scanned the whole
 * violations table (a third of the collector's CPU under the ingest benchmark), and ingest grew
 * slower as violations accumulated. Its predicate is implied by `condition_key = ?`, so SQLite and
 * PostgreSQL both use it.
 */
export class ViolationConditionIndex1733400000000 implements MigrationInterface {
  name = 'ViolationConditionIndex1733400000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE INDEX violations_uncleared_condition_key ON violations (condition_key) WHERE condition_key IS NOT NULL AND cleared_at IS NULL`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP INDEX violations_uncleared_condition_key');
  }
}
