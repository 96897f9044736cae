import { EncryptionScheme, type VolumeEncryption } from '../../generated/mamori/v1/events';
import type { DiskutilInfo } from '../usb/parsers/macos-diskutil.parser';
import { encryptionState, volumeEncryption } from './disk-encryption.source';
import type { ApfsContainer, ApfsVolume, FdesetupStatus } from './parsers/macos-encryption.parser';

/**
 * Pure rules that turn `diskutil apfs list -plist`, `fdesetup status` and `diskutil info -plist`
 * answers into the macOS disk-encryption report.
 *
 * Which volumes: the APFS volumes that hold data — role System or Data (the boot volume group),
 * User, or no role (a volume someone created) — on containers whose physical store is internal.
 * Preboot, Recovery, VM (swap, which macOS encrypts with its own ephemeral key), Update, xART,
 * Hardware and the like are left out, as are containers on external or removable devices (the USB
 * source reports those).
 *
 * How encrypted: APFS "Encryption" with "FileVault" is FILEVAULT, fully encrypted, protection on.
 * "Encryption" without FileVault (Apple silicon and T2 Macs encrypt at rest with a hardware key
 * that opens without a password) is FILEVAULT with protection off. CryptoMigrationOn means a
 * conversion is running: not fully encrypted (fdesetup's "Percent completed" gives the progress of
 * the boot volume). A locked volume counts as locked. Without "Encryption" the volume is NONE;
 * when the plist does not say, UNSPECIFIED.
 * Macs without APFS (CoreStorage): one volume for "/" with fdesetup's answer.
 */
const DATA_ROLES = new Set(['System', 'Data', 'User']);

export interface MacFacts {
  /** null when `diskutil apfs list` could not run. */
  containers: ApfsContainer[] | null;
  /** null when `fdesetup status` could not run. */
  fdesetup: FdesetupStatus | null;
  /** diskutil info of each container's physical store (missing when it could not be read). */
  stores: ReadonlyMap<string, DiskutilInfo>;
  /** diskutil info of "/" (null when it could not be read). */
  root: DiskutilInfo | null;
}

function holdsData(volume: ApfsVolume): boolean {
  return volume.roles.length === 0 || volume.roles.some((r) => DATA_ROLES.has(r));
}

/** "disk3s1s1" (the sealed system snapshot mounted on "/") belongs to volume "disk3s1". */
function isOrContains(volumeId: string, deviceId: string): boolean {
  return volumeId !== '' && (deviceId === volumeId || (deviceId.startsWith(volumeId) && /^s\d+$/.test(deviceId.slice(volumeId.length))));
}

function apfsVolume(volume: ApfsVolume, container: ApfsContainer, systemVolume: boolean, mountPoint: string, fdesetup: FdesetupStatus | null): VolumeEncryption {
  const converting = volume.cryptoMigration === true;
  const progress = systemVolume && fdesetup?.percent !== null && fdesetup?.percent !== undefined ? fdesetup.percent : 0;
  let encryption;
  if (volume.encryption === null) encryption = encryptionState(EncryptionScheme.ENCRYPTION_SCHEME_UNSPECIFIED);
  else if (!volume.encryption && !converting) encryption = encryptionState(EncryptionScheme.ENCRYPTION_SCHEME_NONE);
  else encryption = encryptionState(EncryptionScheme.ENCRYPTION_SCHEME_FILEVAULT, !converting, converting ? progress : 100, volume.fileVault === true);
  return volumeEncryption({
    device: `/dev/${volume.deviceIdentifier}`,
    mountPoint,
    systemVolume,
    encryption,
    locked: volume.locked === true,
    sizeBytes: String(volume.capacityInUse ?? 0),
    filesystemType: 'apfs',
    encryptedBy: container.physicalStores[0] ? `/dev/${container.physicalStores[0]}` : '',
  });
}

export function macVolumes(facts: MacFacts): { volumes: VolumeEncryption[]; problems: string[] } {
  const problems: string[] = [];
  const volumes: VolumeEncryption[] = [];
  const rootId = facts.root?.deviceIdentifier ?? '';
  if (facts.containers !== null && facts.containers.length > 0) {
    const anyRoles = facts.containers.some((c) => c.volumes.some((v) => v.roles.includes('System') || v.roles.includes('Data')));
    for (const container of facts.containers) {
      const stores = container.physicalStores.map((s) => facts.stores.get(s));
      if (stores.some((s) => s && (s.internal === false || s.removable === true))) continue;
      if (stores.some((s) => s === undefined)) problems.push(`whether APFS container ${container.reference} is on an internal disk is unknown; it is reported as fixed`);
      for (const volume of container.volumes) {
        if (!holdsData(volume)) continue;
        const isRoot = isOrContains(volume.deviceIdentifier, rootId);
        const system = anyRoles ? volume.roles.includes('System') || volume.roles.includes('Data') : isRoot;
        volumes.push(apfsVolume(volume, container, system, isRoot ? '/' : '', facts.fdesetup));
      }
    }
    return { volumes, problems };
  }
  // No APFS container (CoreStorage or HFS+): FileVault's answer is the boot volume's.
  if (facts.root === null) return { volumes, problems: ['the boot volume could not be identified (diskutil info /)'] };
  const fde = facts.fdesetup;
  let encryption;
  if (fde === null || fde.on === null) encryption = encryptionState(EncryptionScheme.ENCRYPTION_SCHEME_UNSPECIFIED);
  else if (!fde.on && fde.conversion === null) encryption = encryptionState(EncryptionScheme.ENCRYPTION_SCHEME_NONE);
  else encryption = encryptionState(EncryptionScheme.ENCRYPTION_SCHEME_FILEVAULT, fde.conversion === null, fde.conversion === null ? 100 : (fde.percent ?? 0), fde.on);
  volumes.push(
    volumeEncryption({
      device: facts.root.deviceNode,
      mountPoint: '/',
      systemVolume: true,
      encryption,
      sizeBytes: String(facts.root.sizeBytes ?? 0n),
      filesystemType: facts.root.filesystemType,
    }),
  );
  return { volumes, problems };
}
