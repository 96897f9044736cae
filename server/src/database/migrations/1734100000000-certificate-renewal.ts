import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Client certificate renewal: an agent swaps its certificate over mutual TLS. The certificate it
 * renewed from stays accepted (`previous_cert_fingerprint`) until the agent has called once with
 * the new one, so an agent that crashed between the collector's answer and its own file swap can
 * still reach the collector and renew again. `cert_renewed_at` says when the last renewal happened.
 */
export class CertificateRenewal1734100000000 implements MigrationInterface {
  name = 'CertificateRenewal1734100000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('ALTER TABLE agents ADD COLUMN previous_cert_fingerprint VARCHAR(64) NULL');
    await queryRunner.query('ALTER TABLE agents ADD COLUMN cert_renewed_at BIGINT NULL');
    await queryRunner.query('CREATE INDEX agents_previous_cert_fingerprint ON agents (previous_cert_fingerprint)');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP INDEX agents_previous_cert_fingerprint');
    await queryRunner.query('ALTER TABLE agents DROP COLUMN cert_renewed_at');
    await queryRunner.query('ALTER TABLE agents DROP COLUMN previous_cert_fingerprint');
  }
}
