import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Uninstall codes: at most one per agent, stored only as the SHA-256 of its normalized form
 * (the code carries 80 random bits, so a slow hash adds nothing). `used_at` is set when an agent
 * presented it and was revoked; a new code replaces the old one. Every issue and every attempt,
 * valid or not, is in the audit log (agent.uninstall_code.issued, agent.uninstall.accepted,
 * agent.uninstall.refused).
 */
export class UninstallCodes1733900000000 implements MigrationInterface {
  name = 'UninstallCodes1733900000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE agent_uninstall_codes (
        agent_id VARCHAR(36) PRIMARY KEY,
        code_hash VARCHAR(64) NOT NULL,
        issued_at BIGINT NOT NULL,
        used_at BIGINT NULL
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE agent_uninstall_codes');
  }
}
