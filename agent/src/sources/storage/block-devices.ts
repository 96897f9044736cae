import { open, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CommandError, type CommandRunner } from '../../facts/command-runner';
import type { BlockDevice } from '../../generated/mamori/v1/events';
import { parseBlkidExport, type BlkidProbe } from './blkid.parser';
import {
  BITLOCKER_METADATA_BYTES,
  encryptionStateOf,
  parseBitLockerMetadata,
  probeEncryptionSignature,
  SIGNATURE_HEAD_BYTES,
  type BitLockerMetadata,
} from './encryption-signature';
import { mountPointsOf, parseMountInfo, type MountInfoEntry } from './mountinfo.parser';
import { EncryptionScheme } from '../../generated/mamori/v1/events';

export interface BlockDeviceLinkerOptions {
  /** Where sysfs is mounted ("/sys"); tests point it at a fake tree. */
  sysRoot: string;
  /** Where device nodes live ("/dev"); tests point it at a folder of image files. */
  devRoot: string;
  /** The mount table ("/proc/self/mountinfo"). */
  mountinfoPath: string;
  /** Runs `blkid -p -o export <node>` (the fs type and label from the device itself; udev's database is empty without udevd). */
  runner: CommandRunner;
  blkidTimeoutMs?: number;
}

/** A block device with the sysfs facts the linker needs beside the reported fields. */
interface Found {
  name: string;
  parentName: string;
  majorMinor: string;
  sizeBytes: number;
  readOnly: boolean;
}

/**
 * Finds the block devices of one USB device and describes them (after USBGuard's and udisks'
 * view of the same sysfs links). A whole disk belongs to the USB device when the resolved
 * /sys/block/<disk>/device lies under the USB device's resolved sysfs path; its partitions are
 * the sub-folders of /sys/block/<disk> that have a `partition` file.
 *
 * Contract: resolves with the disks and partitions found now (empty while the kernel has not
 * created them yet, e.g. during usb-storage's 1 s scan delay, or when the device is gone). A
 * device that disappears halfway is left out rather than failing the whole answer. Filesystem
 * type and label are empty when blkid is missing, finds no signature (exit 2) or fails; the
 * encryption state then still comes from reading the node's first bytes, and when the node
 * cannot be read (no privileges) from blkid's TYPE (which also read the device's bytes), else
 * UNSPECIFIED.
 */
export class BlockDeviceLinker {
  constructor(private readonly options: BlockDeviceLinkerOptions) {}

  /** `usbSysPath` is the USB device's resolved sysfs folder (realpath of /sys/bus/usb/devices/<name>). */
  async blockDevicesOf(usbSysPath: string): Promise<BlockDevice[]> {
    const found = await this.find(usbSysPath);
    if (found.length === 0) return [];
    const mounts = await this.mounts();
    const devices: BlockDevice[] = [];
    for (const item of found) devices.push(await this.describe(item, mounts));
    return devices;
  }

  /** The "major:minor" → mount points map of the mount table now, for change detection without blkid. */
  async mounts(): Promise<MountInfoEntry[]> {
    try {
      return parseMountInfo(await readFile(this.options.mountinfoPath, 'utf8'));
    } catch {
      return [];
    }
  }

  private async find(usbSysPath: string): Promise<Found[]> {
    const blockRoot = join(this.options.sysRoot, 'block');
    let disks: string[];
    try {
      disks = await readdir(blockRoot);
    } catch {
      return [];
    }
    const prefix = usbSysPath.endsWith('/') ? usbSysPath : `${usbSysPath}/`;
    const found: Found[] = [];
    for (const disk of disks.sort()) {
      const diskDir = join(blockRoot, disk);
      let devicePath: string;
      try {
        devicePath = await realpath(join(diskDir, 'device'));
      } catch {
        continue; // virtual block devices (loop, zram, dm) have no `device` link
      }
      if (!devicePath.startsWith(prefix)) continue;
      const whole = await this.readBlock(diskDir, disk, '');
      if (!whole) continue;
      found.push(whole);
      let entries: string[] = [];
      try {
        entries = await readdir(diskDir);
      } catch {
        continue;
      }
      for (const entry of entries.filter((e) => e.startsWith(disk)).sort(naturalOrder)) {
        const partDir = join(diskDir, entry);
        if (!(await exists(join(partDir, 'partition')))) continue;
        const part = await this.readBlock(partDir, entry, disk);
        if (part) found.push(part);
      }
    }
    return found;
  }

  private async readBlock(dir: string, name: string, parentName: string): Promise<Found | null> {
    try {
      const [size, ro, dev] = await Promise.all(['size', 'ro', 'dev'].map((f) => readFile(join(dir, f), 'utf8')));
      // `size` counts 512-byte sectors whatever the device's logical block size (block/genhd).
      return { name, parentName, majorMinor: dev!.trim(), sizeBytes: Number(size!.trim()) * 512, readOnly: ro!.trim() === '1' };
    } catch {
      return null;
    }
  }

  private async describe(item: Found, mounts: MountInfoEntry[]): Promise<BlockDevice> {
    const node = join(this.options.devRoot, item.name);
    const blkid = await this.blkid(node);
    return {
      deviceNode: node,
      parentNode: item.parentName === '' ? '' : join(this.options.devRoot, item.parentName),
      sizeBytes: String(item.sizeBytes),
      filesystemType: blkid?.type ?? '',
      label: blkid?.label ?? '',
      mountPoints: mountPointsOf(mounts, item.majorMinor),
      encryption: await this.encryption(node, blkid),
      readOnly: item.readOnly,
    };
  }

  private async blkid(node: string): Promise<BlkidProbe | null> {
    try {
      const { stdout } = await this.options.runner.run('blkid', ['-p', '-o', 'export', node], { timeoutMs: this.options.blkidTimeoutMs ?? 5000 });
      return parseBlkidExport(stdout, node)[0] ?? null;
    } catch (error) {
      if (error instanceof CommandError) return null; // exit 2 = no signature; missing blkid or a failure reads the same: unknown
      throw error;
    }
  }

  private async encryption(node: string, blkid: BlkidProbe | null) {
    let head: Buffer;
    let metadata: BitLockerMetadata | null = null;
    try {
      head = await readAt(node, 0, SIGNATURE_HEAD_BYTES);
    } catch {
      return encryptionFromBlkid(blkid);
    }
    const probe = probeEncryptionSignature(head);
    for (const offset of probe.metadataOffsets) {
      try {
        metadata = parseBitLockerMetadata(await readAt(node, offset, BITLOCKER_METADATA_BYTES));
      } catch {
        metadata = null;
      }
      if (metadata) break;
    }
    return encryptionStateOf(probe, metadata);
  }
}

/** When the node itself cannot be read: blkid's TYPE, which libblkid took from the same bytes. */
function encryptionFromBlkid(blkid: BlkidProbe | null) {
  const state = (scheme: EncryptionScheme) => ({ scheme, fullyEncrypted: false, percentEncrypted: 0, protectionOn: false });
  if (!blkid) return state(EncryptionScheme.ENCRYPTION_SCHEME_UNSPECIFIED);
  if (blkid.type === 'crypto_LUKS') {
    const scheme = blkid.version === '1' ? EncryptionScheme.ENCRYPTION_SCHEME_LUKS1 : blkid.version === '2' ? EncryptionScheme.ENCRYPTION_SCHEME_LUKS2 : EncryptionScheme.ENCRYPTION_SCHEME_OTHER;
    return { scheme, fullyEncrypted: true, percentEncrypted: 100, protectionOn: true };
  }
  if (blkid.type === 'BitLocker') return state(EncryptionScheme.ENCRYPTION_SCHEME_BITLOCKER);
  return state(blkid.type === '' ? EncryptionScheme.ENCRYPTION_SCHEME_UNSPECIFIED : EncryptionScheme.ENCRYPTION_SCHEME_NONE);
}

async function readAt(path: string, position: number, length: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, position);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** sdb2 before sdb10. */
function naturalOrder(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}
