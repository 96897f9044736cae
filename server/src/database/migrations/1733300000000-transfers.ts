import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The collector_settings row holding the transfer policy settings (JSON). */
export const TRANSFER_POLICY_SETTING = 'transfer_policy';

/**
 * What a database starts with: no watched folders, the agents' own inspection budgets, and a
 * daily volume limit of 1,000 files or 4 GiB written to removable media by one user.
 */
export const DEFAULT_TRANSFER_POLICY_SETTINGS = {
  watchedFolders: [] as string[],
  inspectionByteBudget: 0,
  inspectionTimeBudgetMillis: 0,
  dailyFileLimit: 1000,
  dailyByteLimit: 4 * 1024 * 1024 * 1024,
};

/**
 * The outbound file transfer log (issue 5).
 *
 * - transfers: one row per stored FileTransfer event, with the columns the auditor searches by
 *   (user, device serial, agent, time, hash, personal data, channel, operation). `plug_id` is
 *   the plug the file went to (the attach event the agent named, or a stable id derived from the
 *   device and volume when it named none) and `local_day` the collector-local calendar day of
 *   `occurred_at`; the rules count per plug and per user and day with them.
 * - collector_settings `transfer_policy`: the watched folders and inspection budgets agents
 *   receive in Policy.transfer, and the collector-side daily volume limits.
 *
 * Booleans are BOOLEAN on both databases (SQLite reads them back as 0/1).
 */
export class Transfers1733300000000 implements MigrationInterface {
  name = 'Transfers1733300000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const statements = [
      `CREATE TABLE transfers (
        id VARCHAR(36) PRIMARY KEY,
        agent_id VARCHAR(36) NOT NULL REFERENCES agents (id),
        event_id VARCHAR(36) NOT NULL,
        occurred_at BIGINT NOT NULL,
        received_at BIGINT NOT NULL,
        local_day VARCHAR(10) NOT NULL,
        user_name TEXT NOT NULL,
        channel VARCHAR(32) NOT NULL,
        operation VARCHAR(16) NOT NULL,
        path TEXT NOT NULL,
        previous_path TEXT NOT NULL,
        size_bytes BIGINT NOT NULL,
        sha256 VARCHAR(64) NOT NULL,
        destination TEXT NOT NULL,
        device_vendor_id INTEGER NULL,
        device_product_id INTEGER NULL,
        device_serial TEXT NULL,
        device TEXT NULL,
        attached_event_id VARCHAR(36) NULL,
        plug_id VARCHAR(36) NULL,
        device_node TEXT NOT NULL,
        destination_encrypted BOOLEAN NOT NULL,
        has_personal_data BOOLEAN NOT NULL,
        findings TEXT NOT NULL,
        inspection_complete BOOLEAN NOT NULL,
        inspection_note TEXT NOT NULL,
        format VARCHAR(32) NOT NULL,
        encrypted_entries BIGINT NOT NULL,
        problem TEXT NOT NULL,
        process_name TEXT NOT NULL,
        process_id BIGINT NOT NULL
      )`,
      `CREATE UNIQUE INDEX transfers_agent_event_key ON transfers (agent_id, event_id)`,
      `CREATE INDEX transfers_occurred_at_idx ON transfers (occurred_at DESC, id DESC)`,
      `CREATE INDEX transfers_agent_occurred_at_idx ON transfers (agent_id, occurred_at DESC, id DESC)`,
      `CREATE INDEX transfers_user_day_idx ON transfers (user_name, local_day)`,
      `CREATE INDEX transfers_device_serial_idx ON transfers (device_serial, occurred_at DESC)`,
      `CREATE INDEX transfers_sha256_idx ON transfers (sha256)`,
      `CREATE INDEX transfers_agent_plug_idx ON transfers (agent_id, plug_id)`,
    ];
    for (const statement of statements) await queryRunner.query(statement);
    const sqlite = queryRunner.connection.options.type === 'better-sqlite3';
    await queryRunner.query(`INSERT INTO collector_settings (name, value) VALUES (${sqlite ? '?, ?' : '$1, $2'})`, [
      TRANSFER_POLICY_SETTING,
      JSON.stringify(DEFAULT_TRANSFER_POLICY_SETTINGS),
    ]);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const sqlite = queryRunner.connection.options.type === 'better-sqlite3';
    await queryRunner.query(`DELETE FROM collector_settings WHERE name = ${sqlite ? '?' : '$1'}`, [TRANSFER_POLICY_SETTING]);
    await queryRunner.query('DROP TABLE transfers');
  }
}
