import type { SqlExecutor } from '../../database/database.service';
import { POLICY_LINEAGE_SETTING } from '../../database/migrations/1732800000000-collector-settings';
import { policyDocumentFrom, type PolicyDocument } from '../policy/policy-document';
import type { EvaluationException, ReportedPolicy } from '../violations/usb-device.rules';

/**
 * What the rules read to judge an event by the policy in force when the agent decided: the
 * stored documents of the versions the agent named, the newest one, and the exceptions that held.
 * Shared by the USB rules and the transfer rules; every read is inside the caller's transaction.
 */
export interface PolicyDocuments {
  has(version: number): boolean;
  get(version: number): PolicyDocument | undefined;
  /** The newest version (0 when none was published). */
  newest: number;
}

/** This database's policy lineage id ('' before the migration that makes it). */
export async function collectorLineageWithin(sql: SqlExecutor): Promise<string> {
  const lineage = await sql.query<{ value: string }>('SELECT value FROM collector_settings WHERE name = ?', [POLICY_LINEAGE_SETTING]);
  return lineage[0]?.value ?? '';
}

/** The stored documents of the versions `reported` names (when of this lineage), and the newest. */
export async function policyDocumentsFor(sql: SqlExecutor, reported: readonly ReportedPolicy[], collectorLineage: string): Promise<PolicyDocuments> {
  const wanted = new Set<number>();
  for (const policy of reported) {
    const version = Number(policy.version);
    if (Number.isSafeInteger(version) && version > 0 && (policy.lineageId === '' || policy.lineageId === collectorLineage)) wanted.add(version);
  }
  const documents = new Map<number, PolicyDocument>();
  const newest = await sql.query<{ version: string | number; document: string }>('SELECT version, document FROM policy_versions ORDER BY version DESC LIMIT 1');
  const newestVersion = newest.length === 0 ? 0 : Number(newest[0].version);
  if (newest.length > 0) documents.set(newestVersion, policyDocumentFrom(JSON.parse(newest[0].document)));
  const missing = [...wanted].filter((version) => !documents.has(version));
  if (missing.length > 0) {
    const rows = await sql.query<{ version: string | number; document: string }>(
      `SELECT version, document FROM policy_versions WHERE version IN (${missing.map(() => '?').join(', ')})`,
      missing,
    );
    for (const row of rows) documents.set(Number(row.version), policyDocumentFrom(JSON.parse(row.document)));
  }
  return { has: (version) => documents.has(version), get: (version) => documents.get(version), newest: newestVersion };
}

/** This agent's approved exceptions whose window reaches past `sinceMs`, revoked ones ending at their revocation. */
export async function exceptionsHeldSince(sql: SqlExecutor, agentId: string, sinceMs: number): Promise<EvaluationException[]> {
  const rows = await sql.query<{
    id: string;
    vendor_id: number;
    product_id: number;
    serial: string;
    user_name: string;
    not_before: string | number;
    not_after: string | number;
    approved_by: string;
    approved_at: string | number;
    revoked_at: string | number | null;
    mode: 'allow' | 'read_only';
  }>(
    `SELECT id, vendor_id, product_id, serial, user_name, not_before, not_after, approved_by, approved_at, revoked_at, mode
     FROM usb_exceptions
     WHERE agent_id = ? AND status IN ('approved', 'revoked') AND approved_at IS NOT NULL AND not_after > ?`,
    [agentId, sinceMs],
  );
  return rows.map((row) => ({
    exceptionId: row.id,
    vendorId: Number(row.vendor_id),
    productId: Number(row.product_id),
    serial: row.serial,
    agentId,
    userName: row.user_name,
    heldFromMs: Math.max(Number(row.not_before), Number(row.approved_at)),
    heldUntilMs: row.revoked_at === null ? Number(row.not_after) : Math.min(Number(row.not_after), Number(row.revoked_at)),
    approvedBy: row.approved_by,
    mode: row.mode,
  }));
}
