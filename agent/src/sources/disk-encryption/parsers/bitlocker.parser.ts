import { EncryptionScheme, type VolumeEncryption } from '../../../generated/mamori/v1/events';
import { encryptionState, volumeEncryption } from '../disk-encryption.source';

/**
 * Windows BitLocker readers. Two of the three sources give numbers, not words, so they read the
 * same on every display language:
 *  - `Get-BitLockerVolume | ConvertTo-Json`: enums as integers (VolumeStatus, ProtectionStatus,
 *    LockStatus, VolumeType, EncryptionMethod);
 *  - CIM Win32_EncryptableVolume (root/cimv2/security/microsoftvolumeencryption): ConversionStatus,
 *    ProtectionStatus, VolumeType, EncryptionMethod as integers, in `wmic /FORMAT:list` form
 *    (Name=Value lines) or as JSON.
 * `manage-bde -status` is the fallback and is read by its structure (see parseManageBdeStatus).
 *
 * Secrets: Get-BitLockerVolume's objects carry KeyProtector entries with RecoveryPassword and
 * KeyProtectorId; these readers never copy those fields, and the output holds only the fields of
 * VolumeEncryption.
 */

/** One BitLocker volume, whichever tool described it. */
export interface BitLockerVolume {
  /** "C:" or a volume GUID path. */
  mountPoint: string;
  /** 0 operating system, 1 fixed data, 2 removable data (CIM); Get-BitLockerVolume has only 0 and 1. */
  volumeType: number | null;
  /** 0 fully decrypted, 1 fully encrypted, 2 encrypting, 3 decrypting, 4 encryption paused, 5 decryption paused. */
  conversionStatus: number | null;
  /** 0 off, 1 on, 2 unknown (a locked volume). */
  protectionStatus: number | null;
  /** 0 unlocked, 1 locked. */
  lockStatus: number | null;
  percent: number | null;
  method: string;
  sizeBytes: number | null;
}

/** Win32_EncryptableVolume.EncryptionMethod and Get-BitLockerVolume's EncryptionMethod use the same numbers. */
const METHODS: Record<number, string> = {
  0: '',
  1: 'AES 128 with Diffuser',
  2: 'AES 256 with Diffuser',
  3: 'AES 128',
  4: 'AES 256',
  5: 'Hardware Encryption',
  6: 'XTS-AES 128',
  7: 'XTS-AES 256',
};

function num(value: unknown): number | null {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && /^-?\d+([.,]\d+)?$/.test(value.trim())) return Number(value.trim().replace(',', '.'));
  return null;
}

function methodName(value: unknown): string {
  const n = num(value);
  if (n !== null) return METHODS[n] ?? `method ${n}`;
  return typeof value === 'string' ? value.trim() : '';
}

/** The volume as VolumeEncryption; `systemDrive` ("C:") marks the system volume when the type is not given. */
export function bitLockerVolumeEncryption(volume: BitLockerVolume, systemDrive: string): VolumeEncryption {
  const locked = volume.lockStatus === 1;
  const status = volume.conversionStatus;
  const percent = volume.percent ?? (status === 1 ? 100 : 0);
  let scheme: EncryptionScheme;
  if (status === null) scheme = locked ? EncryptionScheme.ENCRYPTION_SCHEME_BITLOCKER : EncryptionScheme.ENCRYPTION_SCHEME_UNSPECIFIED;
  else if (status === 0 && !locked) scheme = EncryptionScheme.ENCRYPTION_SCHEME_NONE;
  else scheme = EncryptionScheme.ENCRYPTION_SCHEME_BITLOCKER;
  // A locked volume reports protection "unknown" (2): it cannot be opened without a key.
  const protectionOn = volume.protectionStatus === 1 || (locked && volume.protectionStatus !== 0);
  const systemVolume = volume.volumeType === null ? sameDrive(volume.mountPoint, systemDrive) : volume.volumeType === 0;
  return volumeEncryption({
    device: volume.mountPoint,
    mountPoint: /^[A-Za-z]:$/.test(volume.mountPoint) ? `${volume.mountPoint.toUpperCase()}\\` : '',
    systemVolume,
    removable: volume.volumeType === 2,
    encryption: encryptionState(scheme, status === 1, scheme === EncryptionScheme.ENCRYPTION_SCHEME_NONE ? 0 : percent, scheme === EncryptionScheme.ENCRYPTION_SCHEME_BITLOCKER && protectionOn),
    locked,
    method: volume.method,
    sizeBytes: volume.sizeBytes === null ? '0' : String(Math.round(volume.sizeBytes)),
  });
}

function sameDrive(a: string, b: string): boolean {
  const norm = (s: string) => s.trim().replace(/\\$/, '').toUpperCase();
  return norm(a) !== '' && norm(a) === norm(b);
}

function asList(doc: unknown, what: string): Record<string, unknown>[] {
  const list = Array.isArray(doc) ? doc : doc === null || doc === undefined || doc === '' ? [] : [doc];
  return list.map((item, i) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw new Error(`${what}: item ${i} is not an object`);
    return item as Record<string, unknown>;
  });
}

function parseJson(text: string, what: string): unknown {
  const trimmed = text.replace(/^\uFEFF/, '').trim();
  if (trimmed === '') return [];
  try {
    return JSON.parse(trimmed);
  } catch (error) {
    throw new Error(`${what} printed no JSON: ${(error as Error).message}`);
  }
}

/**
 * Parses `Get-BitLockerVolume | ConvertTo-Json` (one object or an array; PowerShell 5.1 and 7).
 * CapacityGB is a number in JSON whatever the locale. KeyProtector is not read. Pure.
 */
export function parseGetBitLockerVolumeJson(text: string): BitLockerVolume[] {
  return asList(parseJson(text, 'Get-BitLockerVolume'), 'Get-BitLockerVolume').map((v) => {
    const gb = num(v.CapacityGB);
    return {
      mountPoint: typeof v.MountPoint === 'string' ? v.MountPoint.trim() : '',
      volumeType: num(v.VolumeType),
      conversionStatus: num(v.VolumeStatus),
      protectionStatus: num(v.ProtectionStatus),
      lockStatus: num(v.LockStatus),
      percent: num(v.EncryptionPercentage),
      method: methodName(v.EncryptionMethod),
      sizeBytes: gb === null ? null : gb * 1024 ** 3,
    };
  });
}

function fromCimRecord(r: Record<string, unknown>): BitLockerVolume {
  const letter = typeof r.DriveLetter === 'string' ? r.DriveLetter.trim() : '';
  const id = typeof r.DeviceID === 'string' ? r.DeviceID.trim() : '';
  return {
    mountPoint: letter || id,
    volumeType: num(r.VolumeType),
    conversionStatus: num(r.ConversionStatus),
    protectionStatus: num(r.ProtectionStatus),
    lockStatus: num(r.LockStatus),
    percent: num(r.EncryptionPercentage),
    method: methodName(r.EncryptionMethod),
    sizeBytes: num(r.Size),
  };
}

/**
 * Parses Win32_EncryptableVolume in `wmic ... get /FORMAT:list` form: records of Name=Value lines
 * separated by blank lines (wmic writes UTF-16LE with a BOM and CRLF; pass the decoded text, or
 * a Buffer, which is decoded here). Values are numbers and TRUE/FALSE, never translated. Pure.
 */
export function parseEncryptableVolumeList(input: string | Buffer): BitLockerVolume[] {
  const text = typeof input === 'string' ? input : decodeWindowsText(input);
  const records: Record<string, unknown>[] = [];
  let current: Record<string, unknown> = {};
  const flush = () => {
    if (Object.keys(current).length > 0) records.push(current);
    current = {};
  };
  for (const raw of text.replace(/^\uFEFF/, '').split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '') {
      flush();
      continue;
    }
    const eq = line.indexOf('=');
    if (eq > 0) current[line.slice(0, eq)] = line.slice(eq + 1);
  }
  flush();
  return records.filter((r) => 'ConversionStatus' in r || 'ProtectionStatus' in r).map(fromCimRecord);
}

/** Parses Win32_EncryptableVolume records as JSON (the agent's own PowerShell query, see the win32 backend). Pure. */
export function parseEncryptableVolumeJson(text: string): BitLockerVolume[] {
  return asList(parseJson(text, 'Win32_EncryptableVolume'), 'Win32_EncryptableVolume').map(fromCimRecord);
}

/** UTF-16LE when it starts with the FF FE byte-order mark (wmic files), else UTF-8. */
export function decodeWindowsText(buffer: Buffer): string {
  if (buffer.length >= 2 && buffer[0] === 0xff && buffer[1] === 0xfe) return buffer.subarray(2).toString('utf16le');
  return buffer.toString('utf8').replace(/^\uFEFF/, '');
}

/** Win32_LogicalDisk rows: drive letter → DriveType (2 removable, 3 local fixed) and file system. */
export interface LogicalDisk {
  deviceId: string;
  driveType: number | null;
  fileSystem: string;
}

/** Parses `Get-CimInstance Win32_LogicalDisk | Select-Object DeviceID,DriveType,FileSystem | ConvertTo-Json`. Pure. */
export function parseLogicalDisksJson(text: string): LogicalDisk[] {
  return asList(parseJson(text, 'Win32_LogicalDisk'), 'Win32_LogicalDisk').map((r) => ({
    deviceId: typeof r.DeviceID === 'string' ? r.DeviceID.trim().toUpperCase() : '',
    driveType: num(r.DriveType),
    fileSystem: typeof r.FileSystem === 'string' ? r.FileSystem.trim() : '',
  }));
}

/** One volume of `manage-bde -status`, with the words it printed that the structure alone cannot decide. */
export interface ManageBdeVolume {
  volume: BitLockerVolume;
  /** Phrases this reader does not know (a display language other than English or German). */
  unread: string[];
}

/*
 * manage-bde's words for conversion and protection status. Only languages seen in real outputs
 * are listed (English, German); the characters outside ASCII are matched loosely because the
 * console code page may have garbled them. Anything else is "unread" and the volume's state is
 * reported as unknown rather than guessed.
 */
const CONVERSION_PHRASES: [RegExp, number][] = [
  [/^fully decrypted$|^vollst.{1,2}ndig entschl.{1,2}sselt$/i, 0],
  [/^fully encrypted$|^used space only encrypted$|^vollst.{1,2}ndig verschl.{1,2}sselt$|^nur verwendeter speicherplatz verschl.{1,2}sselt$/i, 1],
  [/^encryption in progress$|^verschl.{1,2}sselung wird durchgef.{1,2}hrt$/i, 2],
  [/^decryption in progress$|^entschl.{1,2}sselung wird durchgef.{1,2}hrt$/i, 3],
  [/^encryption paused$|^verschl.{1,2}sselung angehalten$/i, 4],
  [/^decryption paused$|^entschl.{1,2}sselung angehalten$/i, 5],
];
const PROTECTION_PHRASES: [RegExp, number][] = [
  [/^protection off|^der schutz ist deaktiviert/i, 0],
  [/^protection on|^der schutz ist aktiviert/i, 1],
];
const LOCK_PHRASES: [RegExp, number][] = [
  [/^unlocked$|^entsperrt$/i, 0],
  [/^locked$|^gesperrt$/i, 1],
];

function phrase(value: string, table: [RegExp, number][]): number | null {
  for (const [pattern, n] of table) if (pattern.test(value.trim())) return n;
  return null;
}

/** "229.78 GB", "69,13 GB", "49,36 GB" → bytes; "Unknown GB" → null. */
function gbToBytes(value: string): number | null {
  const match = /^(\d+(?:[.,]\d+)?)\s*(GB|MB|TB)?/i.exec(value.trim());
  if (!match) return null;
  const scale = { MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 }[(match[2] ?? 'GB').toUpperCase() as 'MB' | 'GB' | 'TB'];
  return Number(match[1]!.replace(',', '.')) * scale;
}

/**
 * Parses `manage-bde -status` by its structure, not its labels (which are translated): a volume
 * block starts with a line `Volume C: [label]` (`Volume "C:" []` in German) and its property
 * lines are indented "label: value" lines in a fixed order — size, BitLocker version, conversion
 * status, percentage, encryption method, protection status, lock status, identification field,
 * [automatic unlock,] key protectors. Numbers (size, version, percentage with a decimal point or
 * comma) and the method (AES…) read the same in every language; conversion, protection and lock
 * status are words, read for English and German and otherwise listed in `unread`. Output without
 * the volume line (only the property block was captured) is attributed to `fallbackMountPoint`.
 * Pure.
 */
export function parseManageBdeStatus(text: string, fallbackMountPoint = ''): ManageBdeVolume[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const blocks: { mountPoint: string; props: string[] }[] = [];
  let current: { mountPoint: string; props: string[] } | null = null;
  for (const line of lines) {
    const header = /^\S+\s+"?([A-Za-z]:|\\\\\?\\Volume\{[0-9a-fA-F-]+\}\\?)"?\s*(\[.*)?$/.exec(line);
    if (header && !/^\s/.test(line)) {
      current = { mountPoint: header[1]!.toUpperCase().replace(/^\\\\\?\\VOLUME/, '\\\\?\\Volume'), props: [] };
      blocks.push(current);
      continue;
    }
    // A property line: indented "label: value"; continuation lines (key protector names) are indented deeper and have no colon-value pair.
    const prop = /^(\s{2,})([^:]+?):\s*(.*)$/.exec(line);
    if (prop && prop[1]!.length <= 4) {
      if (current === null) {
        current = { mountPoint: fallbackMountPoint.toUpperCase(), props: [] };
        blocks.push(current);
      }
      current.props.push(prop[3]!.trim());
    }
  }
  return blocks
    .filter((b) => b.props.length >= 7)
    .map((b) => {
      const [size, version, conversion, percentText, method, protection, lock] = b.props as [string, string, string, string, string, string, string];
      const unread: string[] = [];
      const bitlocker = /\d/.test(version);
      const lockStatus = phrase(lock, LOCK_PHRASES);
      // A locked volume's conversion and protection read "unknown" (in its language): not needed, it is locked.
      const percentMatch = /(\d+(?:[.,]\d+)?)/.exec(percentText);
      const percent = percentMatch ? Number(percentMatch[1]!.replace(',', '.')) : null;
      let conversionStatus = phrase(conversion, CONVERSION_PHRASES);
      if (conversionStatus === null) {
        if (!bitlocker && percent === 0) conversionStatus = 0; // no BitLocker version, nothing encrypted: plain in any language
        else if (lockStatus !== 1) unread.push(conversion);
      }
      let protectionStatus = phrase(protection, PROTECTION_PHRASES);
      if (protectionStatus === null) {
        if (!bitlocker) protectionStatus = 0;
        else if (lockStatus !== 1) unread.push(protection);
      }
      if (lockStatus === null && bitlocker) unread.push(lock);
      return {
        unread,
        volume: {
          mountPoint: b.mountPoint,
          volumeType: null,
          conversionStatus,
          protectionStatus,
          lockStatus: lockStatus ?? 0,
          percent,
          method: /AES|Hardware/i.test(method) ? method.trim() : '',
          sizeBytes: gbToBytes(size),
        },
      };
    });
}
