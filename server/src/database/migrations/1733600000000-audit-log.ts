import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The tamper-evident audit log (issue 7). One row per change made by a person, a token or the
 * command line: who (actor kind, id, name, and the person the request named), from where, what
 * (action, subject type and id), the subject before and after as canonical JSON text, and the
 * hash chain: `previous_hash` is the hash of record `sequence - 1` (a fixed genesis value for
 * record 1), `hash` is SHA-256 over the canonical serialization of the rest. Sequence numbers
 * run from 1 without gaps. The product never updates or deletes a row.
 */
export class AuditLog1733600000000 implements MigrationInterface {
  name = 'AuditLog1733600000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    for (const statement of [
      `CREATE TABLE audit_records (
        sequence BIGINT PRIMARY KEY,
        id VARCHAR(36) NOT NULL UNIQUE,
        at BIGINT NOT NULL,
        actor_kind VARCHAR(16) NOT NULL,
        actor_id VARCHAR(128) NOT NULL,
        actor_name TEXT NOT NULL,
        on_behalf_of TEXT NULL,
        source_address VARCHAR(64) NOT NULL,
        action VARCHAR(64) NOT NULL,
        subject_type VARCHAR(32) NOT NULL,
        subject_id VARCHAR(128) NOT NULL,
        before_state TEXT NULL,
        after_state TEXT NULL,
        previous_hash CHAR(64) NOT NULL,
        hash CHAR(64) NOT NULL
      )`,
      `CREATE INDEX audit_records_at_idx ON audit_records (at)`,
      `CREATE INDEX audit_records_subject_idx ON audit_records (subject_type, subject_id, sequence)`,
      `CREATE INDEX audit_records_action_idx ON audit_records (action, sequence)`,
    ]) {
      await queryRunner.query(statement);
    }
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE audit_records');
  }
}
