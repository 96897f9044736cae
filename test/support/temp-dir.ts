import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A private temporary folder that is removed when `cleanup` runs, even after a failure. */
export interface TempDir {
  path: string;
  cleanup(): void;
}

export function makeTempDir(prefix = 'mamori-test-'): TempDir {
  const path = mkdtempSync(join(tmpdir(), prefix));
  // Retries: a process that was just stopped may still have had a file half-created in it (ENOTEMPTY).
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }) };
}
