import type { AgentConfig } from '../../config/agent-config';
import type { CommandRunner } from '../../facts/command-runner';
import { DarwinDiskEncryptionBackend } from './backends/darwin';
import { FakeDiskEncryptionBackend } from './backends/fake';
import { LinuxDiskEncryptionBackend } from './backends/linux';
import { UnsupportedDiskEncryptionBackend } from './backends/unsupported';
import { Win32DiskEncryptionBackend } from './backends/win32';
import type { DiskEncryptionSource } from './disk-encryption.source';

/**
 * Picks the disk-encryption backend named by configuration (MAMORI_AGENT_ENCRYPTION_BACKEND,
 * default the platform's own). Every real backend runs its commands through `runner`.
 */
export function createDiskEncryptionSource(config: Pick<AgentConfig, 'encryptionBackend' | 'fakeEncryptionFile'>, runner: CommandRunner): DiskEncryptionSource {
  switch (config.encryptionBackend) {
    case 'linux':
      return new LinuxDiskEncryptionBackend({ runner });
    case 'win32':
      return new Win32DiskEncryptionBackend({ runner });
    case 'darwin':
      return new DarwinDiskEncryptionBackend({ runner });
    case 'fake':
      return new FakeDiskEncryptionBackend(config.fakeEncryptionFile!);
    case 'unsupported':
      return new UnsupportedDiskEncryptionBackend();
  }
}
