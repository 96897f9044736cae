import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Violation triage for the console:
 * - `assignee`: the username of the security reviewer a violation is assigned to, null when nobody is.
 * - `violations_updated_at_idx`: the live feed (GET /api/v1/violations/stream) polls for rows whose
 *   updated_at lies in its look-back window, and resumes from an (updated_at, id) cursor; every
 *   writer of the table already sets updated_at on insert and on every change, so the index serves
 *   all of them without touching any writer.
 * - `violations_assignee_idx`: the list's assignee filter ("my violations").
 * Status `false_positive` is a new value of the existing VARCHAR(16) status column; nothing to migrate.
 */
export class ViolationTriage1733800000000 implements MigrationInterface {
  name = 'ViolationTriage1733800000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    for (const statement of [
      'ALTER TABLE violations ADD COLUMN assignee VARCHAR(64) NULL',
      'CREATE INDEX violations_updated_at_idx ON violations (updated_at, id)',
      'CREATE INDEX violations_assignee_idx ON violations (assignee, occurred_at DESC, id DESC)',
    ]) {
      await queryRunner.query(statement);
    }
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const statement of ['DROP INDEX violations_assignee_idx', 'DROP INDEX violations_updated_at_idx', 'ALTER TABLE violations DROP COLUMN assignee']) {
      await queryRunner.query(statement);
    }
  }
}
