import { EncryptionScheme, type DiskEncryptionStatus, type VolumeEncryption } from '../../../generated/mamori/v1/events';
import { encryptionState, volumeEncryption } from '../disk-encryption.source';

/**
 * The fake backend's file (MAMORI_AGENT_FAKE_ENCRYPTION_FILE), JSON in the generated TypeScript
 * shape of DiskEncryptionStatus:
 *
 *   {
 *     "volumes": [
 *       { "device": "/dev/vda2", "mountPoint": "/", "systemVolume": true, "removable": false,
 *         "encryption": { "scheme": "ENCRYPTION_SCHEME_LUKS2", "fullyEncrypted": true,
 *                         "percentEncrypted": 100, "protectionOn": true },
 *         "locked": false, "method": "aes-xts-plain64", "sizeBytes": "21474836480",
 *         "filesystemType": "ext4", "encryptedBy": "/dev/vda3" }
 *     ],
 *     "problems": []
 *   }
 *
 * Only "device" is required in a volume; every other field takes the protobuf default (false, 0,
 * "", scheme UNSPECIFIED). "scheme" is the enum's name ("ENCRYPTION_SCHEME_NONE", …);
 * "sizeBytes" is a decimal string or a number. Unknown fields are refused, so a typo does not
 * silently read as "not encrypted". Throws an Error naming the field when the file is wrong. Pure.
 */
export function parseFakeEncryptionFile(text: string): DiskEncryptionStatus {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new Error(`not JSON: ${(error as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error('the file must hold an object with "volumes" and "problems"');
  const root = doc as Record<string, unknown>;
  only(root, ['volumes', 'problems'], '');
  const volumes = root.volumes ?? [];
  if (!Array.isArray(volumes)) throw new Error('"volumes" must be a list');
  const problems = root.problems ?? [];
  if (!Array.isArray(problems) || problems.some((p) => typeof p !== 'string')) throw new Error('"problems" must be a list of strings');
  return { volumes: volumes.map((v, i) => volume(v, `volumes[${i}]`)), problems: problems as string[] };
}

const VOLUME_FIELDS = ['device', 'mountPoint', 'systemVolume', 'removable', 'encryption', 'locked', 'method', 'sizeBytes', 'filesystemType', 'encryptedBy'];
const STATE_FIELDS = ['scheme', 'fullyEncrypted', 'percentEncrypted', 'protectionOn'];

function only(obj: Record<string, unknown>, allowed: string[], path: string): void {
  for (const key of Object.keys(obj)) if (!allowed.includes(key)) throw new Error(`${path ? `${path}.` : ''}${key} is not a field (expected one of ${allowed.join(', ')})`);
}

function field<T>(obj: Record<string, unknown>, key: string, type: 'string' | 'boolean' | 'number', path: string, fallback: T): T {
  const value = obj[key];
  if (value === undefined) return fallback;
  if (typeof value !== type) throw new Error(`${path}.${key} must be a ${type}, got ${JSON.stringify(value)}`);
  return value as T;
}

function volume(raw: unknown, path: string): VolumeEncryption {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${path} must be an object`);
  const v = raw as Record<string, unknown>;
  only(v, VOLUME_FIELDS, path);
  const device = field(v, 'device', 'string', path, '');
  if (device.trim() === '') throw new Error(`${path}.device is required`);
  let size = v.sizeBytes ?? '0';
  if (typeof size === 'number' && Number.isSafeInteger(size) && size >= 0) size = String(size);
  if (typeof size !== 'string' || !/^\d+$/.test(size)) throw new Error(`${path}.sizeBytes must be a whole number of bytes`);
  let encryption = encryptionState(EncryptionScheme.ENCRYPTION_SCHEME_UNSPECIFIED);
  if (v.encryption !== undefined) {
    if (typeof v.encryption !== 'object' || v.encryption === null || Array.isArray(v.encryption)) throw new Error(`${path}.encryption must be an object`);
    const e = v.encryption as Record<string, unknown>;
    only(e, STATE_FIELDS, `${path}.encryption`);
    const scheme = field(e, 'scheme', 'string', `${path}.encryption`, EncryptionScheme.ENCRYPTION_SCHEME_UNSPECIFIED as string);
    if (!(Object.values(EncryptionScheme) as string[]).includes(scheme)) {
      throw new Error(`${path}.encryption.scheme must be one of ${Object.values(EncryptionScheme).join(', ')}, got "${scheme}"`);
    }
    const percent = field(e, 'percentEncrypted', 'number', `${path}.encryption`, 0);
    if (!Number.isInteger(percent) || percent < 0 || percent > 100) throw new Error(`${path}.encryption.percentEncrypted must be a whole number from 0 to 100`);
    encryption = encryptionState(scheme as EncryptionScheme, field(e, 'fullyEncrypted', 'boolean', `${path}.encryption`, false), percent, field(e, 'protectionOn', 'boolean', `${path}.encryption`, false));
  }
  return volumeEncryption({
    device,
    mountPoint: field(v, 'mountPoint', 'string', path, ''),
    systemVolume: field(v, 'systemVolume', 'boolean', path, false),
    removable: field(v, 'removable', 'boolean', path, false),
    encryption,
    locked: field(v, 'locked', 'boolean', path, false),
    method: field(v, 'method', 'string', path, ''),
    sizeBytes: size,
    filesystemType: field(v, 'filesystemType', 'string', path, ''),
    encryptedBy: field(v, 'encryptedBy', 'string', path, ''),
  });
}
