import type { SqlExecutor } from '../../database/database.service';

/** The collector_settings row holding the fleet's target agent version; absent: no upgrades. */
export const RELEASE_TARGET_SETTING = 'agent_release_target';

/** The target version and its stored bundles, as a policy version carries it (Policy.agent_release). */
export interface PolicyAgentRelease {
  version: string;
  artifacts: Array<{ platform: string; sha256: string; sizeBytes: number }>;
}

/** The target inside `sql`'s transaction: null when none is set. */
export async function agentReleaseWithin(sql: SqlExecutor): Promise<PolicyAgentRelease | null> {
  const [target] = await sql.query<{ value: string }>('SELECT value FROM collector_settings WHERE name = ?', [RELEASE_TARGET_SETTING]);
  if (target === undefined) return null;
  const rows = await sql.query<{ platform: string; sha256: string; size_bytes: string | number }>(
    'SELECT platform, sha256, size_bytes FROM agent_releases WHERE version = ? ORDER BY platform',
    [target.value],
  );
  return { version: target.value, artifacts: rows.map((row) => ({ platform: row.platform, sha256: row.sha256, sizeBytes: Number(row.size_bytes) })) };
}
