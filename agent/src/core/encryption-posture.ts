import { randomUUID } from 'node:crypto';
import { EncryptionScheme, type DiskEncryptionStatus, type VolumeEncryption } from '../generated/mamori/v1/events';
import { PostureCheck } from '../generated/mamori/v1/telemetry';
import type { EventDraft } from './event-factory';
import { toTimestamp } from './timestamps';

/**
 * The rules that turn a disk-encryption report into the heartbeat's two posture checks. Pure and
 * shared: the agent computes the checks it sends, and the collector can re-judge the volumes with
 * the same functions.
 *
 * A volume is protected when its scheme names an encryption technology and either
 *  - it is locked (its contents cannot be read without a key), or
 *  - it is fully encrypted AND protection is on.
 * So encryption in progress (or paused), BitLocker with protection suspended (a clear key opens
 * it), and Apple's "encrypted at rest" without FileVault (a hardware key opens it) are not
 * protected: they FAIL the check, because the data can be read without a secret today.
 *
 * A volume with scheme UNSPECIFIED is one whose state could not be read. A check is
 *  - UNSPECIFIED when it has no volume to judge (the check did not run or found nothing),
 *  - FAILED when at least one judged volume is known to be unprotected,
 *  - UNSPECIFIED when none is unprotected but at least one could not be read,
 *  - PASSED otherwise.
 * A tool that could not run therefore never turns into FAILED on its own.
 */
export function volumeProtected(volume: VolumeEncryption): boolean {
  const state = volume.encryption;
  if (!state || !isEncryptedScheme(state.scheme)) return false;
  return volume.locked || (state.fullyEncrypted && state.protectionOn);
}

/** True when the volume's state could not be read (not the same as "not encrypted"). */
export function volumeUnknown(volume: VolumeEncryption): boolean {
  return (volume.encryption?.scheme ?? EncryptionScheme.ENCRYPTION_SCHEME_UNSPECIFIED) === EncryptionScheme.ENCRYPTION_SCHEME_UNSPECIFIED;
}

export function isEncryptedScheme(scheme: EncryptionScheme): boolean {
  return scheme !== EncryptionScheme.ENCRYPTION_SCHEME_UNSPECIFIED && scheme !== EncryptionScheme.ENCRYPTION_SCHEME_NONE;
}

function judge(volumes: readonly VolumeEncryption[]): PostureCheck {
  if (volumes.length === 0) return PostureCheck.POSTURE_CHECK_UNSPECIFIED;
  if (volumes.some((v) => !volumeUnknown(v) && !volumeProtected(v))) return PostureCheck.POSTURE_CHECK_FAILED;
  if (volumes.some(volumeUnknown)) return PostureCheck.POSTURE_CHECK_UNSPECIFIED;
  return PostureCheck.POSTURE_CHECK_PASSED;
}

export interface EncryptionPosture {
  fixedDisksEncrypted: PostureCheck;
  systemVolumeEncrypted: PostureCheck;
  volumes: VolumeEncryption[];
  encryptionProblems: string[];
}

/**
 * The posture for a report; `null` (no check has finished yet) gives UNSPECIFIED for both.
 * fixed_disks_encrypted judges every volume not on removable media (the system volume included);
 * system_volume_encrypted judges the volumes marked system_volume.
 */
export function encryptionPosture(report: DiskEncryptionStatus | null): EncryptionPosture {
  if (report === null) {
    return {
      fixedDisksEncrypted: PostureCheck.POSTURE_CHECK_UNSPECIFIED,
      systemVolumeEncrypted: PostureCheck.POSTURE_CHECK_UNSPECIFIED,
      volumes: [],
      encryptionProblems: ['the disk-encryption check has not finished yet'],
    };
  }
  const fixed = report.volumes.filter((v) => !v.removable);
  return {
    fixedDisksEncrypted: judge(fixed),
    systemVolumeEncrypted: judge(fixed.filter((v) => v.systemVolume)),
    volumes: report.volumes,
    encryptionProblems: report.problems,
  };
}

/**
 * What counts as a change of posture: the two checks, each volume's identity and encryption facts,
 * and the set of problems. Conversion percentage and size are left out, so a disk that is being
 * encrypted does not produce an event at every check while the percentage climbs; the move to
 * fully encrypted changes `fullyEncrypted` and is reported.
 */
export function postureFingerprint(posture: EncryptionPosture): string {
  const volumes = posture.volumes
    .map((v) => [
      v.device,
      v.mountPoint,
      v.systemVolume,
      v.removable,
      v.encryption?.scheme ?? '',
      v.encryption?.fullyEncrypted ?? false,
      v.encryption?.protectionOn ?? false,
      v.locked,
      v.method,
      v.filesystemType,
      v.encryptedBy,
    ])
    .map((fields) => JSON.stringify(fields))
    .sort();
  return JSON.stringify([posture.fixedDisksEncrypted, posture.systemVolumeEncrypted, volumes, [...new Set(posture.encryptionProblems)].sort()]);
}

/** The DiskEncryptionStatus event for a report. */
export function diskEncryptionStatusEvent(report: DiskEncryptionStatus, occurredAt: Date, userName: string): EventDraft {
  return {
    eventId: randomUUID(),
    occurredAt: toTimestamp(occurredAt),
    userName,
    diskEncryptionStatus: { volumes: report.volumes, problems: report.problems },
  };
}
