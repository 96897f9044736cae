import { BadRequestException, Injectable, NotFoundException } from '@nestjs/common';
import { DatabaseService } from '../../database/database.service';
import { policyDocumentFrom, type PolicyDocument } from './policy-document';
import { diffDocuments, summarizeChanges, type PolicyChange } from './policy-diff';

export interface PolicyVersionSummary {
  version: number;
  createdAt: Date;
  /** What changed against the version before it; "first version" for the first. */
  summary: string;
  changeCount: number;
}

export interface StoredPolicyVersion {
  version: number;
  createdAt: Date;
  document: PolicyDocument;
}

interface VersionRow {
  version: string | number;
  published_at: string | number;
  document: string;
}

/** The history of published policy versions (immutable rows of policy_versions) and diffs between them. */
@Injectable()
export class PolicyVersionsService {
  constructor(private readonly database: DatabaseService) {}

  /** Newest first, `limit` versions older than `before` (all when null), each summarized against its predecessor. */
  async list(limit: number, before: number | null): Promise<{ items: PolicyVersionSummary[]; nextBefore: number | null }> {
    // One more than the page: the predecessor of the page's oldest version, to summarize it.
    const rows = await this.database.query<VersionRow>(
      `SELECT version, published_at, document FROM policy_versions ${before === null ? '' : 'WHERE version < ?'} ORDER BY version DESC LIMIT ?`,
      before === null ? [limit + 1] : [before, limit + 1],
    );
    const versions = rows.map(storedOf);
    const items = versions.slice(0, limit).map((version, index) => {
      const previous = versions[index + 1];
      if (previous === undefined) {
        // The page's last row has no predecessor in the result: it is version 1, or the page was the whole table.
        return { version: version.version, createdAt: version.createdAt, summary: 'first version', changeCount: 0 };
      }
      const changes = diffDocuments(previous.document, version.document);
      return {
        version: version.version,
        createdAt: version.createdAt,
        summary: changes.length === 0 ? 'no change to the document (republished)' : summarizeChanges(changes),
        changeCount: changes.length,
      };
    });
    const nextBefore = versions.length > limit ? items[items.length - 1].version : null;
    return { items, nextBefore };
  }

  async get(version: number): Promise<StoredPolicyVersion> {
    const rows = await this.database.query<VersionRow>('SELECT version, published_at, document FROM policy_versions WHERE version = ?', [version]);
    if (rows.length === 0) throw new NotFoundException(`policy version ${version} does not exist`);
    return storedOf(rows[0]);
  }

  /** The changes from version `against` to version `version`; against defaults to the version before. */
  async diff(version: number, against: number | undefined): Promise<{ from: number; to: number; changes: PolicyChange[] }> {
    const from = against ?? version - 1;
    if (from < 1) throw new BadRequestException(`policy version ${version} is the first; give against= to compare it with a later one`);
    const [older, newer] = await Promise.all([this.get(from), this.get(version)]);
    return { from: older.version, to: newer.version, changes: diffDocuments(older.document, newer.document) };
  }
}

function storedOf(row: VersionRow): StoredPolicyVersion {
  return { version: Number(row.version), createdAt: new Date(Number(row.published_at)), document: policyDocumentFrom(JSON.parse(row.document)) };
}
