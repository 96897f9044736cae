import { processCommandRunner, type CommandRunner } from '../../../facts/command-runner';
import type { BlockDevice } from '../../../generated/mamori/v1/events';
import type { Logger } from '../../../logging/logger';
import { diskutilBlockDevice, parseDiskutilInfoPlist } from '../parsers/macos-diskutil.parser';
import { parseSystemProfilerUsbJson, type MacUsbMedia, type MacUsbVolume } from '../parsers/macos-system-profiler.parser';
import { PollingUsbBackend, type UsbSnapshotEntry } from './polling';

export interface DarwinUsbOptions {
  logger: Logger;
  runner?: CommandRunner;
  /** Time between snapshots (default 5 s: system_profiler takes about a second). */
  pollMs?: number;
  /** For system_profiler (default 30 s); diskutil gets a third of it. */
  timeoutMs?: number;
  clock?: () => Date;
}

/** A volume's facts from system_profiler alone, when diskutil could not be asked (no encryption judged). */
function fallbackBlockDevice(node: string, parent: string, item: MacUsbVolume | MacUsbMedia): BlockDevice {
  const volume = 'fileSystem' in item ? item : null;
  return {
    deviceNode: `/dev/${node}`,
    parentNode: parent === '' ? '' : `/dev/${parent}`,
    sizeBytes: (item.sizeBytes ?? 0n).toString(),
    filesystemType: volume?.fileSystem ?? '',
    label: volume !== null && volume.name !== volume.bsdName ? volume.name : '',
    mountPoints: volume !== null && volume.mountPoint !== '' ? [volume.mountPoint] : [],
    encryption: undefined,
    readOnly: false,
  };
}

/**
 * The macOS USB backend: polls `system_profiler SPUSBDataType -json` through the CommandRunner
 * and, for each USB disk and volume, `diskutil info -plist` (file system, label, mount point,
 * APFS encryption). diskutil answers are cached by what system_profiler says about the volume
 * (BSD name, file system, mount point), so an unchanged stick costs one system_profiler run per
 * poll; a diskutil failure (disk gone between the two calls, timeout) falls back to
 * system_profiler's own facts without an encryption judgement, and is asked again next time.
 * Audit-only: it does not block or make devices read-only.
 */
export class DarwinUsbBackend extends PollingUsbBackend {
  constructor(options: DarwinUsbOptions) {
    const runner = options.runner ?? processCommandRunner;
    const timeoutMs = options.timeoutMs ?? 30_000;
    const cache = new Map<string, BlockDevice>();
    const log = options.logger;

    const describe = async (node: string, parent: string, item: MacUsbVolume | MacUsbMedia, seen: Set<string>): Promise<BlockDevice> => {
      const key = 'fileSystem' in item ? `${node}|${item.fileSystem}|${item.mountPoint}` : `${node}|${item.sizeBytes}`;
      seen.add(key);
      const cached = cache.get(key);
      if (cached !== undefined) return cached;
      try {
        const out = await runner.run('diskutil', ['info', '-plist', node], { timeoutMs: Math.ceil(timeoutMs / 3) });
        const device = diskutilBlockDevice(parseDiskutilInfoPlist(out.stdout));
        cache.set(key, device);
        return device;
      } catch (error) {
        log.warn('diskutil info failed; using system_profiler facts for this disk', { disk: node, error: error as Error });
        return fallbackBlockDevice(node, parent, item);
      }
    };

    super({
      name: 'usb:darwin',
      platformLabel: 'macOS',
      logger: log,
      pollMs: options.pollMs ?? 5_000,
      clock: options.clock,
      snapshot: async (): Promise<UsbSnapshotEntry[]> => {
        const out = await runner.run('system_profiler', ['SPUSBDataType', '-json'], { timeoutMs });
        const devices = parseSystemProfilerUsbJson(out.stdout);
        const seen = new Set<string>();
        const entries: UsbSnapshotEntry[] = [];
        for (const { device, media } of devices) {
          const blockDevices: BlockDevice[] = [];
          for (const disk of media) {
            blockDevices.push(await describe(disk.bsdName, '', disk, seen));
            for (const volume of disk.volumes) {
              if (volume.bsdName !== '') blockDevices.push(await describe(volume.bsdName, disk.bsdName, volume, seen));
            }
          }
          entries.push({ device, blockDevices });
        }
        // Forget disks that are gone, so a reused BSD name is asked about afresh.
        for (const key of cache.keys()) if (!seen.has(key)) cache.delete(key);
        return entries;
      },
    });
  }
}
