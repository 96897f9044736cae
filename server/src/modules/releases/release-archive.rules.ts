import { gunzipSync } from 'node:zlib';

/** The platforms agent bundles are built for (deploy/agent/package-agent.mjs TARGETS). */
export const RELEASE_PLATFORMS = ['linux-x64', 'linux-arm64', 'win-x64', 'darwin-x64', 'darwin-arm64'] as const;
/** Bundle versions as the packer accepts them: 1.2.3, 1.2.3-rc.1, 1.2.3+build.5. */
export const RELEASE_VERSION = /^[0-9]+\.[0-9]+\.[0-9]+(?:[-+][0-9A-Za-z.-]+)?$/;

/** What an archive's file name says: mamori-agent-<version>-<platform>-<arch>.tar.gz. */
export interface ReleaseName {
  /** The bundle's top folder inside the archive. */
  bundle: string;
  version: string;
  platform: string;
}

/** Parses a bundle archive's file name; null when it is not one (Windows bundles are .zip and cannot self-upgrade yet). */
export function parseReleaseFileName(fileName: string): ReleaseName | null {
  const match = /^mamori-agent-(.+)-(linux-x64|linux-arm64|darwin-x64|darwin-arm64)\.tar\.gz$/.exec(fileName);
  if (match === null || !RELEASE_VERSION.test(match[1]!)) return null;
  return { bundle: `mamori-agent-${match[1]}-${match[2]}`, version: match[1]!, platform: match[2]! };
}

/**
 * The regular files of a tar archive (ustar, GNU long names, pax headers) whose paths `wanted`
 * accepts, with their contents. Throws on a truncated or malformed archive.
 */
export function filesInTar(tar: Buffer, wanted: (path: string) => boolean): Map<string, Buffer> {
  const found = new Map<string, Buffer>();
  let offset = 0;
  let longName: string | null = null;
  let paxPath: string | null = null;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((byte) => byte === 0)) return found;
    const text = (start: number, length: number) => header.subarray(start, start + length).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(text(124, 12).trim() || '0', 8);
    if (!Number.isSafeInteger(size) || size < 0) throw new Error(`tar header at byte ${offset} has no valid size`);
    const type = String.fromCharCode(header[156] ?? 0);
    const bodyStart = offset + 512;
    if (bodyStart + size > tar.length) throw new Error('the archive is truncated');
    const body = tar.subarray(bodyStart, bodyStart + size);
    const prefix = text(345, 155);
    const name = longName ?? paxPath ?? (prefix === '' ? text(0, 100) : `${prefix}/${text(0, 100)}`);
    if (type === 'L') longName = body.toString('utf8').replace(/\0.*$/s, '');
    else if (type === 'x') paxPath = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(body.toString('utf8'))?.[1] ?? null;
    else {
      if ((type === '0' || type === '\0') && wanted(name.replace(/^\.\//, ''))) found.set(name.replace(/^\.\//, ''), Buffer.from(body));
      longName = null;
      paxPath = null;
    }
    offset = bodyStart + Math.ceil(size / 512) * 512;
  }
  throw new Error('the archive ends without its end-of-archive blocks');
}

/**
 * Checks that `archive` (gzip-compressed tar) is the agent bundle its name says: it holds
 * <bundle>/VERSION naming the same version and <bundle>/MANIFEST.sha256 listing files. Returns the
 * problem as a sentence, or null when it is a bundle.
 */
export function bundleProblem(archive: Buffer, name: ReleaseName): string | null {
  let tar: Buffer;
  try {
    tar = gunzipSync(archive);
  } catch {
    return 'it is not a gzip-compressed archive';
  }
  let files: Map<string, Buffer>;
  try {
    files = filesInTar(tar, (path) => path === `${name.bundle}/VERSION` || path === `${name.bundle}/MANIFEST.sha256`);
  } catch (error) {
    return `it is not a readable tar archive (${(error as Error).message})`;
  }
  const version = files.get(`${name.bundle}/VERSION`)?.toString('utf8').trim();
  if (version === undefined) return `it holds no ${name.bundle}/VERSION: not an agent bundle, or renamed`;
  if (version !== name.version) return `its VERSION says ${version}, its name says ${name.version}`;
  const manifest = files.get(`${name.bundle}/MANIFEST.sha256`)?.toString('utf8');
  if (manifest === undefined) return `it holds no ${name.bundle}/MANIFEST.sha256`;
  if (!/^[0-9a-f]{64} [ *]app\/main\.js$/m.test(manifest)) return 'its MANIFEST.sha256 does not list app/main.js';
  return null;
}
