import { EncryptionScheme, type DiskEncryptionStatus, type EncryptionState, type VolumeEncryption } from '../../generated/mamori/v1/events';

/**
 * The disk-encryption source port: a backend reads how every fixed disk and volume of the host
 * is encrypted, from the platform's own tools (lsblk/blkid/cryptsetup, Get-BitLockerVolume/CIM/
 * manage-bde, fdesetup/diskutil) or, for tests and demos, from a file (fake).
 *
 * Contract: `check()` never throws and never hangs (every command runs with a timeout). What
 * could not be read becomes an entry in `problems`, and a volume whose state could not be read
 * has scheme UNSPECIFIED, so that the posture check says "not checked" rather than "failed".
 * Secrets (recovery passwords, key protector ids, key material) never appear in the answer.
 * Removable and USB media are not reported: the USB source reports them with each plug.
 */
export interface DiskEncryptionSource {
  /** "encryption:<backend>", reported in heartbeats with the other sources. */
  readonly name: string;
  check(): Promise<DiskEncryptionStatus>;
}

/** An EncryptionState with every field set. */
export function encryptionState(scheme: EncryptionScheme, fullyEncrypted = false, percentEncrypted = 0, protectionOn = false): EncryptionState {
  return { scheme, fullyEncrypted, percentEncrypted: clampPercent(percentEncrypted), protectionOn };
}

export function clampPercent(value: number): number {
  if (!Number.isFinite(value)) return 0;
  return Math.max(0, Math.min(100, Math.round(value)));
}

/** A VolumeEncryption with defaults for what a backend does not know. */
export function volumeEncryption(fields: Partial<VolumeEncryption> & { device: string }): VolumeEncryption {
  return {
    device: fields.device,
    mountPoint: fields.mountPoint ?? '',
    systemVolume: fields.systemVolume ?? false,
    removable: fields.removable ?? false,
    encryption: fields.encryption ?? encryptionState(EncryptionScheme.ENCRYPTION_SCHEME_UNSPECIFIED),
    locked: fields.locked ?? false,
    method: fields.method ?? '',
    sizeBytes: fields.sizeBytes ?? '0',
    filesystemType: fields.filesystemType ?? '',
    encryptedBy: fields.encryptedBy ?? '',
  };
}

/** A command's failure as one problem line, naming the command. */
export function problemOf(what: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return `${what}: ${message.replace(/\s+/g, ' ').trim().slice(0, 300)}`;
}
