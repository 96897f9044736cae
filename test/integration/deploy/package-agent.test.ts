import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { skipOrFail } from '../../support/prerequisites';
import { makeTempDir } from '../../support/temp-dir';
import { REPO_ROOT } from '../../support/processes';
import { pdfDocument } from '../../support/pdf-writer';
import { packAgentBundle } from './agent-bundle';

function files(root: string, dir = root): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? files(root, join(dir, entry.name)) : [relative(root, join(dir, entry.name)).split(sep).join('/')],
  );
}

test('npm run package:agent builds a self-contained linux-x64 bundle that runs with its own node and lists every file in its manifest', async (t) => {
  if (process.platform !== 'linux' || process.arch !== 'x64') return skipOrFail(t, 'the bundle test runs the linux-x64 runtime; this is not linux-x64');
  const work = makeTempDir('mamori-package-');
  t.after(() => work.cleanup());
  const bundle = await packAgentBundle(work.path);
  const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  assert.equal(bundle.name, `mamori-agent-${version}-linux-x64`);
  t.diagnostic(`archive ${(bundle.archiveBytes / 1048576).toFixed(1)} MB, unpacked ${(bundle.unpackedBytes / 1048576).toFixed(1)} MB, packed in ${bundle.packMs} ms`);

  const top = bundle.top;
  const shipped = files(top);
  for (const required of ['bin/mamori-agent', 'node/bin/node', 'node/LICENSE', 'app/main.js', 'app/package.json', 'VERSION', 'MANIFEST.sha256']) {
    assert.ok(shipped.includes(required), `${required} is in the bundle`);
  }
  // deploy/agent/linux/ (install.sh, uninstall.sh, the systemd unit) lands in the top folder.
  for (const linuxFile of files(join(REPO_ROOT, 'deploy/agent/linux'))) {
    assert.ok(shipped.includes(linuxFile), `${linuxFile} from deploy/agent/linux is in the bundle`);
    assert.deepEqual(readFileSync(join(top, linuxFile)), readFileSync(join(REPO_ROOT, 'deploy/agent/linux', linuxFile)));
  }
  assert.equal(readFileSync(join(top, 'VERSION'), 'utf8').trim(), version);
  assert.equal(statSync(join(top, 'bin/mamori-agent')).mode & 0o111, 0o111, 'the launcher is executable');

  // The manifest names every other file with its real hash.
  const manifest = new Map(
    readFileSync(join(top, 'MANIFEST.sha256'), 'utf8').trimEnd().split('\n').map((line) => {
      const [hash, path] = line.split(/ {2}/);
      return [path!, hash!] as const;
    }),
  );
  assert.deepEqual([...manifest.keys()].sort(), shipped.filter((f) => f !== 'MANIFEST.sha256').sort());
  for (const [path, hash] of manifest) {
    assert.equal(createHash('sha256').update(readFileSync(join(top, path))).digest('hex'), hash, `hash of ${path}`);
  }

  // Only the agent's own closure: nothing the collector needs, no compiled addons, no type packages.
  const packages = readdirSync(join(top, 'app/node_modules'));
  for (const collectorOnly of ['@nestjs', 'typeorm', 'pg', 'better-sqlite3', 'express', '@types', 'typescript']) {
    assert.ok(!packages.includes(collectorOnly), `${collectorOnly} is not shipped`);
  }
  for (const needed of ['@grpc', '@bufbuild', 'chokidar', 'yauzl', 'plist', '@peculiar', 'pdfjs-dist']) {
    assert.ok(packages.includes(needed), `${needed} is shipped`);
  }
  // The one native part: pdfjs-dist's canvas, as the linux-x64 glibc prebuilt package.
  assert.deepEqual(
    shipped.filter((f) => f.endsWith('.node')).map((f) => f.split('/').slice(0, 4).join('/')),
    ['app/node_modules/@napi-rs/canvas-linux-x64-gnu'],
  );

  // The pinned runtime, and the agent started through the launcher with nothing else on PATH.
  const pins = JSON.parse(readFileSync(join(REPO_ROOT, 'deploy/agent/node-runtime.json'), 'utf8')) as { targets: Record<string, { version: string }> };
  const nodeVersion = spawnSync(join(top, 'node/bin/node'), ['--version'], { encoding: 'utf8' });
  assert.equal(nodeVersion.stdout.trim(), `v${pins.targets['linux-x64']!.version}`);
  const bare = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: work.path };
  const help = spawnSync(join(top, 'bin/mamori-agent'), ['--help'], { encoding: 'utf8', env: bare });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /^Usage: mamori-agent <command>/);
  const status = spawnSync(join(top, 'bin/mamori-agent'), ['status', '--json', '--state-dir', join(work.path, 'state')], { encoding: 'utf8', env: bare });
  assert.equal(status.status, 3, status.stderr);
  const notEnrolled = JSON.parse(status.stdout) as { enrolled: boolean; install: { state: string; files: number; installDir: string } };
  assert.equal(notEnrolled.enrolled, false);
  // Tamper evidence: the unpacked bundle checks out against its own manifest.
  assert.deepEqual([notEnrolled.install.state, notEnrolled.install.files, notEnrolled.install.installDir], ['intact', manifest.size, top]);

  // The trimmed pdfjs-dist (legacy build and its worker only) loads with the shipped canvas and reads a PDF's text.
  const pdf = join(work.path, 'sample.pdf');
  writeFileSync(pdf, pdfDocument([['Customer list', 'Tanaka Hanako 090-1234-5678']]));
  const script = `
    const lib = await import(${JSON.stringify(join(top, 'app/node_modules/pdfjs-dist/legacy/build/pdf.mjs'))});
    const doc = await lib.getDocument({ data: new Uint8Array(require('node:fs').readFileSync(${JSON.stringify(pdf)})), isEvalSupported: false, disableFontFace: true, useSystemFonts: false, verbosity: 0 }).promise;
    const page = await doc.getPage(1);
    const text = (await page.getTextContent()).items.map((i) => i.str).join('|');
    process.stdout.write(text);`;
  const pdfRun = spawnSync(join(top, 'node/bin/node'), ['-e', `(async () => {${script}})().catch((e) => { console.error(e); process.exit(1); })`], { encoding: 'utf8' });
  assert.equal(pdfRun.status, 0, pdfRun.stderr);
  assert.doesNotMatch(pdfRun.stderr, /Cannot (load|polyfill)/);
  assert.match(pdfRun.stdout, /Tanaka Hanako 090-1234-5678/);
});
