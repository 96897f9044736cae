import type { CommandRunner } from '../../../facts/command-runner';
import { EncryptionScheme, type DiskEncryptionStatus, type VolumeEncryption } from '../../../generated/mamori/v1/events';
import { problemOf, type DiskEncryptionSource } from '../disk-encryption.source';
import {
  bitLockerVolumeEncryption,
  parseEncryptableVolumeJson,
  parseGetBitLockerVolumeJson,
  parseLogicalDisksJson,
  parseManageBdeStatus,
  type BitLockerVolume,
  type LogicalDisk,
} from '../parsers/bitlocker.parser';

export interface Win32DiskEncryptionOptions {
  runner: CommandRunner;
  /** %SystemDrive%, "C:" when unset. */
  systemDrive?: string;
  /** PowerShell loads the BitLocker module slowly on a cold start. */
  timeoutMs?: number;
}

const POWERSHELL = 'powershell.exe';
const PS_ARGS = ['-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-Command'];

/** Only the state fields leave PowerShell: KeyProtector (recovery passwords, protector ids) is never selected. */
export const GET_BITLOCKER_VOLUME_SCRIPT =
  "$ErrorActionPreference='Stop'; ConvertTo-Json -Depth 2 -InputObject @(Get-BitLockerVolume | Select-Object MountPoint,VolumeType,VolumeStatus,ProtectionStatus,LockStatus,EncryptionPercentage,EncryptionMethod,CapacityGB)";

/** Win32_EncryptableVolume with its conversion progress and lock state (methods), numbers only. */
export const ENCRYPTABLE_VOLUME_SCRIPT = [
  "$ErrorActionPreference='Stop'",
  '$vols = Get-CimInstance -Namespace root/cimv2/security/microsoftvolumeencryption -ClassName Win32_EncryptableVolume',
  'ConvertTo-Json -InputObject @($vols | ForEach-Object {',
  "  $c = Invoke-CimMethod -InputObject $_ -MethodName GetConversionStatus",
  "  $l = Invoke-CimMethod -InputObject $_ -MethodName GetLockStatus",
  '  [pscustomobject]@{ DeviceID = $_.DeviceID; DriveLetter = $_.DriveLetter; VolumeType = $_.VolumeType;',
  '    ConversionStatus = $(if ($c.ReturnValue -eq 0) { $c.ConversionStatus } else { $_.ConversionStatus });',
  '    EncryptionPercentage = $(if ($c.ReturnValue -eq 0) { $c.EncryptionPercentage } else { $null });',
  '    ProtectionStatus = $_.ProtectionStatus; LockStatus = $(if ($l.ReturnValue -eq 0) { $l.LockStatus } else { $null });',
  '    EncryptionMethod = $_.EncryptionMethod }',
  '})',
].join('\n');

export const LOGICAL_DISK_SCRIPT =
  "$ErrorActionPreference='Stop'; ConvertTo-Json -InputObject @(Get-CimInstance -ClassName Win32_LogicalDisk | Select-Object DeviceID,DriveType,FileSystem)";

/**
 * Windows: BitLocker state from Get-BitLockerVolume (integers, any display language), else from
 * CIM Win32_EncryptableVolume (integers), else from `manage-bde -status` read by its structure
 * (words only in English and German; a volume whose words are not read is UNSPECIFIED). Drive
 * types from Win32_LogicalDisk leave out removable drives (DriveType 2) and name file systems.
 * Needs an elevated agent (the service runs as LocalSystem); without it all three refuse and the
 * problems say so.
 */
export class Win32DiskEncryptionBackend implements DiskEncryptionSource {
  readonly name = 'encryption:win32';
  private readonly timeoutMs: number;
  private readonly systemDrive: string;

  constructor(private readonly options: Win32DiskEncryptionOptions) {
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.systemDrive = (options.systemDrive ?? process.env.SystemDrive ?? 'C:').trim() || 'C:';
  }

  async check(): Promise<DiskEncryptionStatus> {
    const problems: string[] = [];
    const failures: string[] = [];
    let volumes: VolumeEncryption[] | null = null;
    try {
      volumes = parseGetBitLockerVolumeJson(await this.powershell(GET_BITLOCKER_VOLUME_SCRIPT)).map((v) => bitLockerVolumeEncryption(v, this.systemDrive));
    } catch (error) {
      failures.push(problemOf('Get-BitLockerVolume', error));
    }
    if (volumes === null) {
      try {
        volumes = parseEncryptableVolumeJson(await this.powershell(ENCRYPTABLE_VOLUME_SCRIPT)).map((v) => bitLockerVolumeEncryption(v, this.systemDrive));
      } catch (error) {
        failures.push(problemOf('Win32_EncryptableVolume', error));
      }
    }
    if (volumes === null) {
      try {
        const { stdout } = await this.options.runner.run('manage-bde', ['-status'], { timeoutMs: this.timeoutMs });
        volumes = [];
        for (const { volume, unread } of parseManageBdeStatus(stdout)) volumes.push(this.fromManageBde(volume, unread, problems));
        problems.push(`read from manage-bde -status (${failures.join('; ')})`);
      } catch (error) {
        failures.push(problemOf('manage-bde -status', error));
      }
    }
    if (volumes === null) return { volumes: [], problems: failures };

    let disks: LogicalDisk[] = [];
    try {
      disks = parseLogicalDisksJson(await this.powershell(LOGICAL_DISK_SCRIPT));
    } catch (error) {
      problems.push(problemOf('Win32_LogicalDisk (drive types)', error));
    }
    const byLetter = new Map(disks.map((d) => [d.deviceId, d]));
    const fixed = volumes.filter((v) => !v.removable && byLetter.get(v.device.toUpperCase())?.driveType !== 2);
    for (const volume of fixed) volume.filesystemType = byLetter.get(volume.device.toUpperCase())?.fileSystem ?? '';
    return { volumes: fixed, problems };
  }

  private fromManageBde(volume: BitLockerVolume, unread: string[], problems: string[]): VolumeEncryption {
    const result = bitLockerVolumeEncryption(volume, this.systemDrive);
    if (unread.length > 0) {
      problems.push(`manage-bde -status printed words this agent does not read for ${volume.mountPoint} (${unread.join(', ')}); its BitLocker state is unknown`);
      result.encryption = { scheme: EncryptionScheme.ENCRYPTION_SCHEME_UNSPECIFIED, fullyEncrypted: false, percentEncrypted: 0, protectionOn: false };
    }
    return result;
  }

  private async powershell(script: string): Promise<string> {
    return (await this.options.runner.run(POWERSHELL, [...PS_ARGS, script], { timeoutMs: this.timeoutMs })).stdout;
  }
}
