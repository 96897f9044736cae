import type { DiskEncryptionStatus } from '../../../generated/mamori/v1/events';
import type { DiskEncryptionSource } from '../disk-encryption.source';

/** Platforms (or configurations) without a disk-encryption backend: says so; the posture stays "not checked". */
export class UnsupportedDiskEncryptionBackend implements DiskEncryptionSource {
  readonly name = 'encryption:unsupported';

  constructor(private readonly platform: string = process.platform) {}

  async check(): Promise<DiskEncryptionStatus> {
    return { volumes: [], problems: [`disk encryption is not checked on this platform (${this.platform})`] };
  }
}
