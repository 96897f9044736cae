/** What the watcher knows of a file from one stat: enough to tell "still being written" and "same file". */
export interface FileSnapshot {
  size: number;
  mtimeMs: number;
  ino: number;
  dev: number;
}

export function sameSnapshot(a: FileSnapshot, b: FileSnapshot): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ino === b.ino && a.dev === b.dev;
}

interface PendingFile {
  snapshot: FileSnapshot;
  /** When the file last showed activity (an add/change event, or a stat that differed). */
  lastActivity: number;
}

export type SettleOutcome = 'settled' | 'changed' | 'unknown';

/**
 * Files being written, and when each is complete. Why our own check instead of chokidar's
 * awaitWriteFinish: that one keeps a timer per file and stats every pending file every
 * pollInterval, which during a 10,000-file burst is 100,000 stat calls a second. Here a file is
 * only looked at once it has been quiet (no add/change event) for `settleMs`, and it is complete
 * when a stat then finds it exactly as last seen (size, mtime, inode): size and mtime stable over
 * the window. A writer that pauses longer than the window mid-file gets the file reported early,
 * and the rest of its writing is a change, reported again once it settles.
 *
 * Bounded: at most `maxPending` files are tracked; `touch` says 'overflow' beyond that and the
 * caller reports the file without waiting for it. Pure apart from the clock it is given.
 */
export class SettleTracker {
  private readonly pending = new Map<string, PendingFile>();

  constructor(private readonly options: { settleMs: number; maxPending: number; now?: () => number }) {}

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  get size(): number {
    return this.pending.size;
  }

  has(path: string): boolean {
    return this.pending.has(path);
  }

  snapshot(path: string): FileSnapshot | undefined {
    return this.pending.get(path)?.snapshot;
  }

  /** An add or change event: the file is being written (again); its quiet window starts over. */
  touch(path: string, snapshot: FileSnapshot): 'tracked' | 'overflow' {
    const known = this.pending.get(path);
    if (known === undefined && this.pending.size >= this.options.maxPending) return 'overflow';
    // Deleted and re-inserted so that the map's order stays the order of last activity.
    this.pending.delete(path);
    this.pending.set(path, { snapshot, lastActivity: this.now() });
    return 'tracked';
  }

  /** Stops tracking a file (it was deleted, renamed or its watcher stopped); returns what was known. */
  forget(path: string): FileSnapshot | undefined {
    const known = this.pending.get(path);
    this.pending.delete(path);
    return known?.snapshot;
  }

  /** Files quiet for the whole window, oldest activity first, at most `limit`: the ones worth a stat now. */
  due(limit = Number.POSITIVE_INFINITY): string[] {
    const cutoff = this.now() - this.options.settleMs;
    const paths: string[] = [];
    // The map is in order of last activity (see touch/confirm): stop at the first file not yet quiet.
    for (const [path, p] of this.pending) {
      if (p.lastActivity > cutoff || paths.length >= limit) break;
      paths.push(path);
    }
    return paths;
  }

  /**
   * The stat taken for a due file. 'settled': unchanged over the window, so complete (no longer
   * tracked). 'changed': it grew or was touched without an event reaching us; the window starts
   * over from now. 'unknown': the path is not tracked (forgotten meanwhile).
   */
  confirm(path: string, current: FileSnapshot): SettleOutcome {
    const known = this.pending.get(path);
    if (known === undefined) return 'unknown';
    if (sameSnapshot(known.snapshot, current)) {
      this.pending.delete(path);
      return 'settled';
    }
    this.pending.delete(path);
    this.pending.set(path, { snapshot: current, lastActivity: this.now() });
    return 'changed';
  }

  /** Everything still pending (for a watcher that stops), and forgets it. */
  drain(): Array<{ path: string; snapshot: FileSnapshot }> {
    const all = [...this.pending.entries()].map(([path, p]) => ({ path, snapshot: p.snapshot }));
    this.pending.clear();
    return all;
  }
}
