import { readdir, readFile, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { CommandRunner } from '../../facts/command-runner';
import { parseProcNetSockets, type ProcNetSocket } from './parsers/proc-net-sockets';

export interface SocketOwnerQuery {
  /** The socket's uid from the kernel, to look only at that user's processes; null when unknown. */
  uid: number | null;
  protocol: 'tcp' | 'udp';
  localPort: number;
  remotePort: number;
}

export interface SocketOwner {
  pid: number;
  name: string;
}

/**
 * Finds the process that owns a socket, from /proc, at the moment of asking (best effort): the
 * socket's row in /proc/<pid>/net/<protocol> (read per network namespace, so processes in other
 * namespaces are found too) gives its inode, and the process holding a file descriptor to
 * `socket:[inode]` owns it. What this finds: a UDP socket while the program keeps it open, a TCP
 * connection that was let through (audit). What it cannot find: a TCP connect the kernel refused,
 * because the socket is closed by the time the report is read. At most `maxPerSecond` lookups run
 * in a second (each reads every file descriptor of the user's processes); the rest report no process.
 */
export class ProcSocketOwnerLookup {
  private windowStartedAt = 0;
  private usedInWindow = 0;

  constructor(
    private readonly procRoot = '/proc',
    private readonly maxPerSecond = 20,
    private readonly now: () => number = Date.now,
  ) {}

  async find(query: SocketOwnerQuery): Promise<SocketOwner | null> {
    if (!this.takeBudget()) return null;
    const pids = await this.candidatePids(query.uid);
    const namespacesRead = new Set<string>();
    const namespacesWithSocket = new Set<string>();
    const inodes = new Set<number>();
    const perPid: Array<{ pid: number; namespace: string }> = [];
    for (const pid of pids) {
      const namespace = await readlink(join(this.procRoot, String(pid), 'ns', 'net')).catch(() => 'unknown');
      perPid.push({ pid, namespace });
      if (namespacesRead.has(namespace)) continue;
      namespacesRead.add(namespace);
      const rows: ProcNetSocket[] = [];
      for (const table of query.protocol === 'tcp' ? ['tcp', 'tcp6'] : ['udp', 'udp6']) {
        const text = await readFile(join(this.procRoot, String(pid), 'net', table), 'utf8').catch(() => '');
        rows.push(...parseProcNetSockets(text));
      }
      for (const row of rows) {
        // An unconnected UDP socket shows remote port 0: it can send anywhere.
        if (row.localPort === query.localPort && row.inode !== 0 && (row.remotePort === query.remotePort || row.remotePort === 0)) {
          inodes.add(row.inode);
          namespacesWithSocket.add(namespace);
        }
      }
    }
    if (inodes.size === 0) return null;
    const targets = new Set([...inodes].map((inode) => `socket:[${inode}]`));
    // Only processes in a namespace that has the socket can hold it; the newest first, since the
    // socket is often a fresh client's and a long-lived process may hold thousands of descriptors.
    const holders = perPid.filter((p) => namespacesWithSocket.has(p.namespace)).sort((a, b) => b.pid - a.pid);
    for (const { pid } of holders) {
      const fdDir = join(this.procRoot, String(pid), 'fd');
      const fds = await readdir(fdDir).catch(() => [] as string[]);
      for (const fd of fds) {
        const target = await readlink(join(fdDir, fd)).catch(() => '');
        if (targets.has(target)) {
          const name = (await readFile(join(this.procRoot, String(pid), 'comm'), 'utf8').catch(() => '')).trim();
          return { pid, name };
        }
      }
    }
    return null;
  }

  private async candidatePids(uid: number | null): Promise<number[]> {
    const entries = await readdir(this.procRoot).catch(() => [] as string[]);
    const pids = entries.filter((entry) => /^\d+$/.test(entry)).map(Number);
    if (uid === null) return pids;
    const owned: number[] = [];
    for (const pid of pids) {
      const info = await stat(join(this.procRoot, String(pid))).catch(() => null);
      if (info !== null && info.uid === uid) owned.push(pid);
    }
    return owned;
  }

  private takeBudget(): boolean {
    const now = this.now();
    if (now - this.windowStartedAt >= 1000) {
      this.windowStartedAt = now;
      this.usedInWindow = 0;
    }
    if (this.usedInWindow >= this.maxPerSecond) return false;
    this.usedInWindow++;
    return true;
  }
}

/**
 * User names for uids through `getent passwd` (so LDAP and other NSS sources count), remembered per
 * uid. A uid without an entry is reported as its number.
 */
export class UserNameCache {
  private readonly names = new Map<number, Promise<string>>();

  constructor(private readonly runner: CommandRunner) {}

  nameOf(uid: number): Promise<string> {
    let name = this.names.get(uid);
    if (name === undefined) {
      name = this.runner
        .run('getent', ['passwd', String(uid)], { timeoutMs: 2_000 })
        .then(({ stdout }) => stdout.split(':')[0]?.trim() || String(uid))
        .catch(() => String(uid));
      this.names.set(uid, name);
    }
    return name;
  }
}
