import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * enrollment_tokens.zone: an enrollment token may be bound to a network zone. Every agent it
 * enrolls is then required in that zone (network.wrong_zone when it reports another), and an
 * install naming another zone is refused: whoever holds the token cannot place a laptop in a
 * zone IT did not mean it for. NULL: the installer may name any defined zone, or none.
 */
export class EnrollmentTokenZone1734000000000 implements MigrationInterface {
  name = 'EnrollmentTokenZone1734000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('ALTER TABLE enrollment_tokens ADD COLUMN zone VARCHAR(64) NULL');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('ALTER TABLE enrollment_tokens DROP COLUMN zone');
  }
}
