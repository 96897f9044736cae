import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO_ROOT } from '../../support/processes';

export interface PackedBundle {
  /** The archive the packer wrote. */
  archive: string;
  /** `mamori-agent-<version>-linux-x64`. */
  name: string;
  /** The unpacked top folder. */
  top: string;
  archiveBytes: number;
  unpackedBytes: number;
  packMs: number;
}

/** Where tests keep the downloaded runtime between runs (gitignored), so only the first run fetches it. */
export const RUNTIME_CACHE = join(REPO_ROOT, '.cache', 'agent-runtime');

function sizeOf(dir: string): number {
  return readdirSync(dir, { withFileTypes: true }).reduce(
    (sum, entry) => sum + (entry.isDirectory() ? sizeOf(join(dir, entry.name)) : statSync(join(dir, entry.name)).size),
    0,
  );
}

/**
 * Runs `deploy/agent/package-agent.mjs --target linux-x64` into `<work>/packages` and unpacks the
 * archive into `<work>/unpacked`, as IT would on a laptop. Throws with the packer's output on failure.
 * `version` packs that version (`--version`) into `<work>/packages-<version>` and `<work>/unpacked-<version>`.
 */
export async function packAgentBundle(work: string, options: { version?: string } = {}): Promise<PackedBundle> {
  const suffix = options.version === undefined ? '' : `-${options.version}`;
  const out = join(work, `packages${suffix}`);
  const started = Date.now();
  const versionArgs = options.version === undefined ? [] : ['--version', options.version];
  const pack = spawnSync(process.execPath, [join(REPO_ROOT, 'deploy/agent/package-agent.mjs'), '--target', 'linux-x64', '--out', out, '--cache', RUNTIME_CACHE, ...versionArgs], {
    encoding: 'utf8',
    cwd: REPO_ROOT,
  });
  const packMs = Date.now() - started;
  if (pack.status !== 0) throw new Error(`package-agent failed (${pack.status}):\n${pack.stdout}\n${pack.stderr}`);
  const archives = readdirSync(out).filter((f) => f.endsWith('.tar.gz'));
  if (archives.length !== 1) throw new Error(`expected one archive in ${out}, found ${archives.join(', ')}`);
  const archive = join(out, archives[0]!);
  const name = archives[0]!.replace(/\.tar\.gz$/, '');
  const unpacked = join(work, `unpacked${suffix}`);
  mkdirSync(unpacked);
  const untar = spawnSync('tar', ['-xzf', archive, '-C', unpacked], { encoding: 'utf8' });
  if (untar.status !== 0) throw new Error(`tar -xzf ${relative(work, archive)}: ${untar.stderr}`);
  return { archive, name, top: join(unpacked, name), archiveBytes: statSync(archive).size, unpackedBytes: sizeOf(join(unpacked, name)), packMs };
}
