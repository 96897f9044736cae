import type { FileSnapshot } from './settle-tracker';
import type { TransferContent } from './transfer-content';

/** A file the watcher reported (or saw being written) on this root, by path. */
export interface KnownFile {
  snapshot: FileSnapshot;
  content: TransferContent;
}

/**
 * The files reported on one root since watching began, newest last, at most `max` (the oldest is
 * forgotten first). A rename or delete of a forgotten file is still reported, without its hash.
 */
export class KnownFiles {
  private readonly files = new Map<string, KnownFile>();

  constructor(private readonly max: number) {}

  get size(): number {
    return this.files.size;
  }

  set(path: string, file: KnownFile): void {
    this.files.delete(path);
    this.files.set(path, file);
    if (this.files.size > this.max) this.files.delete(this.files.keys().next().value as string);
  }

  get(path: string): KnownFile | undefined {
    return this.files.get(path);
  }

  take(path: string): KnownFile | undefined {
    const file = this.files.get(path);
    this.files.delete(path);
    return file;
  }
}

/** A path that disappeared, held back for the pairing window in case it reappears under another name. */
export interface VanishedFile {
  path: string;
  at: number;
  /** Reported earlier: a rename carries its content over, a delete names its hash. */
  known?: KnownFile;
  /** Still being written when it vanished (e.g. a temporary name renamed into place when done). */
  pending?: FileSnapshot;
}

/**
 * Pairs the unlink + add that a rename is made of (chokidar reports a rename that way, in either
 * order is not guaranteed but unlink first is what inotify's MOVED_FROM/MOVED_TO give). The add is
 * paired with a vanished path of the same device, inode and size within `windowMs`; when the inode
 * is not known to match (file systems such as vfat whose inode numbers are made up in memory can
 * renumber a file), the size and modification time must match one vanished path and no other.
 * What cannot be paired stays a delete and a new file: paths that were on the volume before
 * watching began have no recorded inode, so their renames show as DELETED + WRITTEN.
 * Pure apart from the clock it is given.
 */
export class RenamePairer {
  private readonly vanished = new Map<string, VanishedFile>();
  /** Indexes over `vanished` so that pairing stays cheap when thousands of files move at once. */
  private readonly byInode = new Map<string, Set<string>>();
  private readonly byLook = new Map<string, Set<string>>();

  constructor(private readonly options: { windowMs: number; now?: () => number }) {}

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  get size(): number {
    return this.vanished.size;
  }

  private static snapshotOf(v: VanishedFile): FileSnapshot | undefined {
    return v.pending ?? v.known?.snapshot;
  }

  private static keys(s: FileSnapshot): [string, string] {
    return [`${s.dev}:${s.ino}:${s.size}`, `${s.dev}:${s.size}:${s.mtimeMs}`];
  }

  private index(v: VanishedFile, add: boolean): void {
    const snapshot = RenamePairer.snapshotOf(v);
    if (snapshot === undefined) return;
    const [inode, look] = RenamePairer.keys(snapshot);
    for (const [map, key] of [[this.byInode, inode], [this.byLook, look]] as const) {
      let set = map.get(key);
      if (add) {
        if (set === undefined) map.set(key, (set = new Set()));
        set.add(v.path);
      } else if (set !== undefined) {
        set.delete(v.path);
        if (set.size === 0) map.delete(key);
      }
    }
  }

  private remove(path: string): VanishedFile | undefined {
    const v = this.vanished.get(path);
    if (v === undefined) return undefined;
    this.vanished.delete(path);
    this.index(v, false);
    return v;
  }

  /** A path disappeared; a second report of the same path (our stat and chokidar's unlink) is ignored. */
  vanish(path: string, what: { known?: KnownFile; pending?: FileSnapshot }): void {
    if (this.vanished.has(path)) return;
    const v: VanishedFile = { path, at: this.now(), ...what };
    this.vanished.set(path, v);
    this.index(v, true);
  }

  isVanished(path: string): boolean {
    return this.vanished.has(path);
  }

  /** A path appeared: the vanished file it is the new name of, if one matches (and is then no longer held). */
  pair(path: string, snapshot: FileSnapshot): VanishedFile | null {
    // The same path back again is a replacement (write to temp + rename over), not a rename.
    this.remove(path);
    const [inode, look] = RenamePairer.keys(snapshot);
    const sameInode = this.byInode.get(inode);
    let match: string | undefined = sameInode?.values().next().value;
    if (match === undefined) {
      const similar = this.byLook.get(look);
      if (similar !== undefined && similar.size === 1) match = similar.values().next().value;
    }
    return match === undefined ? null : (this.remove(match) ?? null);
  }

  /** Vanished paths whose window has passed: these were deleted. */
  expired(): VanishedFile[] {
    const cutoff = this.now() - this.options.windowMs;
    const out: VanishedFile[] = [];
    for (const v of this.vanished.values()) {
      if (v.at > cutoff) break; // held in order of vanishing
      out.push(v);
    }
    for (const v of out) this.remove(v.path);
    return out;
  }

  /** Everything still held (a watcher that stops), and forgets it. */
  drain(): VanishedFile[] {
    const all = [...this.vanished.values()];
    this.vanished.clear();
    this.byInode.clear();
    this.byLook.clear();
    return all;
  }
}
