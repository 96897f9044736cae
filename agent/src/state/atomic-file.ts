import { open, rename, unlink, mkdir, chmod } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';

/** Suffix of every temporary file this agent writes; anything ending in it is garbage after a crash. */
export const TEMP_SUFFIX = '.tmp';

let tempCounter = 0;

/** A temporary name beside `path` that is unique within this process and ends in TEMP_SUFFIX. */
export function tempPathFor(path: string): string {
  tempCounter += 1;
  return join(dirname(path), `.${basename(path)}.${process.pid}.${tempCounter}${TEMP_SUFFIX}`);
}

/**
 * Makes a directory entry change (rename, unlink, create) durable. POSIX only promises that a
 * rename survives power loss after the containing directory is fsynced. Windows cannot open a
 * directory for fsync (EISDIR/EPERM) and its NTFS metadata journal already orders renames, so
 * those errors are ignored there and nowhere else.
 */
export async function fsyncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (process.platform === 'win32' && (code === 'EISDIR' || code === 'EPERM' || code === 'EACCES')) return;
    throw error;
  } finally {
    await handle?.close();
  }
}

/**
 * Replaces `path` with `data` so that a reader (or a restart after kill -9 or power loss) sees
 * either the old content or the new one, never a mix: write a temp file, fsync it, rename it
 * over the target, fsync the directory. Fails with the underlying fs error; the temp file is
 * removed on failure (and any leftover is cleaned at the next start by its TEMP_SUFFIX).
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  mode = 0o600,
  options: { syncDir?: boolean } = {},
): Promise<void> {
  const temp = tempPathFor(path);
  try {
    const handle = await open(temp, 'w', mode);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  if (options.syncDir !== false) await fsyncDir(dirname(path));
}

/** Creates `dir` (and parents) and makes sure it is owner-only (0700), also when it existed. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (process.platform !== 'win32') await chmod(dir, 0o700);
}
