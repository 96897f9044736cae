import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';

/** How many paths of each kind a report names (a replaced node_modules would list thousands). */
const LISTED = 20;

/**
 * The agent's installed files against the MANIFEST.sha256 its bundle shipped (written by
 * deploy/agent/package-agent.mjs): `intact`, `modified` (changed, missing or added files), or
 * `not-bundled` when the agent does not run from a bundle (a source checkout), which has no manifest.
 */
export interface InstallIntegrity {
  state: 'intact' | 'modified' | 'not-bundled';
  /** The bundle's top folder (the one holding MANIFEST.sha256), null when not bundled. */
  installDir: string | null;
  /** Files the manifest lists. */
  files: number;
  /** Up to 20 paths of each kind, relative to installDir; the counts are complete. */
  changed: string[];
  missing: string[];
  added: string[];
  changedCount: number;
  missingCount: number;
  addedCount: number;
  checkedAt: string;
}

/** The bundle's top folder for this compiled agent: app/state/ sits two levels below it. */
export function bundleTopOf(compiledStateDir: string = __dirname): string {
  return dirname(dirname(compiledStateDir));
}

export async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Every file under `root` (recursively), as `/`-separated paths relative to it. */
export async function filesUnder(root: string, dir = root, out: string[] = []): Promise<string[]> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) await filesUnder(root, full, out);
    else out.push(relative(root, full).split(sep).join('/'));
  }
  return out;
}

/** Parses `sha256sum` lines (`<64 hex>  <path>`); a malformed line is an error naming it. */
export function parseManifest(text: string): Map<string, string> {
  const entries = new Map<string, string>();
  text.split('\n').forEach((line, index) => {
    if (line === '') return;
    const match = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (match === null) throw new Error(`MANIFEST.sha256 line ${index + 1} is not "<sha256>  <path>"`);
    entries.set(match[2]!, match[1]!);
  });
  return entries;
}

/**
 * Hashes every file the manifest names under `installDir` and looks for files it does not name.
 * Reads the whole bundle (about 165 MB, most of it the node binary): 1-3 s on a busy 2-core machine.
 */
export async function checkInstallIntegrity(installDir: string = bundleTopOf(), now = new Date()): Promise<InstallIntegrity> {
  const manifestPath = join(installDir, 'MANIFEST.sha256');
  const base = { installDir, files: 0, changed: [], missing: [], added: [], changedCount: 0, missingCount: 0, addedCount: 0, checkedAt: now.toISOString() };
  if (!existsSync(manifestPath)) return { ...base, state: 'not-bundled', installDir: null };
  const manifest = parseManifest(await readFile(manifestPath, 'utf8'));
  const changed: string[] = [];
  const missing: string[] = [];
  for (const [path, expected] of manifest) {
    const full = join(installDir, path);
    if (!existsSync(full)) missing.push(path);
    else if ((await sha256Of(full)) !== expected) changed.push(path);
  }
  const added = (await filesUnder(installDir)).filter((path) => path !== 'MANIFEST.sha256' && !manifest.has(path)).sort();
  return {
    ...base,
    state: changed.length + missing.length + added.length === 0 ? 'intact' : 'modified',
    files: manifest.size,
    changed: changed.slice(0, LISTED),
    missing: missing.slice(0, LISTED),
    added: added.slice(0, LISTED),
    changedCount: changed.length,
    missingCount: missing.length,
    addedCount: added.length,
  };
}

/** One line for people: what differs, or that nothing does. */
export function describeInstallIntegrity(report: InstallIntegrity): string {
  if (report.state === 'not-bundled') return 'not checked (not running from an installed bundle)';
  if (report.state === 'intact') return `intact (${report.files} files match MANIFEST.sha256 in ${report.installDir})`;
  const parts = [
    report.changedCount > 0 ? `${report.changedCount} changed (${report.changed.join(', ')}${report.changedCount > report.changed.length ? ', …' : ''})` : '',
    report.missingCount > 0 ? `${report.missingCount} missing (${report.missing.join(', ')}${report.missingCount > report.missing.length ? ', …' : ''})` : '',
    report.addedCount > 0 ? `${report.addedCount} added (${report.added.join(', ')}${report.addedCount > report.added.length ? ', …' : ''})` : '',
  ].filter((part) => part !== '');
  return `MODIFIED: files differ from MANIFEST.sha256 in ${report.installDir}: ${parts.join('; ')}`;
}
