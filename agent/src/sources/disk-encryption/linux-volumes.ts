import { EncryptionScheme, type VolumeEncryption } from '../../generated/mamori/v1/events';
import type { BlkidProbe } from '../storage/blkid.parser';
import type { CryptsetupStatus, LuksDump } from './parsers/cryptsetup.parser';
import type { LsblkNode } from './parsers/lsblk.parser';
import { encryptionState, volumeEncryption } from './disk-encryption.source';

/**
 * Pure rules that turn lsblk's block-device tree (plus blkid, cryptsetup and the mount table)
 * into the volumes of the Linux disk-encryption report.
 *
 * Which disks: every top-level device of lsblk's tree except loop devices (snap squashfs images,
 * disk images), zram and ram disks, optical drives (rom), and removable or USB/FireWire disks
 * (the USB source reports those with each plug), unless such a disk holds the root file system.
 *
 * Which volumes: the leaves of each disk's tree (a partition with a file system, a logical volume,
 * an open LUKS mapping's file system, a LUKS partition nobody opened, a whole disk with no
 * partition table). Left out: boot volumes (mounted on /boot, /boot/efi or /efi, or an EFI system
 * or BIOS boot partition: they hold the boot loader and kernel, not data, and stay plain on a
 * standard encrypted install) and blank space (blkid found no signature at all: nothing is stored
 * there in a readable form). Swap is a volume: it holds memory pages.
 *
 * How encrypted: a volume is encrypted when a dm-crypt mapping ("crypt" node, or a child of a
 * crypto_LUKS device) lies between it and its disk; then the container is `encrypted_by`, the
 * scheme comes from `cryptsetup status` (LUKS1/LUKS2/BITLK/PLAIN) or the container's LUKS version,
 * and protection is on (a LUKS mapping needs a key to open). A LUKS (or BitLocker) device with no
 * open mapping is a locked volume. A mounted volume with no mapping above it is plain. A volume
 * whose contents could not be read (blkid failed, an inactive LVM or RAID member) is UNSPECIFIED.
 */

/** What blkid -p said about one device: its signature, "no signature at all", or why it could not say. */
export type ProbeResult = { kind: 'found'; probe: BlkidProbe } | { kind: 'blank' } | { kind: 'error'; message: string };

export interface LinuxFacts {
  roots: LsblkNode[];
  /** blkid -p results by device path. */
  probes: ReadonlyMap<string, ProbeResult>;
  /** cryptsetup status by mapping path. */
  statuses: ReadonlyMap<string, CryptsetupStatus>;
  /** cryptsetup luksDump by device path. */
  dumps: ReadonlyMap<string, LuksDump>;
  /** File-system type by mount point, from /proc/self/mountinfo (udev's database may be empty). */
  mountFsTypes: ReadonlyMap<string, string>;
  /** Devices to report even where the rules above would skip them (the real-kernel test's loop devices). */
  includeDevice?: (path: string) => boolean;
}

const BOOT_MOUNTS = new Set(['/boot', '/boot/efi', '/efi']);
/** GPT EFI system partition, GPT BIOS boot partition, MBR EFI (0xef). */
const BOOT_PART_TYPES = new Set(['c12a7328-f81f-11d2-ba4b-00a0c93ec93b', '21686148-6449-6e4f-744e-656564454649', '0xef']);
const INACTIVE_CONTAINERS = new Set(['LVM2_member', 'linux_raid_member', 'zfs_member', 'bcache']);
const EXTERNAL_TRANSPORTS = new Set(['usb', 'ieee1394']);

/** "/dev/sda5"; lsblk without -p prints bare names, mapper devices live under /dev/mapper. */
export function devicePath(node: LsblkNode): string {
  if (node.name.startsWith('/')) return node.name;
  return node.type === 'crypt' || node.type === 'lvm' || node.type === 'dm' ? `/dev/mapper/${node.name}` : `/dev/${node.name}`;
}

function walk(node: LsblkNode, visit: (n: LsblkNode) => void): void {
  visit(node);
  for (const child of node.children) walk(child, visit);
}

function holdsRoot(node: LsblkNode): boolean {
  let found = false;
  walk(node, (n) => (found ||= n.mountPoints.includes('/')));
  return found;
}

/** The top-level devices that are fixed disks, and why the others were left out. */
export function fixedDisks(roots: readonly LsblkNode[], includeDevice?: (path: string) => boolean): LsblkNode[] {
  return roots.filter((disk) => {
    const path = devicePath(disk);
    if (includeDevice?.(path)) return true;
    if (disk.type === 'loop' || disk.type === 'rom' || /^(loop|zram|ram|sr|fd)\d+$/.test(path.replace(/^\/dev\//, ''))) return false;
    if (disk.type !== '' && disk.type !== 'disk') return false;
    if (holdsRoot(disk)) return true;
    return disk.removable !== true && !EXTERNAL_TRANSPORTS.has(disk.transport);
  });
}

function realMounts(node: LsblkNode): string[] {
  return node.mountPoints.filter((m) => m !== '[SWAP]');
}

function knownFsType(node: LsblkNode, facts: Pick<LinuxFacts, 'probes' | 'mountFsTypes'>): string {
  if (node.fstype !== '') return node.fstype;
  const probe = facts.probes.get(devicePath(node));
  if (probe?.kind === 'found' && probe.probe.type !== '') return probe.probe.type;
  if (node.mountPoints.includes('[SWAP]')) return 'swap';
  for (const mount of realMounts(node)) {
    const type = facts.mountFsTypes.get(mount);
    if (type) return type;
  }
  return '';
}

function fsVersion(node: LsblkNode, facts: Pick<LinuxFacts, 'probes'>): string {
  if (node.fsver !== '') return node.fsver;
  const probe = facts.probes.get(devicePath(node));
  return probe?.kind === 'found' ? probe.probe.version : '';
}

function isMapping(node: LsblkNode, parent: LsblkNode | undefined, facts: Pick<LinuxFacts, 'probes' | 'mountFsTypes' | 'statuses'>): boolean {
  if (node.type === 'crypt' || facts.statuses.has(devicePath(node))) return true;
  return parent !== undefined && node.type === '' && knownFsType(parent, facts) === 'crypto_LUKS';
}

function isBoot(node: LsblkNode): boolean {
  return node.mountPoints.some((m) => BOOT_MOUNTS.has(m)) || BOOT_PART_TYPES.has(node.partType);
}

/**
 * The devices whose signature blkid must read: unmounted leaves lsblk gives no FSTYPE for (a
 * locked LUKS partition looks blank when udev's database is empty), and containers of open
 * mappings with no FSTYPE (for the LUKS version when cryptsetup cannot say).
 */
export function devicesToProbe(disks: readonly LsblkNode[]): string[] {
  const out = new Set<string>();
  const visit = (node: LsblkNode) => {
    const leaf = node.children.length === 0;
    if (node.fstype === '' && leaf && node.mountPoints.length === 0) out.add(devicePath(node));
    if (node.fstype === '' && node.children.some((c) => c.type === 'crypt')) out.add(devicePath(node));
    for (const child of node.children) visit(child);
  };
  for (const disk of disks) visit(disk);
  return [...out];
}

/** The open dm-crypt mappings in the tree (for `cryptsetup status`). */
export function mappingsToQuery(disks: readonly LsblkNode[], facts: Pick<LinuxFacts, 'probes' | 'mountFsTypes'>): string[] {
  const out = new Set<string>();
  const visit = (node: LsblkNode, parent: LsblkNode | undefined) => {
    if (isMapping(node, parent, { ...facts, statuses: new Map() })) out.add(devicePath(node));
    for (const child of node.children) visit(child, node);
  };
  for (const disk of disks) visit(disk, undefined);
  return [...out];
}

/** LUKS devices with no open mapping (for `cryptsetup luksDump`: version and cipher of a locked volume). */
export function lockedLuksDevices(disks: readonly LsblkNode[], facts: Pick<LinuxFacts, 'probes' | 'mountFsTypes'>): string[] {
  const out = new Set<string>();
  for (const disk of disks) walk(disk, (n) => n.children.length === 0 && knownFsType(n, facts) === 'crypto_LUKS' && out.add(devicePath(n)));
  return [...out];
}

function luksScheme(version: string | number): EncryptionScheme {
  const v = String(version);
  return v === '1' ? EncryptionScheme.ENCRYPTION_SCHEME_LUKS1 : v === '2' ? EncryptionScheme.ENCRYPTION_SCHEME_LUKS2 : EncryptionScheme.ENCRYPTION_SCHEME_OTHER;
}

function statusScheme(type: string): EncryptionScheme | null {
  const t = type.toUpperCase();
  if (t === '') return null;
  if (t === 'LUKS1') return EncryptionScheme.ENCRYPTION_SCHEME_LUKS1;
  if (t === 'LUKS2') return EncryptionScheme.ENCRYPTION_SCHEME_LUKS2;
  if (t === 'BITLK') return EncryptionScheme.ENCRYPTION_SCHEME_BITLOCKER;
  return EncryptionScheme.ENCRYPTION_SCHEME_OTHER;
}

/** The volumes of the report and what could not be read about them. Pure. */
export function linuxVolumes(facts: LinuxFacts): { volumes: VolumeEncryption[]; problems: string[] } {
  const volumes = new Map<string, VolumeEncryption>();
  const problems: string[] = [];
  const add = (volume: VolumeEncryption) => {
    const known = volumes.get(volume.device);
    // A leaf reached through two parents (LVM over two PVs, RAID1): it is only as protected as its weakest path.
    if (known && known.encryption?.scheme !== EncryptionScheme.ENCRYPTION_SCHEME_NONE && volume.encryption?.scheme === EncryptionScheme.ENCRYPTION_SCHEME_NONE) {
      volumes.set(volume.device, volume);
    } else if (!known) {
      volumes.set(volume.device, volume);
    }
  };

  const visit = (node: LsblkNode, chain: LsblkNode[], disk: LsblkNode) => {
    const here = [...chain, node];
    if (node.children.length > 0) {
      for (const child of node.children) visit(child, here, disk);
      return;
    }
    if (here.some(isBoot)) return;
    const path = devicePath(node);
    const mounts = realMounts(node);
    const fsType = knownFsType(node, facts);
    const base = {
      device: path,
      mountPoint: mounts.includes('/') ? '/' : (mounts[0] ?? ''),
      systemVolume: mounts.includes('/'),
      removable: disk.removable === true || EXTERNAL_TRANSPORTS.has(disk.transport),
      sizeBytes: String(node.sizeBytes ?? 0),
    };
    // The deepest open mapping between the disk and this leaf.
    let mappingIndex = -1;
    for (let i = here.length - 1; i >= 1; i--) {
      if (isMapping(here[i]!, here[i - 1], facts)) {
        mappingIndex = i;
        break;
      }
    }
    if (mappingIndex >= 1) {
      const mapping = here[mappingIndex]!;
      const container = here[mappingIndex - 1]!;
      const status = facts.statuses.get(devicePath(mapping));
      const containerType = knownFsType(container, facts);
      const scheme =
        statusScheme(status?.type ?? '') ??
        (containerType === 'crypto_LUKS' ? luksScheme(fsVersion(container, facts)) : containerType === 'BitLocker' ? EncryptionScheme.ENCRYPTION_SCHEME_BITLOCKER : EncryptionScheme.ENCRYPTION_SCHEME_OTHER);
      add(
        volumeEncryption({
          ...base,
          encryption: encryptionState(scheme, true, 100, true),
          method: status?.cipher || facts.dumps.get(devicePath(container))?.cipher || '',
          filesystemType: fsType,
          encryptedBy: devicePath(container),
        }),
      );
      return;
    }
    if (fsType === 'crypto_LUKS') {
      const dump = facts.dumps.get(path);
      const version = fsVersion(node, facts) || String(dump?.version ?? '');
      add(volumeEncryption({ ...base, encryption: encryptionState(luksScheme(version), true, 100, true), locked: true, method: dump?.cipher ?? '' }));
      return;
    }
    if (fsType === 'BitLocker') {
      // A BitLocker volume seen from Linux (a dual-boot's Windows drive): its conversion state is in
      // metadata Linux does not decode here; it is locked to this system.
      add(volumeEncryption({ ...base, encryption: encryptionState(EncryptionScheme.ENCRYPTION_SCHEME_BITLOCKER), locked: true }));
      return;
    }
    if (INACTIVE_CONTAINERS.has(fsType)) {
      problems.push(`${path} is a ${fsType} device with nothing active on it; whether the data inside is encrypted cannot be read`);
      add(volumeEncryption({ ...base, filesystemType: fsType }));
      return;
    }
    if (fsType !== '' || node.mountPoints.length > 0) {
      // Mounted (or holding a file system) with no dm-crypt mapping above it: plain.
      add(volumeEncryption({ ...base, encryption: encryptionState(EncryptionScheme.ENCRYPTION_SCHEME_NONE), filesystemType: fsType }));
      return;
    }
    const probe = facts.probes.get(path);
    if (probe?.kind === 'blank') return; // no signature: nothing is stored there in a readable form
    problems.push(`${path}: ${probe?.kind === 'error' ? probe.message : 'its contents were not probed'}; whether it is encrypted is unknown`);
    add(volumeEncryption(base));
  };

  for (const disk of fixedDisks(facts.roots, facts.includeDevice)) visit(disk, [], disk);
  return { volumes: [...volumes.values()], problems };
}
