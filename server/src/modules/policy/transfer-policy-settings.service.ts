import { BadRequestException, Injectable } from '@nestjs/common';
import { isDeepStrictEqual } from 'node:util';
import { DatabaseService } from '../../database/database.service';
import { AuditService } from '../audit/audit.service';
import { TRANSFER_POLICY_SETTING } from '../../database/migrations/1733300000000-transfers';
import { PolicyService } from './policy.service';
import {
  MAX_WATCHED_FOLDERS,
  PUBLISHED_TRANSFER_FIELDS,
  TRANSFER_SETTING_FIELDS,
  transferSettingsWithin,
  watchedFolderProblem,
  type TransferPolicySettings,
  type TransferPolicySettingsChange,
} from './transfer-settings';

/** Reads and changes the transfer settings; a change to what agents receive publishes a new policy version in the same transaction. */
@Injectable()
export class TransferPolicySettingsService {
  constructor(
    private readonly database: DatabaseService,
    private readonly policy: PolicyService,
    private readonly audit: AuditService,
  ) {}

  get(): Promise<TransferPolicySettings> {
    return transferSettingsWithin(this.database);
  }

  /** Returns the stored settings and the policy version that carries them (a new one only when a published field changed). */
  async update(change: TransferPolicySettingsChange, now = new Date()): Promise<{ settings: TransferPolicySettings; policyVersion: number }> {
    const fields = TRANSFER_SETTING_FIELDS.filter((field) => change[field] !== undefined);
    if (fields.length === 0) throw new BadRequestException(`give at least one of ${TRANSFER_SETTING_FIELDS.join(', ')}`);
    if (change.watchedFolders !== undefined) change = { ...change, watchedFolders: checkedFolders(change.watchedFolders) };
    const { settings, published } = await this.database.transaction(async (sql) => {
      const before = await transferSettingsWithin(sql);
      const after: TransferPolicySettings = { ...before, ...definedOf(change), updatedAt: now };
      const { updatedAt: _updatedAt, ...stored } = after;
      await sql.run('UPDATE collector_settings SET value = ? WHERE name = ?', [JSON.stringify({ ...stored, updatedAt: now.getTime() }), TRANSFER_POLICY_SETTING]);
      const publishedChanged = PUBLISHED_TRANSFER_FIELDS.some((field) => !isDeepStrictEqual(before[field], after[field]));
      const published = publishedChanged ? await this.policy.publishWithin(sql, now) : null;
      await this.audit.appendWithin(sql, { action: 'policy.transfer_settings.updated', subjectType: 'transfer_policy_settings', subjectId: 'transfers', before, after }, now);
      return { settings: after, published };
    });
    if (published !== null) this.policy.announce(published);
    return { settings, policyVersion: published?.version ?? this.policy.current().version };
  }
}

/** The folders as stored: trailing separators dropped (`/srv/outbox/` is `/srv/outbox`); 400 naming the first bad one. */
function checkedFolders(folders: string[]): string[] {
  if (folders.length > MAX_WATCHED_FOLDERS) throw new BadRequestException(`watchedFolders must hold at most ${MAX_WATCHED_FOLDERS} folders, got ${folders.length}`);
  const seen = new Set<string>();
  return folders.map((folder, index) => {
    const problem = watchedFolderProblem(folder);
    if (problem !== null) throw new BadRequestException(`watchedFolders[${index}] ${problem}, got ${JSON.stringify(folder.slice(0, 80))}`);
    const normalized = folder.replace(/[\\/]+$/, '');
    if (seen.has(normalized)) throw new BadRequestException(`watchedFolders[${index}] is listed twice: ${JSON.stringify(folder.slice(0, 80))}`);
    seen.add(normalized);
    return normalized;
  });
}

function definedOf(change: TransferPolicySettingsChange): TransferPolicySettingsChange {
  return Object.fromEntries(Object.entries(change).filter(([, value]) => value !== undefined));
}
