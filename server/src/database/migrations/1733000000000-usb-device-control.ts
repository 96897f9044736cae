import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * USB device control (issue 3): register entries with vendor:product wildcards, a descriptor
 * hash and an update time; the USB policy modes (one row, seeded with issue 2's behaviour so an
 * upgraded collector keeps doing what it did); time-boxed exceptions with their approval trail
 * and the events that used them; and the agent's enforcement on each violation.
 *
 * The same SQL runs on both databases: SQLite takes BOOLEAN as a numeric column and reads it back
 * as 0/1, PostgreSQL as true/false; the services read either.
 */
export class UsbDeviceControl1733000000000 implements MigrationInterface {
  name = 'UsbDeviceControl1733000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const statements = [
      `ALTER TABLE usb_register_entries ADD COLUMN any_vendor BOOLEAN NOT NULL DEFAULT FALSE`,
      `ALTER TABLE usb_register_entries ADD COLUMN any_product BOOLEAN NOT NULL DEFAULT FALSE`,
      `ALTER TABLE usb_register_entries ADD COLUMN descriptor_hash VARCHAR(64) NOT NULL DEFAULT ''`,
      `ALTER TABLE usb_register_entries ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0`,
      `UPDATE usb_register_entries SET updated_at = created_at`,
      // A wildcard entry stores 0 for the id it ignores, so "0781:*" with one serial is registered once.
      `DROP INDEX usb_register_entries_device_key`,
      `CREATE UNIQUE INDEX usb_register_entries_match_key ON usb_register_entries (any_vendor, vendor_id, any_product, product_id, serial)`,
      `ALTER TABLE violations ADD COLUMN enforcement TEXT NULL`,
      `CREATE TABLE usb_policy_settings (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        unregistered_device_mode VARCHAR(16) NOT NULL,
        registered_device_mode VARCHAR(16) NOT NULL,
        require_encrypted_media BOOLEAN NOT NULL,
        unencrypted_media_mode VARCHAR(16) NOT NULL,
        storage_with_hid_mode VARCHAR(16) NOT NULL,
        updated_at BIGINT NOT NULL
      )`,
      `INSERT INTO usb_policy_settings
        (id, unregistered_device_mode, registered_device_mode, require_encrypted_media, unencrypted_media_mode, storage_with_hid_mode, updated_at)
        VALUES (1, 'audit', 'allow', FALSE, 'audit', 'audit', ${Date.now()})`,
      `CREATE TABLE usb_exceptions (
        id VARCHAR(36) PRIMARY KEY,
        vendor_id INTEGER NOT NULL,
        product_id INTEGER NOT NULL,
        serial TEXT NOT NULL,
        agent_id VARCHAR(36) NOT NULL REFERENCES agents (id),
        user_name TEXT NOT NULL,
        not_before BIGINT NOT NULL,
        not_after BIGINT NOT NULL,
        requested_not_after BIGINT NOT NULL,
        justification TEXT NOT NULL,
        mode VARCHAR(16) NOT NULL,
        status VARCHAR(16) NOT NULL,
        requested_by TEXT NOT NULL,
        requested_at BIGINT NOT NULL,
        approved_by TEXT NULL,
        approved_at BIGINT NULL,
        rejected_by TEXT NULL,
        rejected_at BIGINT NULL,
        rejection_reason TEXT NULL,
        revoked_by TEXT NULL,
        revoked_at BIGINT NULL,
        revocation_reason TEXT NULL
      )`,
      `CREATE INDEX usb_exceptions_status_not_after_idx ON usb_exceptions (status, not_after)`,
      `CREATE INDEX usb_exceptions_agent_idx ON usb_exceptions (agent_id, not_after)`,
      `CREATE TABLE usb_exception_uses (
        exception_id VARCHAR(36) NOT NULL REFERENCES usb_exceptions (id),
        agent_id VARCHAR(36) NOT NULL,
        event_id VARCHAR(36) NOT NULL,
        occurred_at BIGINT NOT NULL,
        PRIMARY KEY (exception_id, agent_id, event_id)
      )`,
    ];
    for (const statement of statements) await queryRunner.query(statement);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const statement of [
      'DROP TABLE usb_exception_uses',
      'DROP TABLE usb_exceptions',
      'DROP TABLE usb_policy_settings',
      'ALTER TABLE violations DROP COLUMN enforcement',
      'DROP INDEX usb_register_entries_match_key',
      'CREATE UNIQUE INDEX usb_register_entries_device_key ON usb_register_entries (vendor_id, product_id, serial)',
      'ALTER TABLE usb_register_entries DROP COLUMN updated_at',
      'ALTER TABLE usb_register_entries DROP COLUMN descriptor_hash',
      'ALTER TABLE usb_register_entries DROP COLUMN any_product',
      'ALTER TABLE usb_register_entries DROP COLUMN any_vendor',
    ]) {
      await queryRunner.query(statement);
    }
  }
}
