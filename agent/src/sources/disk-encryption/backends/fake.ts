import { readFile } from 'node:fs/promises';
import type { DiskEncryptionStatus } from '../../../generated/mamori/v1/events';
import type { DiskEncryptionSource } from '../disk-encryption.source';
import { parseFakeEncryptionFile } from '../parsers/fake-encryption-file.parser';

/**
 * The fake disk-encryption backend (MAMORI_AGENT_ENCRYPTION_BACKEND=fake): a real, selectable
 * backend that reads the report from a JSON file (format in fake-encryption-file.parser.ts) at
 * every check, so a test or a demo can turn a host from unencrypted to encrypted by rewriting the
 * file while the unchanged daemon runs. A missing or malformed file is a problem with no volumes
 * (the posture says "not checked"); the agent keeps running and reads the file again next time.
 */
export class FakeDiskEncryptionBackend implements DiskEncryptionSource {
  readonly name = 'encryption:fake';

  constructor(private readonly path: string) {}

  async check(): Promise<DiskEncryptionStatus> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      return { volumes: [], problems: [`fake encryption file ${this.path} cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`] };
    }
    try {
      return parseFakeEncryptionFile(text);
    } catch (error) {
      return { volumes: [], problems: [`fake encryption file ${this.path}: ${(error as Error).message}`] };
    }
  }
}
