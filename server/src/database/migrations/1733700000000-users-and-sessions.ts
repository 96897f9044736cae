import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * People who sign in to the console, their sessions and their API tokens (issue 7).
 *
 * - users: `username` is stored lower-case (the service folds it), so the unique index makes it
 *   unique case-insensitively on both databases. `roles` is a JSON list of role names.
 *   `auth_provider` is 'local' (a password, `password_hash` in the self-describing scrypt format
 *   of password-hash.ts); an OIDC provider would add users with 'oidc', an `external_subject`
 *   (the issuer's `sub`) and no password hash.
 * - user_sessions: only the SHA-256 of the session secret the cookie carries is stored, so a
 *   copy of the database does not sign anyone in. A session ends `idle` after its last request
 *   or at `expires_at` (sign-in + the absolute limit), whichever comes first.
 * - api_tokens: `mamori_pat_<id>_<secret>`; only the SHA-256 of the secret is stored. `roles` is
 *   a subset of the owner's roles when created; the effective roles are re-intersected with the
 *   owner's current roles on every use.
 * - login_throttle: failed sign-ins per username (also for names that do not exist, so a lock
 *   does not tell which names exist), shared by every collector process on the database.
 */
export class UsersAndSessions1733700000000 implements MigrationInterface {
  name = 'UsersAndSessions1733700000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const statements = [
      `CREATE TABLE users (
        id VARCHAR(36) PRIMARY KEY,
        username VARCHAR(64) NOT NULL UNIQUE,
        display_name VARCHAR(128) NOT NULL,
        roles TEXT NOT NULL,
        auth_provider VARCHAR(16) NOT NULL,
        external_subject VARCHAR(255) NULL,
        password_hash TEXT NULL,
        password_changed_at BIGINT NULL,
        disabled BOOLEAN NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        last_sign_in_at BIGINT NULL
      )`,
      `CREATE UNIQUE INDEX users_external_subject_idx ON users (auth_provider, external_subject)`,
      `CREATE TABLE user_sessions (
        id VARCHAR(36) PRIMARY KEY,
        secret_hash CHAR(64) NOT NULL UNIQUE,
        user_id VARCHAR(36) NOT NULL REFERENCES users (id),
        csrf_token VARCHAR(64) NOT NULL,
        created_at BIGINT NOT NULL,
        last_seen_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        source_address VARCHAR(64) NOT NULL
      )`,
      `CREATE INDEX user_sessions_user_idx ON user_sessions (user_id)`,
      `CREATE INDEX user_sessions_expires_idx ON user_sessions (expires_at)`,
      `CREATE TABLE api_tokens (
        id VARCHAR(36) PRIMARY KEY,
        user_id VARCHAR(36) NOT NULL REFERENCES users (id),
        name VARCHAR(128) NOT NULL,
        roles TEXT NOT NULL,
        secret_hash CHAR(64) NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        last_used_at BIGINT NULL,
        revoked_at BIGINT NULL
      )`,
      `CREATE INDEX api_tokens_user_idx ON api_tokens (user_id, created_at)`,
      `CREATE TABLE login_throttle (
        username VARCHAR(64) PRIMARY KEY,
        failures INTEGER NOT NULL,
        window_started_at BIGINT NOT NULL,
        locked_until BIGINT NULL,
        lockouts INTEGER NOT NULL,
        last_failure_at BIGINT NOT NULL
      )`,
    ];
    for (const statement of statements) await queryRunner.query(statement);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of ['login_throttle', 'api_tokens', 'user_sessions', 'users']) await queryRunner.query(`DROP TABLE ${table}`);
  }
}
