import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * CA rotation: which CA issued each agent's current certificate (`cert_issuer_pin`) and which
 * CAs the agent trusts for the collector (`trusted_ca_pins`, a JSON array of pins as its
 * heartbeat reports them), so `mamori-server ca status|switch|retire` can tell which agents are
 * ready for the next step. Both are NULL until the agent's next heartbeat, enrollment or renewal.
 */
export class CaRotation1734300000000 implements MigrationInterface {
  name = 'CaRotation1734300000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('ALTER TABLE agents ADD COLUMN cert_issuer_pin VARCHAR(64) NULL');
    await queryRunner.query('ALTER TABLE agents ADD COLUMN trusted_ca_pins TEXT NULL');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('ALTER TABLE agents DROP COLUMN trusted_ca_pins');
    await queryRunner.query('ALTER TABLE agents DROP COLUMN cert_issuer_pin');
  }
}
