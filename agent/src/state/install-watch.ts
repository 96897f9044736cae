import { lstat, readFile } from 'node:fs/promises';
import { basename, dirname, join, relative, sep } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Logger } from '../logging/logger';
import { filesUnder, parseManifest, sha256Of } from './install-integrity';
import {
  checkBootScriptIntegrity,
  checkUnitIntegrity,
  describeBootScriptIntegrity,
  describeUnitIntegrity,
  locateBootScript,
  locateUnit,
  type BootScriptIntegrity,
  type BootScriptLocation,
  type UnitIntegrity,
  type UnitLocation,
} from './unit-integrity';

/** One report of the watch: what became different (or the same again) since the last report. */
export interface InstallChange {
  /** For people and for the agent_status event: the files and what happened to each. */
  message: string;
  /** Paths (relative to the release folder), the unit file or the boot script, each named once. */
  paths: string[];
  /** True when something is (still) different from what was installed after this change. */
  modified: boolean;
}

export interface InstallWatchOptions {
  /** The running release: `<prefix>/releases/<name>/`, holding MANIFEST.sha256. */
  releaseDir: string;
  /** The systemd unit as install.sh recorded it; null where there is none (Windows, macOS, old installs). */
  unit: UnitLocation | null;
  /** The boot script the unit starts, as install.sh recorded it; null where there is none (Windows, macOS, old installs). */
  boot: BootScriptLocation | null;
  /** Called once per distinct change, in order; a rejection is logged. */
  report: (change: InstallChange) => Promise<void> | void;
  logger: Logger;
  /** Quiet time after the last file event before the touched files are verified. */
  debounceMs?: number;
  /**
   * Period of the full re-check (every file hashed). inotify misses changes: a full watch table
   * (fs.inotify.max_user_watches), a change made through another mount of the same filesystem
   * that does not raise events here, a watcher that errored. Hashing the whole bundle costs about
   * a second of one core (see `npm run bench`), so once an hour is below 0.05 % CPU.
   */
  fullCheckMs?: number;
}

const LISTED = 20;
const DEFAULT_DEBOUNCE_MS = 2_000;
const DEFAULT_FULL_CHECK_MS = 60 * 60_000;

/** What is different about one path, as a comparable key: a file changed twice is two changes. */
type Finding = string;

function describeFinding(path: string, finding: Finding, baselineMode: number | undefined): string {
  const [kind, detail] = finding.split(':', 2) as [string, string | undefined];
  if (kind === 'mode') return `${path} mode ${(baselineMode ?? 0).toString(8).padStart(4, '0')} -> ${detail}`;
  return `${path} ${kind}`;
}

function list(items: string[]): string {
  return items.length > LISTED ? `${items.slice(0, LISTED).join(', ')}, … (${items.length} in all)` : items.join(', ');
}

/**
 * Watches the running release folder, the systemd unit and the boot script while the agent runs, so a modified
 * install is reported when it happens rather than at the next start. Only the running release is
 * watched: an upgrade adds another folder under releases/ and swaps `current`, which is not tampering.
 *
 * File events are only hints: after `debounceMs` of quiet the touched paths are verified (a changed
 * file is hashed against MANIFEST.sha256, its mode compared with the mode seen at start) and each
 * distinct difference is reported once; a file put back as installed is reported as restored. A full
 * re-check every `fullCheckMs` catches what the watcher missed. Checks run one at a time.
 */
export class InstallWatch {
  private manifest = new Map<string, string>();
  private readonly modes = new Map<string, number>();
  private readonly findings = new Map<string, Finding>();
  private unitFinding: Finding = '';
  private bootFinding: Finding = '';
  private readonly pending = new Set<string>();
  private pendingUnit = false;
  private pendingBoot = false;
  private firstPendingAt = 0;
  private debounceTimer: NodeJS.Timeout | null = null;
  private fullTimer: NodeJS.Timeout | null = null;
  private watchers: FSWatcher[] = [];
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly debounceMs: number;
  private readonly fullCheckMs: number;

  constructor(private readonly options: InstallWatchOptions) {
    this.debounceMs = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;
    this.fullCheckMs = options.fullCheckMs ?? DEFAULT_FULL_CHECK_MS;
  }

  /**
   * Reads the manifest, records each file's mode and what already differs (not reported: the start
   * check does that), then watches. Resolves once the watchers are ready. Throws when the manifest
   * cannot be read.
   */
  async start(): Promise<void> {
    const { releaseDir, unit, boot } = this.options;
    this.manifest = parseManifest(await readFile(join(releaseDir, 'MANIFEST.sha256'), 'utf8'));
    for (const path of this.manifest.keys()) {
      const info = await lstat(join(releaseDir, path)).catch(() => null);
      if (info !== null) this.modes.set(path, info.mode & 0o7777);
    }
    for (const [path, finding] of await this.inspect(await this.everyPath())) this.findings.set(path, finding);
    this.unitFinding = await this.inspectUnit();
    this.bootFinding = await this.inspectBoot();

    const release = watch(releaseDir, { ignoreInitial: true, followSymlinks: false });
    const inRelease = (path: string) => relative(releaseDir, path).split(sep).join('/');
    release.on('all', (_event, path) => this.touched(inRelease(path)));
    // chokidar drops a chmod of a file read since its last write (it compares atime with mtime), so
    // the raw inotify events are hints too: a file's own watcher names itself, a folder's its entry.
    release.on('raw', (_event, name, opts) => {
      const details = opts as { watchedPath?: string };
      if (typeof name !== 'string' || details.watchedPath === undefined) return;
      const watched = inRelease(details.watchedPath);
      this.touched(this.manifest.has(watched) && basename(watched) === name ? watched : inRelease(join(details.watchedPath, name)));
    });
    this.watchers.push(release);
    if (unit !== null) {
      // The folder, not the file: an editor or `systemctl edit` replaces files by renaming over them,
      // and a drop-in folder may appear later. Everything else in /etc/systemd/system is ignored.
      const relevant = (path: string) => path === unit.unitDir || path.startsWith(unit.unitFile);
      const units = watch(unit.unitDir, { ignoreInitial: true, depth: 1, ignored: (path) => !relevant(path) });
      units.on('all', () => this.touchedUnit());
      this.watchers.push(units);
    }
    if (boot !== null) {
      // The folder again (an editor renames over the script), and the record beside it: a reinstall
      // rewrites both, and the pair is checked again once both are in place.
      const names = new Set([basename(boot.bootFile), basename(boot.recordFile)]);
      const relevant = (path: string) => path === boot.bootDir || (dirname(path) === boot.bootDir && names.has(basename(path)));
      const scripts = watch(boot.bootDir, { ignoreInitial: true, depth: 0, ignored: (path) => !relevant(path) });
      scripts.on('all', () => this.touchedBoot());
      // A chmod of the script is dropped by chokidar once the script was read (every start reads it).
      scripts.on('raw', (_event, name) => {
        if (typeof name === 'string' && names.has(basename(name))) this.touchedBoot();
      });
      this.watchers.push(scripts);
    }
    for (const watcher of this.watchers) {
      watcher.on('error', (error) => this.options.logger.warn('install watch error; the periodic full check still runs', { error: (error as Error).message }));
    }
    await Promise.all(this.watchers.map((watcher) => new Promise<void>((resolve) => watcher.once('ready', () => resolve()))));
    this.scheduleFullCheck();
  }

  /** Stops watching; a check in progress finishes, nothing is reported after this resolves. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.debounceTimer !== null) clearTimeout(this.debounceTimer);
    if (this.fullTimer !== null) clearTimeout(this.fullTimer);
    this.debounceTimer = this.fullTimer = null;
    await Promise.all(this.watchers.map((watcher) => watcher.close()));
    this.watchers = [];
    await this.chain;
  }

  /** Runs a full re-check now (also what the timer does); resolves when it is done. */
  fullCheck(): Promise<void> {
    return this.enqueue(async () => {
      await this.apply(await this.everyPath(), { unit: true, boot: true });
    });
  }

  private touched(path: string): void {
    this.pending.add(path === 'MANIFEST.sha256' ? '' : path);
    this.arm();
  }

  private touchedUnit(): void {
    this.pendingUnit = true;
    this.arm();
  }

  private touchedBoot(): void {
    this.pendingBoot = true;
    this.arm();
  }

  /** Debounce: wait for quiet, but never longer than 5 quiet periods (a steady trickle still gets checked). */
  private arm(): void {
    if (this.stopped) return;
    const now = Date.now();
    if (this.debounceTimer === null) this.firstPendingAt = now;
    else clearTimeout(this.debounceTimer);
    const wait = Math.max(0, Math.min(this.debounceMs, this.firstPendingAt + 5 * this.debounceMs - now));
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = null;
      const paths = [...this.pending];
      const also = { unit: this.pendingUnit, boot: this.pendingBoot };
      this.pending.clear();
      this.pendingUnit = this.pendingBoot = false;
      void this.enqueue(async () => {
        // The release folder itself or its manifest touched (moved, replaced): check everything.
        const targets = paths.includes('') ? await this.everyPath() : await this.expand(paths);
        await this.apply(targets, also);
      });
    }, wait);
  }

  private enqueue(work: () => Promise<void>): Promise<void> {
    this.chain = this.chain.then(async () => {
      if (this.stopped) return;
      try {
        await work();
      } catch (error) {
        this.options.logger.error('install watch check failed', { error: (error as Error).message });
      }
    });
    return this.chain;
  }

  private scheduleFullCheck(): void {
    if (this.stopped) return;
    this.fullTimer = setTimeout(() => {
      this.fullTimer = null;
      void this.fullCheck().then(() => this.scheduleFullCheck());
    }, this.fullCheckMs);
    this.fullTimer.unref();
  }

  /** Every path worth verifying: the manifest's, every file present, and every path now different. */
  private async everyPath(): Promise<string[]> {
    const present = await filesUnder(this.options.releaseDir).catch(() => [] as string[]);
    return [...new Set([...this.manifest.keys(), ...present, ...this.findings.keys()])].filter((path) => path !== 'MANIFEST.sha256');
  }

  /** A touched folder stands for the manifest's files under it and whatever is in it now. */
  private async expand(paths: string[]): Promise<string[]> {
    const out = new Set<string>();
    for (const path of paths) {
      out.add(path);
      const prefix = `${path}/`;
      for (const known of [...this.manifest.keys(), ...this.findings.keys()]) if (known.startsWith(prefix)) out.add(known);
      const info = await lstat(join(this.options.releaseDir, path)).catch(() => null);
      if (info?.isDirectory()) for (const file of await filesUnder(join(this.options.releaseDir, path)).catch(() => [] as string[])) out.add(`${path}/${file}`);
    }
    // A folder is not a file: it is its files that are compared.
    const result: string[] = [];
    for (const path of out) {
      const info = await lstat(join(this.options.releaseDir, path)).catch(() => null);
      if (info?.isDirectory() && !this.manifest.has(path)) continue;
      result.push(path);
    }
    return result;
  }

  /** What differs for each path from the installed state; paths that do not differ are absent. */
  private async inspect(paths: string[]): Promise<Map<string, Finding>> {
    const found = new Map<string, Finding>();
    for (const path of paths) {
      const full = join(this.options.releaseDir, path);
      const info = await lstat(full).catch(() => null);
      const expected = this.manifest.get(path);
      if (expected === undefined) {
        if (info !== null && !info.isDirectory()) found.set(path, `added:${info.size}:${info.mtimeMs}`);
        continue;
      }
      if (info === null) found.set(path, 'missing');
      else if (!info.isFile() || (await sha256Of(full)) !== expected) found.set(path, `changed:${info.size}:${info.mtimeMs}`);
      else if (this.modes.has(path) && (info.mode & 0o7777) !== this.modes.get(path)) found.set(path, `mode:${(info.mode & 0o7777).toString(8).padStart(4, '0')}`);
    }
    return found;
  }

  /**
   * The unit against the record as it is now: a reinstall or upgrade rewrites the unit and then its
   * record, and the rewritten pair is not tampering.
   */
  private async unitReport(): Promise<UnitIntegrity> {
    const location = (await locateUnit(this.options.releaseDir).catch(() => null)) ?? this.options.unit;
    return checkUnitIntegrity(location);
  }

  private async inspectUnit(): Promise<Finding> {
    if (this.options.unit === null) return '';
    const report = await this.unitReport();
    return report.state === 'intact' ? '' : `${report.state}:${report.actualSha256 ?? ''}:${report.dropIns.join(',')}`;
  }

  /**
   * The boot script against its record as it is now, like the unit: a reinstall rewrites the script
   * and then its record.
   */
  private async bootReport(): Promise<BootScriptIntegrity> {
    const location = (await locateBootScript(this.options.releaseDir).catch(() => null)) ?? this.options.boot;
    return checkBootScriptIntegrity(location);
  }

  private async inspectBoot(): Promise<Finding> {
    if (this.options.boot === null) return '';
    const report = await this.bootReport();
    return report.state === 'intact' ? '' : `${report.state}:${report.actualSha256 ?? ''}:${report.mode ?? ''}:${report.regularFile}`;
  }

  /** Verifies `paths` (and the unit and the boot script when asked), reports what differs from the last report. */
  private async apply(paths: string[], also: { unit: boolean; boot: boolean }): Promise<void> {
    const now = await this.inspect(paths);
    const news: string[] = [];
    const restored: string[] = [];
    const named: string[] = [];
    for (const path of paths) {
      const before = this.findings.get(path);
      const after = now.get(path);
      if (after === before) continue;
      if (after === undefined) {
        this.findings.delete(path);
        restored.push(path);
      } else {
        this.findings.set(path, after);
        news.push(describeFinding(path, after, this.modes.get(path)));
      }
      named.push(path);
    }
    const parts: string[] = [];
    if (news.length > 0) parts.push(`files differ from MANIFEST.sha256 in ${this.options.releaseDir}: ${list(news)}`);
    if (restored.length > 0) parts.push(`restored as installed: ${list(restored)}`);
    if (also.unit && this.options.unit !== null) {
      const before = this.unitFinding;
      this.unitFinding = await this.inspectUnit();
      if (this.unitFinding !== before) {
        const report = await this.unitReport();
        parts.push(`unit ${describeUnitIntegrity(report)}`);
        named.push(this.options.unit.unitFile);
      }
    }
    if (also.boot && this.options.boot !== null) {
      const before = this.bootFinding;
      this.bootFinding = await this.inspectBoot();
      if (this.bootFinding !== before) {
        parts.push(`boot script ${describeBootScriptIntegrity(await this.bootReport())}`);
        named.push(this.options.boot.bootFile);
      }
    }
    if (parts.length === 0 || this.stopped) return;
    const modified = this.findings.size > 0 || this.unitFinding !== '' || this.bootFinding !== '';
    const change = { message: `${modified ? 'install MODIFIED while running' : 'install intact again'}: ${parts.join('; ')}`, paths: named, modified };
    try {
      await this.options.report(change);
    } catch (error) {
      this.options.logger.error('cannot report an install change', { error: (error as Error).message });
    }
  }
}
