import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** The file install.sh writes beside install.conf: `<sha256>  <unit path as seen from the host's root>`. */
export const UNIT_RECORD = 'unit.sha256';
const UNIT_NAME = 'mamori-agent.service';

/**
 * Where the installed systemd unit is and what install.sh wrote into it, found from the running
 * release folder (`<prefix>/releases/<name>/`): `<prefix>/unit.sha256` names the unit's path as seen
 * from inside the installed tree's root, so an install made with `--root DIR` is checked under DIR.
 * Null when the agent does not run from an installed release, or the install predates the record.
 */
export interface UnitLocation {
  /** The unit file as this process sees it. */
  unitFile: string;
  /** The folder holding the unit (watched: editors replace the file by renaming over it). */
  unitDir: string;
  /** `<unit>.d/`, where `systemctl edit` puts drop-ins that override the unit. */
  dropInDir: string;
  /** SHA-256 of the unit as install.sh wrote it. */
  expectedSha256: string;
  /** The record's own path, for messages. */
  recordFile: string;
}

/** The unit as it is against the unit as installed. */
export interface UnitIntegrity {
  state: 'intact' | 'modified' | 'missing' | 'not-recorded';
  unitFile: string | null;
  expectedSha256: string | null;
  actualSha256: string | null;
  /** Drop-in files in `<unit>.d/` (each one can override ExecStart, capabilities, anything). */
  dropIns: string[];
  checkedAt: string;
}

/** The install prefix of a release folder, or null when the folder is not `<prefix>/releases/<name>`. */
export function installPrefixOf(releaseDir: string): string | null {
  const parent = dirname(releaseDir);
  return basename(parent) === 'releases' ? dirname(parent) : null;
}

/** Reads `<prefix>/unit.sha256`; null when there is none (not installed, or installed by an older install.sh). */
export async function locateUnit(releaseDir: string): Promise<UnitLocation | null> {
  const prefixDir = installPrefixOf(releaseDir);
  if (prefixDir === null) return null;
  const recordFile = join(prefixDir, UNIT_RECORD);
  if (!existsSync(recordFile)) return null;
  const match = /^([0-9a-f]{64}) [ *](\/.+)$/m.exec(await readFile(recordFile, 'utf8'));
  if (match === null) throw new Error(`${recordFile} is not "<sha256>  <unit path>"`);
  // The record names paths as seen from inside the install's root; install.conf's PREFIX tells
  // which part of our own path is that root (empty for a normal install, DIR for --root DIR).
  const conf = existsSync(join(prefixDir, 'install.conf')) ? await readFile(join(prefixDir, 'install.conf'), 'utf8') : '';
  const recordedPrefix = /^PREFIX=(.+)$/m.exec(conf)?.[1]?.trim();
  const root = recordedPrefix !== undefined && prefixDir.endsWith(recordedPrefix) ? prefixDir.slice(0, prefixDir.length - recordedPrefix.length) : '';
  const unitFile = root + match[2]!;
  return { unitFile, unitDir: dirname(unitFile), dropInDir: `${unitFile}.d`, expectedSha256: match[1]!, recordFile };
}

async function sha256OrNull(path: string): Promise<string | null> {
  try {
    return createHash('sha256').update(await readFile(path)).digest('hex');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/**
 * The unit against its record: `modified` when its bytes differ or a drop-in overrides it, `missing`
 * when it is gone (the agent will not start at the next boot), `not-recorded` when there is no record
 * (Linux only: Windows and macOS installs have no systemd unit; a source checkout has no install).
 */
export async function checkUnitIntegrity(location: UnitLocation | null, now = new Date()): Promise<UnitIntegrity> {
  const checkedAt = now.toISOString();
  if (location === null) return { state: 'not-recorded', unitFile: null, expectedSha256: null, actualSha256: null, dropIns: [], checkedAt };
  const actualSha256 = await sha256OrNull(location.unitFile);
  let dropIns: string[] = [];
  try {
    dropIns = (await readdir(location.dropInDir)).filter((name) => name.endsWith('.conf')).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT' && (error as NodeJS.ErrnoException).code !== 'ENOTDIR') throw error;
  }
  const state = actualSha256 === null ? 'missing' : actualSha256 !== location.expectedSha256 || dropIns.length > 0 ? 'modified' : 'intact';
  return { state, unitFile: location.unitFile, expectedSha256: location.expectedSha256, actualSha256, dropIns, checkedAt };
}

/** One line for people. */
export function describeUnitIntegrity(report: UnitIntegrity): string {
  if (report.state === 'not-recorded') return 'not checked (no systemd unit recorded by install.sh: not a Linux install, or installed before the record existed)';
  if (report.state === 'missing') return `MISSING: ${report.unitFile} is gone (the agent will not start at boot)`;
  if (report.state === 'intact') return `intact (${report.unitFile} as installed)`;
  const parts = [
    report.actualSha256 !== report.expectedSha256 ? `${report.unitFile} differs from the installed unit (sha256 ${report.actualSha256!.slice(0, 12)}…, installed ${report.expectedSha256!.slice(0, 12)}…)` : '',
    report.dropIns.length > 0 ? `drop-ins override it: ${report.dropIns.map((name) => join(`${basename(report.unitFile!)}.d`, name)).join(', ')}` : '',
  ].filter((part) => part !== '');
  return `MODIFIED: ${parts.join('; ')}`;
}

export const UNIT_FILE_NAME = UNIT_NAME;
