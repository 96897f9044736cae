import { readFile } from 'node:fs/promises';
import type { TransferStatus } from '../sources/transfers/transfer.source';
import type { NetworkGuardStatus } from '../daemon/network-guard';
import type { CertificateRenewalStatus } from '../transport/certificate-renewer';
import type { UpgradeStatus } from '../upgrade/upgrader';
import { writeFileAtomic } from './atomic-file';

export type ConnectionState = 'connecting' | 'connected' | 'unavailable' | 'refused';

/** What the daemon writes to status.json for `mamori-agent status` and for people. */
export interface DaemonStatus {
  pid: number;
  updatedAt: string;
  startedAt: string;
  connection: {
    state: ConnectionState;
    lastContactAt: string | null;
    lastError: string | null;
    lastErrorAt: string | null;
  };
  policyVersion: string;
  sources: string[];
  /** What the agent can and cannot do here (detect, block, read-only), with the reason when not. */
  capabilities?: Array<{ name: string; available: boolean; reason: string }>;
  /** The disk-encryption posture from the newest check (absent in status files of older agents). */
  encryption?: EncryptionStatusSummary;
  /** What the transfer watcher watches and does not, and why (absent in status files of older agents). */
  transfers?: TransferStatus;
  /** Absent in files written before issue 6. */
  network?: NetworkGuardStatus;
  /** The client certificate's renewal; absent in files of agents that could not renew. */
  certificate?: CertificateRenewalStatus;
  /** The running version against the fleet's target, trial and rollback (absent in files of older agents). */
  upgrade?: UpgradeStatus;
  uploadedEvents: number;
  rejectedEvents: number;
}

/**
 * Tracks the collector connection as the uploader, heartbeat and policy watcher see it. Any
 * successful call means "connected"; UNAUTHENTICATED means "refused" (revoked?) until a call
 * succeeds again.
 */
export class ConnectionMonitor {
  state: ConnectionState = 'connecting';
  lastContactAt: Date | null = null;
  lastError: string | null = null;
  lastErrorAt: Date | null = null;

  contact(at = new Date()): void {
    this.state = 'connected';
    this.lastContactAt = at;
  }

  failure(message: string, refused: boolean, at = new Date()): void {
    this.state = refused ? 'refused' : 'unavailable';
    this.lastError = message;
    this.lastErrorAt = at;
  }
}

export async function writeStatusFile(path: string, status: DaemonStatus): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(status, null, 2) + '\n', 0o600);
}

export async function readStatusFile(path: string): Promise<DaemonStatus | null> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as DaemonStatus;
  } catch {
    return null;
  }
}

/** What status.json says about disk encryption; checks are PostureCheck names. */
export interface EncryptionStatusSummary {
  /** When the newest check finished; null before the first. */
  checkedAt: string | null;
  source: string;
  fixedDisksEncrypted: string;
  systemVolumeEncrypted: string;
  volumes: Array<{
    device: string;
    mountPoint: string;
    systemVolume: boolean;
    scheme: string;
    fullyEncrypted: boolean;
    percentEncrypted: number;
    protectionOn: boolean;
    locked: boolean;
    encryptedBy: string;
  }>;
  problems: string[];
}
