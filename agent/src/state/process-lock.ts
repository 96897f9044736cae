import { link, open, readFile, realpath, rename, unlink } from 'node:fs/promises';
import { readFileSync, unlinkSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { basename, dirname } from 'node:path';
import { tempPathFor } from './atomic-file';

export class AlreadyRunningError extends Error {}

/**
 * What tells one process apart from a later one that got the same pid: on Linux the boot id and
 * the process start time (clock ticks after boot, /proc/<pid>/stat field 22). Elsewhere null,
 * and the lock falls back to the pid alone.
 */
export interface ProcessIdentity {
  bootId: string;
  startTime: string;
}

/** Reads a live process's identity; null when the platform (or a vanished process) cannot say. */
export type IdentityReader = (pid: number) => ProcessIdentity | null;

export const procIdentity: IdentityReader = (pid) => {
  try {
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may itself hold spaces or ')', so count
    // fields from the last ')': field 3 follows it, and field 22 is 19 further on.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const startTime = fields[22 - 3];
    if (bootId === '' || startTime === undefined || !/^\d+$/.test(startTime)) return null;
    return { bootId, startTime };
  } catch {
    return null;
  }
};

interface LockRecord {
  pid: number;
  identity: ProcessIdentity | null;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parseLock(text: string): LockRecord | null {
  const trimmed = text.trim();
  // Locks written before identities were recorded hold the bare pid.
  if (/^\d+$/.test(trimmed)) return { pid: Number(trimmed), identity: null };
  try {
    const parsed = JSON.parse(trimmed) as { pid?: unknown; bootId?: unknown; startTime?: unknown };
    if (!Number.isSafeInteger(parsed.pid) || (parsed.pid as number) <= 0) return null;
    const identity = typeof parsed.bootId === 'string' && typeof parsed.startTime === 'string' ? { bootId: parsed.bootId, startTime: parsed.startTime } : null;
    return { pid: parsed.pid as number, identity };
  } catch {
    return null;
  }
}

/** True when the lock's owner still runs: its pid is alive and, where known, it is the same process. */
function held(record: LockRecord | null, readIdentity: IdentityReader): boolean {
  if (record === null || !alive(record.pid)) return false;
  if (record.identity === null) return true;
  const now = readIdentity(record.pid);
  // A pid alive under another boot or with another start time is a stranger that reused the pid.
  if (now === null) return true;
  return now.bootId === record.identity.bootId && now.startTime === record.identity.startTime;
}

/**
 * One daemon per state folder: two would hand out the same sequence numbers and fight over the
 * spool. The lock file holds the owner's pid, boot id and start time. A lock whose owner is gone
 * (kill -9) or whose pid now belongs to another process (after a reboot) is stale and taken over.
 *
 * The lock is only ever created by link(2)ing a complete, fsynced temp file into place, which
 * fails if the name exists: a reader never sees a half-written lock, and of several agents only
 * one can create it. A stale lock is first renamed aside and its content compared with what was
 * judged stale: when another agent replaced it in between, it is linked back (link again refuses
 * to overwrite) and the race starts over. After taking the lock, the file is read again to
 * confirm it names this process. Throws AlreadyRunningError when a live process holds it.
 */
export async function acquireProcessLock(path: string, readIdentity: IdentityReader = procIdentity): Promise<{ release(): void }> {
  const guard = await bindLockGuard(path);
  try {
    return await acquireLockFile(path, readIdentity, guard);
  } catch (error) {
    guard?.close();
    throw error;
  }
}

/**
 * On Linux the file dance below is wrapped in a stronger guard: an abstract unix socket named
 * after the lock file. Only one process can bind a name, and the kernel frees it when the
 * process dies, however it dies, so agents starting at once are serialized and a stale guard
 * cannot exist. (Without it, several agents taking over one stale lock file at the same moment
 * could each end up believing they hold it.) Elsewhere there are no abstract sockets and the
 * lock file alone decides. Rejects with AlreadyRunningError when another process holds the name.
 */
async function bindLockGuard(path: string): Promise<Server | null> {
  if (process.platform !== 'linux') return null;
  const folder = await realpath(dirname(path)).catch(() => dirname(path));
  const name = `\0mamori-agent-lock:${createHash('sha256').update(`${folder}/${basename(path)}`).digest('hex').slice(0, 40)}`;
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') reject(new AlreadyRunningError(`another mamori-agent is running with this state folder (${path})`));
      else reject(error);
    });
    server.listen({ path: name }, () => {
      // The guard must never keep the process alive by itself.
      server.unref();
      resolve(server);
    });
  });
}

async function acquireLockFile(path: string, readIdentity: IdentityReader, guard: Server | null): Promise<{ release(): void }> {
  const mine = JSON.stringify({ pid: process.pid, ...(readIdentity(process.pid) ?? {}), nonce: randomBytes(8).toString('hex') });
  for (let attempt = 0; attempt < 10; attempt++) {
    const temp = tempPathFor(path);
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(mine);
      await handle.sync();
    } finally {
      await handle.close();
    }
    let created = false;
    try {
      await link(temp, path);
      created = true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // ENOENT: the running agent's start-up swept our temp file as crash garbage; try again.
      if (code === 'ENOENT') continue;
      if (code !== 'EEXIST') throw error;
    } finally {
      await unlink(temp).catch(() => undefined);
    }
    if (created) {
      if ((await readFile(path, 'utf8').catch(() => '')) === mine) return releaser(path, mine, guard);
      continue;
    }

    const seen = await readFile(path, 'utf8').catch(() => null);
    if (seen === null) continue; // Released (or moved aside by a racer) meanwhile: try again.
    const record = parseLock(seen);
    if (held(record, readIdentity)) {
      throw new AlreadyRunningError(`another mamori-agent (pid ${record!.pid}) is running with this state folder (${path})`);
    }
    const aside = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.stale`;
    try {
      await rename(path, aside);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    const moved = await readFile(aside, 'utf8').catch(() => null);
    if (moved !== seen) {
      // Another agent took the stale lock over between our read and our rename: give it back.
      await link(aside, path).catch(() => undefined);
    }
    await unlink(aside).catch(() => undefined);
  }
  throw new AlreadyRunningError(`could not take the lock ${path}: other agents kept changing it`);
}

function releaser(path: string, mine: string, guard: Server | null): { release(): void } {
  let released = false;
  return {
    release: () => {
      if (released) return;
      released = true;
      try {
        // Only our own lock: never delete one another agent took over after we lost it.
        if (readFileSync(path, 'utf8') === mine) unlinkSync(path);
      } catch {
        // Already gone; nothing to release.
      }
      // Last: whoever binds the guard next must not find our lock file still in place.
      guard?.close();
    },
  };
}
