import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The first schema. Written as SQL per dialect rather than with the Table API because the
 * identity column and the index order differ, and reviewers read SQL faster. Times are
 * BIGINT epoch milliseconds and JSON documents TEXT on both databases (see epoch-millis.transformer).
 */
export class InitialSchema1732700000000 implements MigrationInterface {
  name = 'InitialSchema1732700000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const sqlite = queryRunner.connection.options.type === 'better-sqlite3';
    const identity = sqlite ? 'INTEGER PRIMARY KEY AUTOINCREMENT' : 'BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY';
    const statements = [
      `CREATE TABLE enrollment_tokens (
        id VARCHAR(36) PRIMARY KEY,
        label TEXT NOT NULL,
        secret_hash VARCHAR(64) NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        max_uses INTEGER NULL,
        uses INTEGER NOT NULL DEFAULT 0,
        revoked_at BIGINT NULL
      )`,
      `CREATE TABLE agents (
        id VARCHAR(36) PRIMARY KEY,
        status VARCHAR(16) NOT NULL,
        hostname TEXT NOT NULL,
        os_family TEXT NOT NULL,
        os_version TEXT NOT NULL,
        agent_version TEXT NOT NULL,
        architecture TEXT NOT NULL,
        machine_id TEXT NOT NULL,
        logged_in_users TEXT NOT NULL,
        network_interfaces TEXT NOT NULL,
        posture TEXT NULL,
        health TEXT NULL,
        cert_fingerprint VARCHAR(64) NOT NULL,
        cert_serial VARCHAR(64) NOT NULL,
        cert_expires_at BIGINT NOT NULL,
        enrollment_token_id VARCHAR(36) NOT NULL REFERENCES enrollment_tokens (id),
        enrolled_at BIGINT NOT NULL,
        revoked_at BIGINT NULL,
        last_seen_at BIGINT NULL,
        policy_version BIGINT NOT NULL DEFAULT 0
      )`,
      `CREATE UNIQUE INDEX agents_cert_fingerprint_key ON agents (cert_fingerprint)`,
      `CREATE TABLE events (
        id ${identity},
        agent_id VARCHAR(36) NOT NULL REFERENCES agents (id),
        event_id VARCHAR(36) NOT NULL,
        sequence BIGINT NOT NULL,
        kind VARCHAR(32) NOT NULL,
        occurred_at BIGINT NOT NULL,
        received_at BIGINT NOT NULL,
        user_name TEXT NOT NULL,
        batch_id VARCHAR(36) NOT NULL,
        payload TEXT NOT NULL
      )`,
      `CREATE UNIQUE INDEX events_agent_event_key ON events (agent_id, event_id)`,
      `CREATE INDEX events_occurred_at_idx ON events (occurred_at DESC, id DESC)`,
      `CREATE INDEX events_agent_occurred_at_idx ON events (agent_id, occurred_at DESC, id DESC)`,
      `CREATE INDEX events_kind_occurred_at_idx ON events (kind, occurred_at DESC, id DESC)`,
      `CREATE TABLE violations (
        id VARCHAR(36) PRIMARY KEY,
        rule VARCHAR(64) NOT NULL,
        severity VARCHAR(16) NOT NULL,
        status VARCHAR(16) NOT NULL,
        agent_id VARCHAR(36) NOT NULL REFERENCES agents (id),
        event_id VARCHAR(36) NOT NULL,
        hostname TEXT NOT NULL,
        user_name TEXT NOT NULL,
        device TEXT NOT NULL,
        occurred_at BIGINT NOT NULL,
        detected_at BIGINT NOT NULL,
        summary TEXT NOT NULL,
        note TEXT NULL,
        updated_at BIGINT NOT NULL
      )`,
      `CREATE UNIQUE INDEX violations_agent_event_rule_key ON violations (agent_id, event_id, rule)`,
      `CREATE INDEX violations_occurred_at_idx ON violations (occurred_at DESC, id DESC)`,
      `CREATE TABLE usb_register_entries (
        id VARCHAR(36) PRIMARY KEY,
        vendor_id INTEGER NOT NULL,
        product_id INTEGER NOT NULL,
        serial TEXT NOT NULL,
        label TEXT NOT NULL,
        holder TEXT NOT NULL,
        department TEXT NULL,
        created_at BIGINT NOT NULL
      )`,
      `CREATE UNIQUE INDEX usb_register_entries_device_key ON usb_register_entries (vendor_id, product_id, serial)`,
      `CREATE TABLE policy_versions (
        version BIGINT PRIMARY KEY,
        published_at BIGINT NOT NULL,
        document TEXT NOT NULL
      )`,
      `CREATE TABLE admin_credentials (
        id VARCHAR(36) PRIMARY KEY,
        token_hash VARCHAR(64) NOT NULL,
        created_at BIGINT NOT NULL
      )`,
      `CREATE UNIQUE INDEX admin_credentials_token_hash_key ON admin_credentials (token_hash)`,
    ];
    for (const statement of statements) await queryRunner.query(statement);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of ['admin_credentials', 'policy_versions', 'usb_register_entries', 'violations', 'events', 'agents', 'enrollment_tokens']) {
      await queryRunner.query(`DROP TABLE ${table}`);
    }
  }
}
