/**
 * Pure decisions of the ledger: how a disk-encryption report is judged, how a machine is
 * recognised in the ledger, and what the ledger's dates mean. No I/O here; the services apply them.
 */

export const LEDGER_STATUSES = ['in_stock', 'on_loan', 'lost', 'retired'] as const;
export type LedgerStatus = (typeof LEDGER_STATUSES)[number];

export type PostureCheckOutcome = 'passed' | 'failed' | 'not_checked';
export type EncryptionSchemeName = 'none' | 'luks1' | 'luks2' | 'bitlocker' | 'filevault' | 'other' | 'unspecified';
/** The verdict on a machine's fixed disks. `unknown`: no check ran (or not enrolled), never the same as not encrypted. */
export type DiskEncryptionState = 'encrypted' | 'not_encrypted' | 'unknown';
export const DISK_ENCRYPTION_STATES: readonly DiskEncryptionState[] = ['encrypted', 'not_encrypted', 'unknown'];

/** One volume as stored and shown: the contract's VolumeEncryption, with enum names made readable. */
export interface VolumePosture {
  device: string;
  mountPoint: string;
  systemVolume: boolean;
  removable: boolean;
  scheme: EncryptionSchemeName;
  fullyEncrypted: boolean;
  percentEncrypted: number;
  protectionOn: boolean;
  locked: boolean;
  method: string;
  /** uint64 as a decimal string. */
  sizeBytes: string;
  filesystemType: string;
  encryptedBy: string;
}

/** What an agent reported about its disks, from a heartbeat's PostureSummary or a DiskEncryptionStatus event. */
export interface DiskPosture {
  /** not_checked when the report came from an event (events carry volumes only). */
  fixedDisksEncrypted: PostureCheckOutcome;
  systemVolumeEncrypted: PostureCheckOutcome;
  volumes: VolumePosture[];
  problems: string[];
}

export interface DiskVerdict {
  state: DiskEncryptionState;
  /** Why the disks are not compliant, one sentence per finding; empty unless state is not_encrypted. */
  findings: string[];
}

const SCHEMES: Record<string, EncryptionSchemeName> = {
  ENCRYPTION_SCHEME_NONE: 'none',
  ENCRYPTION_SCHEME_LUKS1: 'luks1',
  ENCRYPTION_SCHEME_LUKS2: 'luks2',
  ENCRYPTION_SCHEME_BITLOCKER: 'bitlocker',
  ENCRYPTION_SCHEME_FILEVAULT: 'filevault',
  ENCRYPTION_SCHEME_OTHER: 'other',
};
const SCHEME_LABELS: Record<EncryptionSchemeName, string> = {
  none: 'none',
  luks1: 'LUKS1',
  luks2: 'LUKS2',
  bitlocker: 'BitLocker',
  filevault: 'FileVault',
  other: 'encryption',
  unspecified: 'unknown',
};

/**
 * Partitions that must stay readable before anything is unlocked: the boot loader's and the
 * kernel's. A LUKS laptop always has them in the clear, so they are not judged (unless the agent
 * calls one the system volume).
 */
const PRE_BOOT_MOUNT_POINTS = new Set(['/boot', '/boot/efi', '/efi']);

const clip = (value: unknown, max: number): string => (typeof value === 'string' ? value.slice(0, max) : '');

export function postureOutcome(check: unknown): PostureCheckOutcome {
  return check === 'POSTURE_CHECK_PASSED' ? 'passed' : check === 'POSTURE_CHECK_FAILED' ? 'failed' : 'not_checked';
}

/** A VolumeEncryption in the loader's shape (enum names, 64-bit integers as strings) made storable. */
export function volumePosture(raw: unknown): VolumePosture {
  const v = (raw ?? {}) as Record<string, unknown>;
  const e = (v.encryption ?? {}) as Record<string, unknown>;
  const percent = Number(e.percentEncrypted ?? 0);
  const size = typeof v.sizeBytes === 'string' || typeof v.sizeBytes === 'number' ? String(v.sizeBytes) : '0';
  return {
    device: clip(v.device, 1024),
    mountPoint: clip(v.mountPoint, 4096),
    systemVolume: v.systemVolume === true,
    removable: v.removable === true,
    scheme: SCHEMES[String(e.scheme)] ?? 'unspecified',
    fullyEncrypted: e.fullyEncrypted === true,
    percentEncrypted: Number.isInteger(percent) && percent >= 0 && percent <= 100 ? percent : 0,
    protectionOn: e.protectionOn === true,
    locked: v.locked === true,
    method: clip(v.method, 128),
    sizeBytes: /^\d{1,20}$/.test(size) ? size : '0',
    filesystemType: clip(v.filesystemType, 64),
    encryptedBy: clip(v.encryptedBy, 1024),
  };
}

/** The disk part of a heartbeat's PostureSummary; null when the heartbeat carried no posture. */
export function diskPostureOfHeartbeat(posture: unknown): DiskPosture | null {
  if (posture === undefined || posture === null || typeof posture !== 'object') return null;
  const p = posture as Record<string, unknown>;
  return {
    fixedDisksEncrypted: postureOutcome(p.fixedDisksEncrypted),
    systemVolumeEncrypted: postureOutcome(p.systemVolumeEncrypted),
    volumes: (Array.isArray(p.volumes) ? p.volumes : []).slice(0, 256).map(volumePosture),
    problems: (Array.isArray(p.encryptionProblems) ? p.encryptionProblems : []).slice(0, 64).map((problem) => clip(problem, 1024)),
  };
}

/** The posture a validated DiskEncryptionStatus event payload describes. */
export function diskPostureOfEvent(payload: Record<string, unknown>): DiskPosture {
  return {
    fixedDisksEncrypted: 'not_checked',
    systemVolumeEncrypted: 'not_checked',
    volumes: (Array.isArray(payload.volumes) ? payload.volumes : []).map(volumePosture),
    problems: (Array.isArray(payload.problems) ? payload.problems : []).map((problem) => clip(problem, 1024)),
  };
}

export function volumeLabel(volume: VolumePosture): string {
  if (volume.mountPoint !== '' && volume.device !== '') return `${volume.mountPoint} (${volume.device})`;
  return volume.mountPoint || volume.device || 'a volume with no name';
}

/**
 * Judges a machine's fixed disks. A failure anywhere wins: the agent's summary checks
 * (fixed disks, system volume) and every fixed volume it listed are each enough to make the
 * machine not compliant. A volume counts as encrypted only when it is locked, or fully encrypted
 * with its protection on (the agent's own rule, agent/src/core/encryption-posture.ts): conversion in progress (or paused) and suspended protection (BitLocker then
 * keeps its key in the clear) are not compliant yet. Removable volumes are the USB rules' business;
 * pre-boot partitions (/boot, /boot/efi) are never encrypted on a LUKS machine and are not judged.
 * With nothing failing, the machine is `encrypted` when a summary check passed, or, when the agent
 * sent no summary, when it listed fixed volumes and every one of them is encrypted; otherwise `unknown`.
 */
export function judgeDiskPosture(posture: DiskPosture | null): DiskVerdict {
  if (posture === null) return { state: 'unknown', findings: [] };
  const findings: string[] = [];
  if (posture.systemVolumeEncrypted === 'failed') findings.push('the agent reports the system volume as not encrypted');
  if (posture.fixedDisksEncrypted === 'failed') findings.push('the agent reports a fixed disk that is not encrypted');
  const judged = posture.volumes.filter((v) => !v.removable && (v.systemVolume || !PRE_BOOT_MOUNT_POINTS.has(v.mountPoint)));
  let unjudged = 0;
  for (const volume of judged) {
    const name = `${volume.systemVolume ? 'system volume ' : ''}${volumeLabel(volume)}`;
    if (volume.scheme === 'unspecified') {
      unjudged++;
    } else if (volume.scheme === 'none') {
      findings.push(`${name} is not encrypted`);
    } else if (volume.locked) {
      // Locked: its contents cannot be read without a key, whatever its conversion state (the agent's rule too).
    } else if (!volume.fullyEncrypted) {
      findings.push(`${name}: ${SCHEME_LABELS[volume.scheme]} encryption in progress or paused (${volume.percentEncrypted}% encrypted); not compliant until it completes`);
    } else if (!volume.protectionOn) {
      findings.push(`${name}: ${SCHEME_LABELS[volume.scheme]} protection is suspended (the disk opens without a password); not compliant until it is resumed`);
    }
  }
  if (findings.length > 0) return { state: 'not_encrypted', findings };
  if (posture.fixedDisksEncrypted === 'passed' || posture.systemVolumeEncrypted === 'passed') return { state: 'encrypted', findings };
  const summarySent = posture.fixedDisksEncrypted !== 'not_checked' || posture.systemVolumeEncrypted !== 'not_checked';
  if (!summarySent && judged.length > 0 && unjudged === 0) return { state: 'encrypted', findings };
  return { state: 'unknown', findings };
}

/** Serial numbers firmware vendors ship instead of a real one: they identify nothing. */
const PLACEHOLDER_SERIALS = new Set([
  'TOBEFILLEDBYO.E.M.',
  'DEFAULTSTRING',
  'SYSTEMSERIALNUMBER',
  'CHASSISSERIALNUMBER',
  'NONE',
  'N/A',
  'NA',
  'NOTAPPLICABLE',
  'NOTSPECIFIED',
  'UNKNOWN',
  'INVALID',
  '0123456789',
  '123456789',
]);

/** The form a hardware serial is compared in: upper case, no blanks; '' for a placeholder that identifies nothing. */
export function serialKey(serial: string): string {
  const key = serial.normalize('NFKC').replace(/\s+/g, '').toUpperCase();
  if (key === '' || PLACEHOLDER_SERIALS.has(key) || /^0+$/.test(key) || /^F+$/.test(key)) return '';
  return key;
}

/** The form a host name is compared in: lower case, without a domain. */
export function hostnameKey(hostname: string): string {
  return hostname.normalize('NFKC').trim().toLowerCase().split('.')[0];
}

export type MatchedBy = 'hardware_serial' | 'hostname' | 'manual' | 'discovered';

export interface MatchCandidate {
  id: string;
  serialKey: string;
  hostnameKey: string;
}

/**
 * Finds the ledger row of an enrolled machine. The hardware serial decides first: it is burnt
 * into the machine and survives reinstallation and renaming. A host name is only trusted when
 * the row names no serial or the agent reports none (a virtual machine, a board without one),
 * because names are reused; a row whose serial differs is never taken by name. Either key must
 * point at exactly one row, or nothing is matched (an ambiguous ledger is not guessed at).
 */
export function matchLedgerRow(
  machine: { serialKey: string; hostnameKey: string },
  rows: MatchCandidate[],
): { id: string; matchedBy: 'hardware_serial' | 'hostname' } | null {
  if (machine.serialKey !== '') {
    const bySerial = rows.filter((row) => row.serialKey === machine.serialKey);
    if (bySerial.length === 1) return { id: bySerial[0].id, matchedBy: 'hardware_serial' };
    if (bySerial.length > 1) return null;
  }
  if (machine.hostnameKey === '') return null;
  const byName = rows.filter((row) => row.hostnameKey === machine.hostnameKey && (row.serialKey === '' || machine.serialKey === ''));
  return byName.length === 1 ? { id: byName[0].id, matchedBy: 'hostname' } : null;
}

/**
 * A calendar date as departments write it: 2025-04-01, 2025/04/01 or 2025/4/1 (Excel's Japanese
 * default). Returns the ISO form, or null when the text is not a real date.
 */
export function parseLedgerDate(text: string): string | null {
  const match = /^(\d{4})[-/](\d{1,2})[-/](\d{1,2})$/.exec(text.trim());
  if (match === null) return null;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return null;
  return `${match[1]}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

/** Today's date in the collector's local time zone (TZ), ISO form: loans fall due by the office's calendar. */
export function localDate(now: Date): string {
  return `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, '0')}-${String(now.getDate()).padStart(2, '0')}`;
}

/** A loan is overdue from the day after its due-back date while it is still on loan. */
export function isOverdue(row: { status: string | null; dueBack: string | null }, today: string): boolean {
  return row.status === 'on_loan' && row.dueBack !== null && row.dueBack < today;
}

/** Accepts the status codes, case and blanks forgiven ("On loan", "ON_LOAN"). */
export function parseLedgerStatus(text: string): LedgerStatus | null {
  const code = text.trim().toLowerCase().replace(/[\s-]+/g, '_');
  return (LEDGER_STATUSES as readonly string[]).includes(code) ? (code as LedgerStatus) : null;
}
