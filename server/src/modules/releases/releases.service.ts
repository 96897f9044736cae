import { BadRequestException, ConflictException, Injectable, NotFoundException } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { DatabaseService } from '../../database/database.service';
import { AuditService } from '../audit/audit.service';
import { PolicyService } from '../policy/policy.service';
import { bundleProblem, parseReleaseFileName, RELEASE_VERSION } from './release-archive.rules';
import { agentReleaseWithin, RELEASE_TARGET_SETTING, type PolicyAgentRelease } from './release-target';

/** Bundle bytes are stored in rows of this size: small enough for any driver, few enough rows. */
export const RELEASE_CHUNK_BYTES = 1024 * 1024;
/** The largest archive accepted (today's linux-x64 bundle is about 40 MB). */
export const RELEASE_MAX_BYTES = 512 * 1024 * 1024;

export interface AgentReleaseRecord {
  version: string;
  platform: string;
  fileName: string;
  sha256: string;
  sizeBytes: number;
  uploadedBy: string;
  uploadedAt: Date;
}

/** A stored release that cannot be added, with the reason as a sentence. */
export class ReleaseRejected extends BadRequestException {}

/** The version is already stored for that platform: its bytes are fixed for good. */
export class ReleaseExists extends ConflictException {}

/**
 * The register of agent releases and the fleet's target version. Bundles live in the database
 * (chunked), so every replica serves them and backups hold them. Adding a release and setting the
 * target are audited; setting the target publishes a policy version that carries it, so agents
 * learn it through the WatchPolicy push, also after being offline.
 */
@Injectable()
export class ReleasesService {
  constructor(
    private readonly database: DatabaseService,
    private readonly audit: AuditService,
    private readonly policy: PolicyService,
  ) {}

  /** Stores `archive` under the version and platform its file name says, after checking it is that bundle. */
  async add(fileName: string, archive: Buffer, uploadedBy: string, now = new Date()): Promise<AgentReleaseRecord> {
    const name = parseReleaseFileName(fileName);
    if (name === null) throw new ReleaseRejected(`"${fileName}" is not named like an agent bundle archive: mamori-agent-<version>-<linux|darwin>-<x64|arm64>.tar.gz`);
    if (archive.length === 0 || archive.length > RELEASE_MAX_BYTES) throw new ReleaseRejected(`${fileName} is ${archive.length} bytes; an agent bundle is 1 byte to ${RELEASE_MAX_BYTES} bytes`);
    const problem = bundleProblem(archive, name);
    if (problem !== null) throw new ReleaseRejected(`${fileName} is not a usable agent bundle: ${problem}`);
    const record: AgentReleaseRecord = {
      version: name.version,
      platform: name.platform,
      fileName,
      sha256: createHash('sha256').update(archive).digest('hex'),
      sizeBytes: archive.length,
      uploadedBy,
      uploadedAt: now,
    };
    const chunkCount = Math.ceil(archive.length / RELEASE_CHUNK_BYTES);
    await this.database.transaction(async (sql) => {
      const [existing] = await sql.query<{ sha256: string }>('SELECT sha256 FROM agent_releases WHERE version = ? AND platform = ?', [record.version, record.platform]);
      // A version names one set of bytes forever: agents that checked it must never get others.
      if (existing !== undefined) throw new ReleaseExists(`${record.version} for ${record.platform} is already stored (sha256 ${existing.sha256}); a version's bundle cannot be replaced, pack a new version`);
      await sql.run(
        'INSERT INTO agent_releases (version, platform, file_name, sha256, size_bytes, chunk_count, uploaded_by, uploaded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        [record.version, record.platform, fileName, record.sha256, record.sizeBytes, chunkCount, uploadedBy, now.getTime()],
      );
      for (let index = 0; index < chunkCount; index++) {
        await sql.run('INSERT INTO agent_release_chunks (version, platform, chunk_index, data) VALUES (?, ?, ?, ?)', [
          record.version,
          record.platform,
          index,
          archive.subarray(index * RELEASE_CHUNK_BYTES, (index + 1) * RELEASE_CHUNK_BYTES),
        ]);
      }
      await this.audit.appendWithin(
        sql,
        { action: 'agent_release.added', subjectType: 'agent_release', subjectId: `${record.version}/${record.platform}`, before: null, after: { fileName, sha256: record.sha256, sizeBytes: record.sizeBytes } },
        now,
      );
    });
    return record;
  }

  async list(): Promise<AgentReleaseRecord[]> {
    const rows = await this.database.query<{ version: string; platform: string; file_name: string; sha256: string; size_bytes: string | number; uploaded_by: string; uploaded_at: string | number }>(
      'SELECT version, platform, file_name, sha256, size_bytes, uploaded_by, uploaded_at FROM agent_releases ORDER BY uploaded_at DESC, version, platform',
    );
    return rows.map((row) => ({
      version: row.version,
      platform: row.platform,
      fileName: row.file_name,
      sha256: row.sha256,
      sizeBytes: Number(row.size_bytes),
      uploadedBy: row.uploaded_by,
      uploadedAt: new Date(Number(row.uploaded_at)),
    }));
  }

  /** The fleet's target version with its bundles; null when none is set. */
  target(): Promise<PolicyAgentRelease | null> {
    return this.database.transaction((sql) => agentReleaseWithin(sql));
  }

  /**
   * Sets the version every agent should run (null: none, agents keep theirs), audited, and
   * publishes a policy version carrying it in the same transaction. The version must be stored
   * for at least one platform.
   */
  async setTarget(version: string | null, now = new Date()): Promise<{ target: PolicyAgentRelease | null; policyVersion: number }> {
    if (version !== null && !RELEASE_VERSION.test(version)) throw new BadRequestException(`version must look like 1.2.3 or 1.2.3-rc.1, got "${version.slice(0, 80)}"`);
    const published = await this.database.transaction(async (sql) => {
      const before = await agentReleaseWithin(sql);
      if (version !== null) {
        const [stored] = await sql.query<{ count: string | number }>('SELECT COUNT(*) AS count FROM agent_releases WHERE version = ?', [version]);
        if (Number(stored?.count ?? 0) === 0) throw new NotFoundException(`no bundle of version ${version} is stored; add one first (mamori-server release add <archive>)`);
      }
      await sql.run('DELETE FROM collector_settings WHERE name = ?', [RELEASE_TARGET_SETTING]);
      if (version !== null) await sql.run('INSERT INTO collector_settings (name, value) VALUES (?, ?)', [RELEASE_TARGET_SETTING, version]);
      const after = await agentReleaseWithin(sql);
      await this.audit.appendWithin(sql, { action: 'agent_release.target_set', subjectType: 'agent_release_target', subjectId: 'fleet', before, after }, now);
      return { policy: await this.policy.publishWithin(sql, now), target: after };
    });
    this.policy.announce(published.policy);
    return { target: published.target, policyVersion: published.policy.version };
  }

  /**
   * The stored archive's size and its chunks in order, read one at a time (a 40 MB bundle is not
   * held in memory per download). NotFoundException when that version and platform are not stored.
   */
  async open(version: string, platform: string): Promise<{ sizeBytes: number; chunks: AsyncGenerator<Buffer> }> {
    const [row] = await this.database.query<{ size_bytes: string | number; chunk_count: string | number }>(
      'SELECT size_bytes, chunk_count FROM agent_releases WHERE version = ? AND platform = ?',
      [version, platform],
    );
    if (row === undefined) throw new NotFoundException(`no bundle of version ${version} for ${platform} is stored`);
    const count = Number(row.chunk_count);
    const database = this.database;
    async function* chunks(): AsyncGenerator<Buffer> {
      for (let index = 0; index < count; index++) {
        const [chunk] = await database.query<{ data: Buffer | Uint8Array }>(
          'SELECT data FROM agent_release_chunks WHERE version = ? AND platform = ? AND chunk_index = ?',
          [version, platform, index],
        );
        if (chunk === undefined) throw new Error(`chunk ${index} of ${version}/${platform} is missing from the database`);
        yield Buffer.from(chunk.data);
      }
    }
    return { sizeBytes: Number(row.size_bytes), chunks: chunks() };
  }
}
