import type { SqlExecutor } from '../../database/database.service';
import { DEFAULT_TRANSFER_POLICY_SETTINGS, TRANSFER_POLICY_SETTING } from '../../database/migrations/1733300000000-transfers';
import type { PolicyTransfer } from './policy-document';

/**
 * The transfer settings administrators set. The watched folders and inspection budgets travel to
 * agents in every policy version (Policy.transfer); the daily limits stay on the collector, which
 * alone sees a user's transfers across machines.
 */
export interface TransferPolicySettings extends PolicyTransfer {
  /** More files than this written to removable media by one user in one day raises transfer.daily_volume; 0 turns the file count off. */
  dailyFileLimit: number;
  /** More bytes than this, likewise; 0 turns the byte count off. */
  dailyByteLimit: number;
  updatedAt: Date | null;
}

export type TransferPolicySettingsChange = Partial<Omit<TransferPolicySettings, 'updatedAt'>>;

export const MAX_WATCHED_FOLDERS = 64;
export const MAX_WATCHED_FOLDER_LENGTH = 1024;
/** Inspection reads at most this much of one file whatever the policy says: 1 GiB. */
export const MAX_INSPECTION_BYTE_BUDGET = 1024 * 1024 * 1024;
/** And spends at most 10 minutes on it. */
export const MAX_INSPECTION_TIME_BUDGET_MILLIS = 600_000;

/** The fields published to agents: a change to any of them publishes a new policy version. */
export const PUBLISHED_TRANSFER_FIELDS = ['watchedFolders', 'inspectionByteBudget', 'inspectionTimeBudgetMillis'] as const;
export const TRANSFER_SETTING_FIELDS = [...PUBLISHED_TRANSFER_FIELDS, 'dailyFileLimit', 'dailyByteLimit'] as const;

/** Reads the stored settings inside a transaction (ingest, policy publishing). */
export async function transferSettingsWithin(sql: Pick<SqlExecutor, 'query'>): Promise<TransferPolicySettings> {
  const rows = await sql.query<{ value: string }>('SELECT value FROM collector_settings WHERE name = ?', [TRANSFER_POLICY_SETTING]);
  if (rows.length === 0) throw new Error(`the database has no ${TRANSFER_POLICY_SETTING} setting: run the migrations`);
  const stored = JSON.parse(rows[0].value) as Partial<TransferPolicySettings> & { updatedAt?: number };
  return {
    watchedFolders: [...(stored.watchedFolders ?? DEFAULT_TRANSFER_POLICY_SETTINGS.watchedFolders)],
    inspectionByteBudget: stored.inspectionByteBudget ?? DEFAULT_TRANSFER_POLICY_SETTINGS.inspectionByteBudget,
    inspectionTimeBudgetMillis: stored.inspectionTimeBudgetMillis ?? DEFAULT_TRANSFER_POLICY_SETTINGS.inspectionTimeBudgetMillis,
    dailyFileLimit: stored.dailyFileLimit ?? DEFAULT_TRANSFER_POLICY_SETTINGS.dailyFileLimit,
    dailyByteLimit: stored.dailyByteLimit ?? DEFAULT_TRANSFER_POLICY_SETTINGS.dailyByteLimit,
    updatedAt: typeof stored.updatedAt === 'number' ? new Date(stored.updatedAt) : null,
  };
}

/**
 * Why a watched folder cannot be used, or null when it can. Agents run on Linux, macOS and
 * Windows, so a folder is absolute in either form: `/srv/outbox`, `C:\Users\...\OneDrive` or a
 * share `\\server\share\outbox`. A root (`/`, `C:\`) would mean watching a whole file system, and
 * `..` segments make the same folder look like two; both are refused.
 */
export function watchedFolderProblem(folder: string): string | null {
  if (folder.trim() !== folder || folder === '') return 'must be an absolute path without leading or trailing blanks';
  if (folder.length > MAX_WATCHED_FOLDER_LENGTH) return `must be at most ${MAX_WATCHED_FOLDER_LENGTH} characters`;
  if (/[\u0000-\u001f\u007f]/.test(folder)) return 'must not contain control characters';
  const posix = folder.startsWith('/');
  const drive = /^[A-Za-z]:[\\/]/.test(folder);
  const unc = /^\\\\[^\\/]+[\\/][^\\/]+/.test(folder);
  if (!posix && !drive && !unc) return 'must be an absolute path (/srv/outbox, C:\\Users\\share or \\\\server\\share\\folder)';
  const segments = folder.split(posix ? '/' : /[\\/]/);
  if (segments.some((segment) => segment === '..' || segment === '.')) return 'must not contain . or .. segments';
  const rest = posix ? folder.slice(1) : drive ? folder.slice(3) : '';
  if ((posix || drive) && rest.replace(/[\\/]+/g, '') === '') return 'must not be the root of a file system';
  return null;
}
