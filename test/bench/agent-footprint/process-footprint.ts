import { readdirSync, readFileSync } from 'node:fs';

/** USER_HZ on Linux: /proc/<pid>/stat counts CPU time in these ticks. */
const CLOCK_TICKS = 100;

/** What one read of a process tree from /proc says (the process and every live descendant). */
export interface TreeFootprint {
  /** Live processes read, the root first. */
  pids: number[];
  /** Sum of VmRSS over the tree. */
  rssKiB: number;
  /** Sum of PSS (smaps_rollup) over the tree: shared pages split among their users; null where unreadable. */
  pssKiB: number | null;
  /** The root's own peak RSS (VmHWM) so far. */
  rootPeakRssKiB: number;
  /**
   * CPU seconds of the tree so far: the root's utime+stime, plus cutime+cstime (children it
   * already reaped, e.g. a finished udevadm or lsblk), plus the same of every live descendant.
   */
  cpuSeconds: number;
}

function statFields(pid: number): string[] | null {
  try {
    // "(comm)" may contain spaces and parentheses: cut at the last ") ".
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(') ') + 2).split(' ');
  } catch {
    return null; // gone between listing and reading
  }
}

/** After "(comm) ": ppid is index 1, utime 11, stime 12, cutime 13, cstime 14. */
function cpuTicks(fields: string[]): number {
  return Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
}

function statusKiB(pid: number, key: string): number | null {
  try {
    const match = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

function pssKiB(pid: number): number | null {
  try {
    const match = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

/** The live descendants of `root` (children, grandchildren, ...), from every process's ppid. */
export function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const fields = statFields(Number(name));
    if (fields === null) continue;
    const ppid = Number(fields[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(name));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const queue = [...(children.get(root) ?? [])];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** Reads the tree rooted at `pid`; throws when the root itself is gone (the subject died). */
export function readTreeFootprint(pid: number): TreeFootprint {
  const rootFields = statFields(pid);
  const rootRss = statusKiB(pid, 'VmRSS');
  const rootHwm = statusKiB(pid, 'VmHWM');
  if (rootFields === null || rootRss === null || rootHwm === null) throw new Error(`process ${pid} is gone (no /proc/${pid}/stat or status)`);
  const pids = [pid];
  let ticks = cpuTicks(rootFields);
  let rss = rootRss;
  let pss: number | null = pssKiB(pid);
  for (const child of descendants(pid)) {
    const fields = statFields(child);
    const childRss = statusKiB(child, 'VmRSS');
    if (fields === null) continue;
    pids.push(child);
    ticks += cpuTicks(fields);
    rss += childRss ?? 0; // a zombie has no VmRSS
    const childPss = pssKiB(child);
    if (pss !== null && childPss !== null) pss += childPss;
  }
  return { pids, rssKiB: rss, pssKiB: pss, rootPeakRssKiB: rootHwm, cpuSeconds: ticks / CLOCK_TICKS };
}

/** CPU between two reads as a share of one core, in percent. */
export function cpuPercent(before: TreeFootprint, after: TreeFootprint, wallSeconds: number): number {
  if (!(wallSeconds > 0)) throw new Error(`a CPU share needs a positive interval, got ${wallSeconds} s`);
  return ((after.cpuSeconds - before.cpuSeconds) / wallSeconds) * 100;
}
