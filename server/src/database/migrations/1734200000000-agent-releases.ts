import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The register of agent releases: one row per stored bundle archive (version and platform) and its
 * bytes in 1 MiB chunks, in the database itself, so PostgreSQL replicas serve the same bytes and a
 * backup holds them. The fleet's target version lives in collector_settings (agent_release_target);
 * setting it publishes a policy version carrying it (Policy.agent_release).
 */
export class AgentReleases1734200000000 implements MigrationInterface {
  name = 'AgentReleases1734200000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const sqlite = queryRunner.connection.options.type === 'better-sqlite3';
    await queryRunner.query(`CREATE TABLE agent_releases (
        version VARCHAR(64) NOT NULL,
        platform VARCHAR(32) NOT NULL,
        file_name VARCHAR(200) NOT NULL,
        sha256 VARCHAR(64) NOT NULL,
        size_bytes BIGINT NOT NULL,
        chunk_count INTEGER NOT NULL,
        uploaded_by VARCHAR(200) NOT NULL,
        uploaded_at BIGINT NOT NULL,
        PRIMARY KEY (version, platform)
      )`);
    await queryRunner.query(`CREATE TABLE agent_release_chunks (
        version VARCHAR(64) NOT NULL,
        platform VARCHAR(32) NOT NULL,
        chunk_index INTEGER NOT NULL,
        data ${sqlite ? 'BLOB' : 'BYTEA'} NOT NULL,
        PRIMARY KEY (version, platform, chunk_index)
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE agent_release_chunks');
    await queryRunner.query('DROP TABLE agent_releases');
    await queryRunner.query("DELETE FROM collector_settings WHERE name = 'agent_release_target'");
  }
}
