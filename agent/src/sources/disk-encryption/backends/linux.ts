import { readFile } from 'node:fs/promises';
import { CommandError, type CommandRunner } from '../../../facts/command-runner';
import type { DiskEncryptionStatus } from '../../../generated/mamori/v1/events';
import { parseBlkidExport } from '../../storage/blkid.parser';
import { parseMountInfo } from '../../storage/mountinfo.parser';
import { problemOf, type DiskEncryptionSource } from '../disk-encryption.source';
import { devicesToProbe, fixedDisks, linuxVolumes, lockedLuksDevices, mappingsToQuery, type ProbeResult } from '../linux-volumes';
import { parseCryptsetupStatus, parseLuksDump, type CryptsetupStatus, type LuksDump } from '../parsers/cryptsetup.parser';
import { parseLsblkJson, parseLsblkTree, type LsblkNode } from '../parsers/lsblk.parser';

export interface LinuxDiskEncryptionOptions {
  runner: CommandRunner;
  /** The mount table; tests point it elsewhere. */
  mountinfoPath?: string;
  /** Per command; a hung tool is killed after this long. */
  timeoutMs?: number;
  /** Devices to report even though they are not fixed disks (the real-kernel test's loop devices). */
  includeDevice?: (path: string) => boolean;
}

/**
 * lsblk invocations, newest first: util-linux 2.37+ (MOUNTPOINTS, FSVER), 2.27+ JSON, and the
 * plain tree every util-linux prints. An older lsblk refuses an unknown column, so each failure
 * falls through to the next.
 */
const LSBLK_ATTEMPTS: { args: string[]; parse: (out: string) => LsblkNode[] }[] = [
  { args: ['-J', '-b', '-p', '-o', 'NAME,TYPE,FSTYPE,FSVER,SIZE,MOUNTPOINTS,RM,TRAN,PARTTYPE'], parse: parseLsblkJson },
  { args: ['-J', '-b', '-p', '-o', 'NAME,TYPE,FSTYPE,SIZE,MOUNTPOINT,RM,TRAN'], parse: parseLsblkJson },
  { args: ['-b', '-p', '-o', 'NAME,MAJ:MIN,RM,SIZE,RO,TYPE,FSTYPE,MOUNTPOINT'], parse: parseLsblkTree },
];

/**
 * Linux: lsblk's tree of block devices, followed from each volume down through device-mapper
 * and LVM to a crypto_LUKS container (rules in linux-volumes.ts). Where udev's database is empty
 * (containers, hosts without udevd) lsblk has no FSTYPE: `blkid -p` reads the signature from the
 * device itself and /proc/self/mountinfo names the type of mounted file systems. `cryptsetup
 * status` names the scheme and cipher of open mappings, `cryptsetup luksDump` those of locked
 * LUKS volumes; without cryptsetup both come from lsblk/blkid and a problem says what is missing.
 */
export class LinuxDiskEncryptionBackend implements DiskEncryptionSource {
  readonly name = 'encryption:linux';
  private readonly timeoutMs: number;

  constructor(private readonly options: LinuxDiskEncryptionOptions) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  async check(): Promise<DiskEncryptionStatus> {
    const problems: string[] = [];
    let roots: LsblkNode[] | null = null;
    let firstError: unknown = null;
    for (const attempt of LSBLK_ATTEMPTS) {
      try {
        const { stdout } = await this.run('lsblk', attempt.args);
        roots = attempt.parse(stdout);
        break;
      } catch (error) {
        firstError ??= error;
        if (error instanceof CommandError && error.reason !== 'failed') break; // missing or hung: another column set will not help
      }
    }
    if (roots === null) return { volumes: [], problems: [problemOf('lsblk', firstError)] };

    const mountFsTypes = new Map<string, string>();
    let rootFsType = '';
    try {
      for (const entry of parseMountInfo(await readFile(this.options.mountinfoPath ?? '/proc/self/mountinfo', 'utf8'))) {
        if (!mountFsTypes.has(entry.mountPoint)) mountFsTypes.set(entry.mountPoint, entry.fsType);
        if (entry.mountPoint === '/') rootFsType = entry.fsType; // the last mount on "/" is the visible one
      }
    } catch (error) {
      problems.push(problemOf('reading the mount table', error));
    }

    const disks = fixedDisks(roots, this.options.includeDevice);
    const probes = new Map<string, ProbeResult>();
    for (const path of devicesToProbe(disks)) probes.set(path, await this.probe(path));

    const facts = { probes, mountFsTypes };
    const statuses = new Map<string, CryptsetupStatus>();
    const dumps = new Map<string, LuksDump>();
    let cryptsetupMissing = false;
    const cryptsetup = async (args: string[]): Promise<string | null> => {
      if (cryptsetupMissing) return null;
      try {
        return (await this.run('cryptsetup', args)).stdout;
      } catch (error) {
        if (error instanceof CommandError && error.reason === 'not-found') {
          cryptsetupMissing = true;
          problems.push('cryptsetup is not installed: LUKS versions come from lsblk/blkid and ciphers are not reported');
        } else {
          problems.push(problemOf(`cryptsetup ${args.join(' ')}`, error));
        }
        return null;
      }
    };
    for (const mapping of mappingsToQuery(disks, facts)) {
      const out = await cryptsetup(['status', mapping]);
      const status = out === null ? null : parseCryptsetupStatus(out);
      if (status) statuses.set(mapping, status);
      else if (out !== null) problems.push(`cryptsetup status ${mapping} printed no status: ${out.trim().slice(0, 200)}`);
    }
    for (const device of lockedLuksDevices(disks, facts)) {
      const out = await cryptsetup(['luksDump', device]);
      const dump = out === null ? null : parseLuksDump(out);
      if (dump) dumps.set(device, dump);
    }

    const result = linuxVolumes({ roots, probes, statuses, dumps, mountFsTypes, includeDevice: this.options.includeDevice });
    problems.push(...result.problems);
    if (!result.volumes.some((v) => v.systemVolume)) {
      problems.push(`the root file system${rootFsType ? ` (${rootFsType})` : ''} is not on a block device lsblk lists; whether it is encrypted is unknown`);
    }
    return { volumes: result.volumes, problems };
  }

  /** blkid exits 2 with nothing on stderr when it finds no signature; anything else is an error. */
  private async probe(path: string): Promise<ProbeResult> {
    try {
      const { stdout } = await this.run('blkid', ['-p', '-o', 'export', path]);
      const probe = parseBlkidExport(stdout, path)[0];
      return probe && probe.type !== '' ? { kind: 'found', probe } : { kind: 'blank' };
    } catch (error) {
      if (error instanceof CommandError && error.exitCode === 2 && error.stderr.trim() === '') return { kind: 'blank' };
      return { kind: 'error', message: problemOf('blkid -p', error) };
    }
  }

  private run(file: string, args: string[]) {
    return this.options.runner.run(file, args, { timeoutMs: this.timeoutMs });
  }
}
