import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** The file install.sh writes beside install.conf: `<sha256>  <unit path as seen from the host's root>`. */
export const UNIT_RECORD = 'unit.sha256';
const UNIT_NAME = 'mamori-agent.service';
/**
 * The record install.sh writes beside the boot script it installs, in the same form as unit.sha256:
 * `<sha256>  <boot script path as seen from the host's root>`. Beside the script rather than in the
 * prefix so that the folder watched for the script also sees its record rewritten (a reinstall
 * replaces both, one rename each) and checks the pair again.
 */
export const BOOT_RECORD = 'mamori-agent-boot.sha256';
/** The mode install.sh gives the boot script. */
const BOOT_MODE = 0o755;

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

/** A record install.sh wrote, `<sha256>  <path as seen from inside the install's root>`, read. */
interface InstallRecord {
  /** The recorded file as this process sees it. */
  file: string;
  expectedSha256: string;
  recordFile: string;
}

/** Reads a record under the install prefix; null when there is none (not installed, or installed by an older install.sh). */
async function readRecord(prefixDir: string, recordFile: string, what: string): Promise<InstallRecord | null> {
  if (!existsSync(recordFile)) return null;
  const match = /^([0-9a-f]{64}) [ *](\/.+)$/m.exec(await readFile(recordFile, 'utf8'));
  if (match === null) throw new Error(`${recordFile} is not "<sha256>  <${what} path>"`);
  // The record names paths as seen from inside the install's root; install.conf's PREFIX tells
  // which part of our own path is that root (empty for a normal install, DIR for --root DIR).
  const conf = existsSync(join(prefixDir, 'install.conf')) ? await readFile(join(prefixDir, 'install.conf'), 'utf8') : '';
  const recordedPrefix = /^PREFIX=(.+)$/m.exec(conf)?.[1]?.trim();
  const root = recordedPrefix !== undefined && prefixDir.endsWith(recordedPrefix) ? prefixDir.slice(0, prefixDir.length - recordedPrefix.length) : '';
  return { file: root + match[2]!, expectedSha256: match[1]!, recordFile };
}

/** Reads `<prefix>/unit.sha256`; null when there is none (not installed, or installed by an older install.sh). */
export async function locateUnit(releaseDir: string): Promise<UnitLocation | null> {
  const prefixDir = installPrefixOf(releaseDir);
  if (prefixDir === null) return null;
  const record = await readRecord(prefixDir, join(prefixDir, UNIT_RECORD), 'unit');
  if (record === null) return null;
  return { unitFile: record.file, unitDir: dirname(record.file), dropInDir: `${record.file}.d`, expectedSha256: record.expectedSha256, recordFile: record.recordFile };
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

/**
 * The boot script (`<prefix>/boot/mamori-agent-boot`, the unit's ExecStart, which rolls a failed
 * upgrade back) as install.sh recorded it. It lives outside every release, so MANIFEST.sha256 does
 * not cover it; whoever edits it decides what the service runs.
 */
export interface BootScriptLocation {
  /** The boot script as this process sees it. */
  bootFile: string;
  /** Its folder (watched: an editor replaces the file by renaming over it; the record is there too). */
  bootDir: string;
  /** SHA-256 of the script as install.sh wrote it. */
  expectedSha256: string;
  /** The record's own path, `<prefix>/boot/mamori-agent-boot.sha256`. */
  recordFile: string;
}

/** The boot script as it is against the script as installed. */
export interface BootScriptIntegrity {
  state: 'intact' | 'modified' | 'missing' | 'not-recorded';
  bootFile: string | null;
  expectedSha256: string | null;
  actualSha256: string | null;
  /** Its permission bits, e.g. `0755` (what install.sh sets); null when it is missing or not recorded. */
  mode: string | null;
  /** False when it is something other than a regular file (a symlink pointing elsewhere). */
  regularFile: boolean;
  checkedAt: string;
}

/** Reads `<prefix>/boot/mamori-agent-boot.sha256`; null when there is none (not installed, or installed by an older install.sh). */
export async function locateBootScript(releaseDir: string): Promise<BootScriptLocation | null> {
  const prefixDir = installPrefixOf(releaseDir);
  if (prefixDir === null) return null;
  const record = await readRecord(prefixDir, join(prefixDir, 'boot', BOOT_RECORD), 'boot script');
  if (record === null) return null;
  return { bootFile: record.file, bootDir: dirname(record.file), expectedSha256: record.expectedSha256, recordFile: record.recordFile };
}

/**
 * The boot script against its record: `modified` when its bytes or its mode (0755) differ or it is
 * not a regular file, `missing` when it is gone (the unit cannot start the agent), `not-recorded`
 * when there is no record (Windows and macOS have no boot script; a source checkout has no install).
 */
export async function checkBootScriptIntegrity(location: BootScriptLocation | null, now = new Date()): Promise<BootScriptIntegrity> {
  const checkedAt = now.toISOString();
  if (location === null) return { state: 'not-recorded', bootFile: null, expectedSha256: null, actualSha256: null, mode: null, regularFile: true, checkedAt };
  let info;
  try {
    info = await lstat(location.bootFile);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    return { state: 'missing', bootFile: location.bootFile, expectedSha256: location.expectedSha256, actualSha256: null, mode: null, regularFile: false, checkedAt };
  }
  // Only a regular file is read: a symlink could lead anywhere (a FIFO would block the read).
  const regularFile = info.isFile();
  const actualSha256 = regularFile ? await sha256OrNull(location.bootFile) : null;
  const permissions = info.mode & 0o7777;
  const state = actualSha256 === location.expectedSha256 && permissions === BOOT_MODE && regularFile ? 'intact' : 'modified';
  return { state, bootFile: location.bootFile, expectedSha256: location.expectedSha256, actualSha256, mode: permissions.toString(8).padStart(4, '0'), regularFile, checkedAt };
}

/** One line for people. */
export function describeBootScriptIntegrity(report: BootScriptIntegrity): string {
  if (report.state === 'not-recorded') return 'not checked (no boot script recorded by install.sh: not a Linux install, or installed before the record existed)';
  if (report.state === 'missing') return `MISSING: ${report.bootFile} is gone (the unit cannot start the agent)`;
  if (report.state === 'intact') return `intact (${report.bootFile} as installed)`;
  const parts = [
    report.regularFile ? '' : `${report.bootFile} is not a regular file`,
    report.regularFile && report.actualSha256 !== report.expectedSha256
      ? `${report.bootFile} differs from the installed boot script (sha256 ${report.actualSha256 === null ? 'unreadable' : `${report.actualSha256.slice(0, 12)}…`}, installed ${report.expectedSha256!.slice(0, 12)}…)`
      : '',
    report.regularFile && report.mode !== BOOT_MODE.toString(8).padStart(4, '0') ? `${report.bootFile} mode ${BOOT_MODE.toString(8).padStart(4, '0')} -> ${report.mode}` : '',
  ].filter((part) => part !== '');
  return `MODIFIED: ${parts.join('; ')}`;
}

export const UNIT_FILE_NAME = UNIT_NAME;
