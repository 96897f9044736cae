import { EncryptionScheme, type BlockDevice, type EncryptionState } from '../../../generated/mamori/v1/events';
import { isPlistDict, parseXmlPlist, type PlistValue } from './macos-plist.parser';

/**
 * Pure reader for `diskutil info -plist <disk>`. Keys are Apple's fixed identifiers (the text
 * form `diskutil info` prints is translated and reworded between releases, the plist is not).
 * Keys come and go with the macOS release (RemovableMediaOrExternalDevice and the APFS
 * Encryption/FileVault keys are newer), so every fact is optional and null means "not said".
 */
export interface DiskutilInfo {
  /** "disk3", "disk3s1". */
  deviceIdentifier: string;
  /** "/dev/disk3". */
  deviceNode: string;
  /** The whole disk this one belongs to ("disk3"); itself for a whole disk. */
  parentWholeDisk: string;
  wholeDisk: boolean;
  sizeBytes: bigint | null;
  /** "USB", "SATA", "PCI-Express", "Apple Fabric", … */
  busProtocol: string;
  /** Internal=true also for built-in readers attached over USB (older MacBook SD slots). */
  internal: boolean | null;
  /** Removable media or an external device: RemovableMediaOrExternalDevice where present, else Removable/Ejectable. */
  removable: boolean | null;
  ejectable: boolean | null;
  /** The partition scheme or partition type ("FDisk_partition_scheme", "Apple_APFS", "DOS_FAT_32"). */
  content: string;
  /** The file-system short name ("msdos", "apfs", "hfs", "exfat"); '' when there is none. */
  filesystemType: string;
  /** The file system's display name ("MS-DOS (FAT32)", "APFS"). */
  filesystemName: string;
  volumeName: string;
  /** '' when not mounted. */
  mountPoint: string;
  /** Whether the volume's file system is encrypted (APFS "Encryption"), null when the plist does not say. */
  encrypted: boolean | null;
  /** APFS: FileVault (a user or recovery key protects the volume), null when not said. */
  fileVault: boolean | null;
  /** APFS: an encrypted volume that is not unlocked; null when not said. */
  locked: boolean | null;
  /** Writable=false: the device (or its media) cannot be written. */
  writable: boolean | null;
  mediaName: string;
}

type Dict = { [key: string]: PlistValue };

function str(dict: Dict, key: string): string {
  const value = dict[key];
  return typeof value === 'string' ? value.trim() : '';
}

function bool(dict: Dict, key: string): boolean | null {
  const value = dict[key];
  return typeof value === 'boolean' ? value : null;
}

function size(dict: Dict): bigint | null {
  for (const key of ['TotalSize', 'Size', 'IOKitSize']) {
    const value = dict[key];
    if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  }
  return null;
}

/** Throws when the text is not a diskutil info property list (a dict with DeviceIdentifier). */
export function parseDiskutilInfoPlist(text: string): DiskutilInfo {
  const root = parseXmlPlist(text);
  if (!isPlistDict(root) || typeof root.DeviceIdentifier !== 'string') throw new Error('diskutil info -plist: no DeviceIdentifier in the property list');
  const removableOrExternal = bool(root, 'RemovableMediaOrExternalDevice');
  const removable = bool(root, 'Removable') ?? bool(root, 'RemovableMedia');
  const ejectable = bool(root, 'Ejectable');
  return {
    deviceIdentifier: str(root, 'DeviceIdentifier'),
    deviceNode: str(root, 'DeviceNode') || `/dev/${str(root, 'DeviceIdentifier')}`,
    parentWholeDisk: str(root, 'ParentWholeDisk'),
    wholeDisk: bool(root, 'WholeDisk') ?? false,
    sizeBytes: size(root),
    busProtocol: str(root, 'BusProtocol'),
    internal: bool(root, 'Internal'),
    removable: removableOrExternal ?? removable ?? ejectable,
    ejectable,
    content: str(root, 'Content'),
    filesystemType: str(root, 'FilesystemType'),
    filesystemName: str(root, 'FilesystemName') || str(root, 'FilesystemUserVisibleName'),
    volumeName: str(root, 'VolumeName'),
    mountPoint: str(root, 'MountPoint'),
    encrypted: bool(root, 'Encryption'),
    fileVault: bool(root, 'FileVault'),
    locked: bool(root, 'Locked'),
    writable: bool(root, 'Writable'),
    mediaName: str(root, 'MediaName'),
  };
}

/**
 * The encryption state diskutil reports from the volume's own metadata (the APFS volume
 * superblock's crypto flags), or undefined when the plist does not say, which is always the
 * case for non-APFS file systems and whole disks: "not said" must never read as "plain".
 */
export function diskutilEncryption(info: DiskutilInfo): EncryptionState | undefined {
  if (info.encrypted === null) return undefined;
  if (!info.encrypted) return { scheme: EncryptionScheme.ENCRYPTION_SCHEME_NONE, fullyEncrypted: false, percentEncrypted: 0, protectionOn: false };
  return { scheme: EncryptionScheme.ENCRYPTION_SCHEME_FILEVAULT, fullyEncrypted: true, percentEncrypted: 100, protectionOn: true };
}

/** The block device the events carry. */
export function diskutilBlockDevice(info: DiskutilInfo): BlockDevice {
  const parent = !info.wholeDisk && info.parentWholeDisk !== '' && info.parentWholeDisk !== info.deviceIdentifier ? `/dev/${info.parentWholeDisk}` : '';
  return {
    deviceNode: info.deviceNode,
    parentNode: parent,
    sizeBytes: (info.sizeBytes ?? 0n).toString(),
    filesystemType: info.filesystemType,
    label: info.volumeName,
    mountPoints: info.mountPoint === '' ? [] : [info.mountPoint],
    encryption: diskutilEncryption(info),
    readOnly: info.writable === false,
  };
}
