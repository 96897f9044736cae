import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * USB violations per plug: each violation names the plug it belongs to (the event id of the
 * device's UsbDeviceAttached), so a policy change while the device stays attached, or a second
 * storage report of the same stick, does not raise the same rule twice; and which policy version
 * the collector judged the event by (the agent's own, or the newest when that was unknown).
 * Existing violations each stand for their own plug.
 */
export class UsbViolationPlugs1733200000000 implements MigrationInterface {
  name = 'UsbViolationPlugs1733200000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    for (const statement of [
      'ALTER TABLE violations ADD COLUMN plug_id VARCHAR(36) NULL',
      'ALTER TABLE violations ADD COLUMN judged_under TEXT NULL',
      'UPDATE violations SET plug_id = event_id',
      'CREATE INDEX violations_agent_plug_rule_idx ON violations (agent_id, plug_id, rule)',
    ]) {
      await queryRunner.query(statement);
    }
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const statement of ['DROP INDEX violations_agent_plug_rule_idx', 'ALTER TABLE violations DROP COLUMN judged_under', 'ALTER TABLE violations DROP COLUMN plug_id']) {
      await queryRunner.query(statement);
    }
  }
}
