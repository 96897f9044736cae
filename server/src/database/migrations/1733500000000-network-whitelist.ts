import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The development-LAN destination whitelist (issue 6, CONTROLS.md C2 and C3).
 *
 * - network_zones: the zones administrators define by CIDR blocks and/or DNS suffixes (JSON lists
 *   of normalized text), tried in `position` order (ties by name), with what agents do there about
 *   destinations that are not whitelisted (`off`, `audit`, `enforce`).
 * - whitelist_entries: the approved destinations. `status` is `active` until the entry is ended by
 *   a person (`revoked`, with who, when and why) or by its `expires_at` passing (`expired`, set by
 *   the expiry scheduler when it publishes the version without it). `request_id` names the request
 *   it came from, null for an entry an administrator added directly. `ports` is a JSON list of
 *   {first, last}; `protocol` is `any`, `tcp` or `udp`; `zone` is '' for every zone.
 * - whitelist_requests: applications for a destination, with the requested expiry and, once
 *   decided, who decided, when, why, the approved (possibly shortened) expiry and the entry made.
 * - whitelist_history: every step (a zone created, changed or deleted; an entry added, changed or
 *   ended; a request filed, approved, rejected or withdrawn; an agent's required zone set), with
 *   the actor and the record before and after as JSON, and the policy version it published.
 * - agents.required_zone: the zone a device belongs to (a partner's machine kept on the
 *   development LAN); a heartbeat from another zone raises network.wrong_zone.
 */
export class NetworkWhitelist1733500000000 implements MigrationInterface {
  name = 'NetworkWhitelist1733500000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const statements = [
      `CREATE TABLE network_zones (
        name VARCHAR(64) PRIMARY KEY,
        position INTEGER NOT NULL,
        cidrs TEXT NOT NULL,
        dns_suffixes TEXT NOT NULL,
        mode VARCHAR(16) NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      )`,
      `CREATE INDEX network_zones_position_idx ON network_zones (position, name)`,
      `CREATE TABLE whitelist_entries (
        id VARCHAR(36) PRIMARY KEY,
        host_pattern TEXT NOT NULL,
        cidr VARCHAR(64) NOT NULL,
        ports TEXT NOT NULL,
        protocol VARCHAR(8) NOT NULL,
        service VARCHAR(16) NOT NULL,
        zone VARCHAR(64) NOT NULL,
        justification TEXT NOT NULL,
        requested_by TEXT NOT NULL,
        approved_by TEXT NOT NULL,
        expires_at BIGINT NULL,
        status VARCHAR(16) NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        revoked_by TEXT NULL,
        revoked_at BIGINT NULL,
        revocation_reason TEXT NULL,
        expired_at BIGINT NULL,
        request_id VARCHAR(36) NULL
      )`,
      `CREATE INDEX whitelist_entries_status_expires_idx ON whitelist_entries (status, expires_at)`,
      `CREATE INDEX whitelist_entries_created_idx ON whitelist_entries (created_at DESC, id DESC)`,
      `CREATE TABLE whitelist_requests (
        id VARCHAR(36) PRIMARY KEY,
        host_pattern TEXT NOT NULL,
        cidr VARCHAR(64) NOT NULL,
        ports TEXT NOT NULL,
        protocol VARCHAR(8) NOT NULL,
        service VARCHAR(16) NOT NULL,
        zone VARCHAR(64) NOT NULL,
        justification TEXT NOT NULL,
        requested_by TEXT NOT NULL,
        requested_at BIGINT NOT NULL,
        requested_expires_at BIGINT NULL,
        status VARCHAR(16) NOT NULL,
        decided_by TEXT NULL,
        decided_at BIGINT NULL,
        decision_reason TEXT NULL,
        approved_expires_at BIGINT NULL,
        entry_id VARCHAR(36) NULL REFERENCES whitelist_entries (id)
      )`,
      `CREATE INDEX whitelist_requests_status_idx ON whitelist_requests (status, requested_at DESC, id DESC)`,
      `CREATE INDEX whitelist_requests_requested_idx ON whitelist_requests (requested_at DESC, id DESC)`,
      `CREATE TABLE whitelist_history (
        id VARCHAR(36) PRIMARY KEY,
        at BIGINT NOT NULL,
        kind VARCHAR(32) NOT NULL,
        subject_id VARCHAR(64) NOT NULL,
        actor TEXT NOT NULL,
        reason TEXT NULL,
        before_state TEXT NULL,
        after_state TEXT NULL,
        policy_version BIGINT NULL
      )`,
      `CREATE INDEX whitelist_history_at_idx ON whitelist_history (at DESC, id DESC)`,
      `CREATE INDEX whitelist_history_subject_idx ON whitelist_history (subject_id, at DESC)`,
      `ALTER TABLE agents ADD COLUMN required_zone VARCHAR(64) NULL`,
    ];
    for (const statement of statements) await queryRunner.query(statement);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const statement of [
      'ALTER TABLE agents DROP COLUMN required_zone',
      'DROP TABLE whitelist_history',
      'DROP TABLE whitelist_requests',
      'DROP TABLE whitelist_entries',
      'DROP TABLE network_zones',
    ]) {
      await queryRunner.query(statement);
    }
  }
}
