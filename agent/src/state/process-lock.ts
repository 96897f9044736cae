import { open, readFile, unlink } from 'node:fs/promises';
import { unlinkSync } from 'node:fs';

export class AlreadyRunningError extends Error {}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One daemon per state folder: two would hand out the same sequence numbers and fight over the
 * spool. The lock file holds the owner's pid; a lock whose process is gone (kill -9) is stale
 * and taken over. Throws AlreadyRunningError when a live process holds it.
 */
export async function acquireProcessLock(path: string): Promise<{ release(): void }> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      let released = false;
      return {
        release: () => {
          if (released) return;
          released = true;
          try {
            unlinkSync(path);
          } catch {
            // Already gone; nothing to release.
          }
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && alive(owner)) {
        throw new AlreadyRunningError(`another mamori-agent (pid ${owner}) is running with this state folder (${path})`);
      }
      await unlink(path).catch(() => undefined);
    }
  }
  throw new AlreadyRunningError(`could not take the lock ${path}`);
}
