import type { CommandRunner } from '../../../facts/command-runner';
import type { DiskEncryptionStatus } from '../../../generated/mamori/v1/events';
import { parseDiskutilInfoPlist, type DiskutilInfo } from '../../usb/parsers/macos-diskutil.parser';
import { problemOf, type DiskEncryptionSource } from '../disk-encryption.source';
import { macVolumes } from '../macos-volumes';
import { parseApfsListPlist, parseFdesetupStatus, type ApfsContainer, type FdesetupStatus } from '../parsers/macos-encryption.parser';

export interface DarwinDiskEncryptionOptions {
  runner: CommandRunner;
  timeoutMs?: number;
}

/**
 * macOS: `diskutil apfs list -plist` for every APFS volume's encryption, FileVault and lock state,
 * `fdesetup status` for FileVault's conversion progress, `diskutil info -plist` for the boot
 * volume and for whether each container's physical store is internal (rules in macos-volumes.ts).
 */
export class DarwinDiskEncryptionBackend implements DiskEncryptionSource {
  readonly name = 'encryption:darwin';
  private readonly timeoutMs: number;

  constructor(private readonly options: DarwinDiskEncryptionOptions) {
    this.timeoutMs = options.timeoutMs ?? 15_000;
  }

  async check(): Promise<DiskEncryptionStatus> {
    const problems: string[] = [];
    let containers: ApfsContainer[] | null = null;
    try {
      containers = parseApfsListPlist((await this.run('diskutil', ['apfs', 'list', '-plist'])).stdout);
    } catch (error) {
      problems.push(problemOf('diskutil apfs list', error));
    }
    let fdesetup: FdesetupStatus | null = null;
    try {
      fdesetup = parseFdesetupStatus((await this.run('fdesetup', ['status'])).stdout);
      if (fdesetup.on === null) problems.push('fdesetup status said neither "FileVault is On" nor "Off"');
    } catch (error) {
      problems.push(problemOf('fdesetup status', error));
    }
    const root = await this.info('/', problems);
    const stores = new Map<string, DiskutilInfo>();
    for (const store of new Set((containers ?? []).flatMap((c) => c.physicalStores))) {
      const info = await this.info(store, problems);
      if (info) stores.set(store, info);
    }
    if (containers === null && root === null) return { volumes: [], problems };
    const result = macVolumes({ containers, fdesetup, stores, root });
    return { volumes: result.volumes, problems: [...problems, ...result.problems] };
  }

  private async info(target: string, problems: string[]): Promise<DiskutilInfo | null> {
    try {
      return parseDiskutilInfoPlist((await this.run('diskutil', ['info', '-plist', target])).stdout);
    } catch (error) {
      problems.push(problemOf(`diskutil info ${target}`, error));
      return null;
    }
  }

  private run(file: string, args: string[]) {
    return this.options.runner.run(file, args, { timeoutMs: this.timeoutMs });
  }
}
