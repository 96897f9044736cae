import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A small agent bundle archive for linux-x64 as `npm run package:agent` lays one out (a top
 * folder named after the archive, VERSION, MANIFEST.sha256 listing the files), with a stand-in
 * agent: enough for the collector's release register, which checks names, VERSION and manifest.
 * `versionFile` writes another VERSION than the name says, `manifest: false` leaves the manifest
 * out, `padding` adds that many random bytes.
 */
export function bundleArchive(dir: string, version: string, options: { versionFile?: string; manifest?: boolean; padding?: number } = {}): { file: string; bytes: Buffer } {
  const name = `mamori-agent-${version}-linux-x64`;
  const top = join(dir, `${name}-${randomBytes(4).toString('hex')}`, name);
  mkdirSync(join(top, 'app'), { recursive: true });
  writeFileSync(join(top, 'app/main.js'), 'console.log("agent");\n');
  writeFileSync(join(top, 'app/padding.bin'), randomBytes(options.padding ?? 0));
  writeFileSync(join(top, 'VERSION'), `${options.versionFile ?? version}\n`);
  if (options.manifest !== false) {
    const sha = (path: string) => createHash('sha256').update(readFileSync(join(top, path))).digest('hex');
    writeFileSync(join(top, 'MANIFEST.sha256'), ['VERSION', 'app/main.js', 'app/padding.bin'].map((p) => `${sha(p)}  ${p}\n`).join(''));
  }
  const file = join(dir, `${name}.tar.gz`);
  const tar = spawnSync('tar', ['-czf', file, '-C', join(top, '..'), name], { encoding: 'utf8' });
  assert.equal(tar.status, 0, tar.stderr);
  return { file, bytes: readFileSync(file) };
}
