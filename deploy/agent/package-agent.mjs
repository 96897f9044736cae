#!/usr/bin/env node
// `npm run package:agent`: a self-contained agent bundle per platform and architecture.
//
//   mamori-agent-<version>-<platform>-<arch>/
//     bin/mamori-agent        sh launcher that runs app/main.js with the bundled node (.cmd on Windows)
//     node/                   the pinned Node runtime (deploy/agent/node-runtime.json) and its licence
//     app/                    the compiled agent and only its production dependency closure
//     VERSION                 the agent's version
//     MANIFEST.sha256         sha256 of every other shipped file (sha256sum format), for tamper checks
//     ...                     the contents of deploy/agent/<linux|windows|macos>/ for that platform
//
// One build machine makes every target's bundle. The agent's code and dependencies are JavaScript;
// the only native part is pdfjs-dist's optional @napi-rs/canvas (pdfjs cannot even load on Node
// without its DOMMatrix), which npm publishes as one prebuilt package per platform. The packer picks
// the target's prebuilt package from package-lock.json (glibc on Linux), takes it from node_modules
// when it is installed there, else fetches it with `npm pack` and checks the lockfile's integrity.
// Any other compiled addon in the closure stops the build. Plain ESM JavaScript, so it runs before
// anything is compiled.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { builtinModules } from 'node:module';
import {
  chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync,
  renameSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import { createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');

export const TARGETS = ['linux-x64', 'linux-arm64', 'win-x64', 'darwin-x64', 'darwin-arm64'];
/** The folder under deploy/agent/ whose contents go to the bundle's top folder, per platform. */
const PLATFORM_FOLDERS = { linux: 'linux', win: 'windows', darwin: 'macos' };

/**
 * Files of a dependency that are never needed at run time: type declarations, source maps,
 * and for pdfjs-dist (41 MB) everything but the legacy build the agent imports and the worker it
 * loads in-process ("fake worker"). Text extraction needs neither fonts nor cmaps (no URL is given).
 */
const DROP_FILE = /(\.d\.[cm]?ts|\.map|\.tsbuildinfo)$/;
const KEEP_ONLY = {
  'pdfjs-dist': new Set(['package.json', 'LICENSE', 'legacy/build/pdf.mjs', 'legacy/build/pdf.worker.mjs']),
};

const USAGE = `Usage: npm run package:agent -- [--target T]... [--all] [--out DIR] [--cache DIR] [--version V]

  --target T   linux-x64 | linux-arm64 | win-x64 | darwin-x64 | darwin-arm64 (repeatable;
               default: this machine's, ${hostTarget() ?? 'none: give --target'})
  --all        every target
  --out DIR    where the archives go (default dist/packages)
  --cache DIR  where downloaded runtimes are kept (default .cache/agent-runtime, or
               MAMORI_AGENT_RUNTIME_CACHE)
  --version V  the version the bundles carry (default: package.json's), e.g. 1.2.3-rc.1
`;

export function hostTarget() {
  const platform = { linux: 'linux', win32: 'win', darwin: 'darwin' }[process.platform];
  const arch = { x64: 'x64', arm64: 'arm64' }[process.arch];
  return platform && arch && TARGETS.includes(`${platform}-${arch}`) ? `${platform}-${arch}` : undefined;
}

function log(message) {
  process.stderr.write(`package-agent: ${message}\n`);
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', ...options });
  if (result.error) throw new Error(`${command} ${args.join(' ')}: ${result.error.message}`);
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited ${result.status}: ${(result.stderr || result.stdout).trim()}`);
  }
  return result.stdout;
}

/** Compiles agent/src alone (deploy/agent/tsconfig.agent.json) into `outDir`. */
function compileAgent(outDir) {
  if (!existsSync(join(repo, 'agent', 'src', 'generated', 'mamori'))) {
    log('agent/src/generated is missing: running npm run proto:generate');
    run('npm', ['run', 'proto:generate'], { cwd: repo });
  }
  const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
  run(process.execPath, [tsc, '-p', join(here, 'tsconfig.agent.json'), '--outDir', outDir], { cwd: repo });
}

function walkFiles(root, dir = root, out = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) walkFiles(root, full, out);
    else if (entry.isFile()) out.push(relative(root, full).split(sep).join('/'));
    else if (entry.isSymbolicLink()) throw new Error(`${full} is a symbolic link; a bundle ships plain files only`);
  }
  return out.sort();
}

const BUILTINS = new Set(builtinModules);
/** Bare package names the compiled code requires or imports, builtins excluded. */
export function importedPackages(appDir) {
  const names = new Set();
  const pattern = /\b(?:require|import)\(\s*["']([^"'./][^"']*)["']\s*\)/g;
  for (const file of walkFiles(appDir)) {
    if (!/\.(c|m)?js$/.test(file)) continue;
    for (const match of readFileSync(join(appDir, file), 'utf8').matchAll(pattern)) {
      const specifier = match[1];
      if (specifier.startsWith('node:') || BUILTINS.has(specifier.split('/')[0])) continue;
      const parts = specifier.split('/');
      names.add(specifier.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]);
    }
  }
  return [...names].sort();
}

/**
 * The production dependency closure of `roots`, resolved the way Node does from the repository's
 * node_modules: each entry is the package's folder relative to the repository. `dependencies` and
 * non-optional `peerDependencies` are followed; `optionalDependencies` are not (they are native
 * accelerators such as pdfjs-dist's canvas, which text extraction does not use).
 */
export function dependencyClosure(roots) {
  const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')).packages;
  const found = new Map();
  /** Optional per-platform prebuilt packages (lockfile entries with os/cpu), chosen per target later. */
  const prebuilt = new Map();
  const queue = roots.filter((name) => !name.startsWith('@types/')).map((name) => ({ name, from: repo }));
  while (queue.length > 0) {
    const { name, from } = queue.shift();
    // Node's lookup: <dir>/node_modules/<name> for the requiring folder and each ancestor up to
    // the repository, skipping folders that are themselves node_modules.
    let location;
    for (let dir = from; ; dir = dirname(dir)) {
      const candidate = join(dir, 'node_modules', name);
      if (!dir.endsWith(`${sep}node_modules`) && existsSync(join(candidate, 'package.json'))) {
        location = candidate;
        break;
      }
      if (dir === repo || dirname(dir) === dir) break;
    }
    if (!location) throw new Error(`dependency ${name} (needed from ${relative(repo, from) || '.'}) is not installed: run npm ci`);
    const key = relative(repo, location).split(sep).join('/');
    if (found.has(key)) continue;
    const pkg = JSON.parse(readFileSync(join(location, 'package.json'), 'utf8'));
    found.set(key, pkg.version);
    const optionalPeers = pkg.peerDependenciesMeta ?? {};
    const next = [
      ...Object.keys(pkg.dependencies ?? {}),
      ...Object.keys(pkg.peerDependencies ?? {}).filter((peer) => optionalPeers[peer]?.optional !== true),
    ];
    // Type declarations (@types/*) are build-time only, whatever list a package puts them in.
    for (const dep of next) if (!dep.startsWith('@types/')) queue.push({ name: dep, from: location });
    // Optional dependencies: a per-platform prebuilt package is set aside for the target's pick;
    // any other is followed when it is installed (npm installs those on every platform).
    for (const dep of Object.keys(pkg.optionalDependencies ?? {})) {
      const entry = lock[`node_modules/${dep}`];
      if (entry?.os || entry?.cpu) prebuilt.set(dep, entry);
      else if (entry && existsSync(join(repo, 'node_modules', dep, 'package.json'))) queue.push({ name: dep, from: location });
    }
  }
  return { packages: found, prebuilt };
}

const NODE_OS = { linux: 'linux', win: 'win32', darwin: 'darwin' };
/** The prebuilt packages that fit `target` (a Linux laptop is assumed to use glibc). */
export function prebuiltFor(prebuilt, target) {
  const [platform, arch] = target.split('-');
  return [...prebuilt].filter(([, entry]) =>
    (entry.os ?? [NODE_OS[platform]]).includes(NODE_OS[platform]) &&
    (entry.cpu ?? [arch]).includes(arch) &&
    (entry.libc === undefined || entry.libc.includes('glibc')));
}

/** A prebuilt package's folder: the installed one when it is this version, else fetched into the cache and checked. */
function prebuiltFolder(name, entry, cacheDir, unpackRoot) {
  const installed = join(repo, 'node_modules', name);
  if (existsSync(join(installed, 'package.json')) && JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')).version === entry.version) {
    return installed;
  }
  if (!entry.integrity) throw new Error(`package-lock.json has no integrity for ${name}@${entry.version}`);
  const file = join(cacheDir, `${name.replace('/', '+')}-${entry.version}.tgz`);
  if (!existsSync(file) || sriOf(file) !== entry.integrity) {
    mkdirSync(cacheDir, { recursive: true });
    log(`fetching ${name}@${entry.version}`);
    const staging = mkdtempSync(join(cacheDir, '.fetch-'));
    try {
      run('npm', ['pack', `${name}@${entry.version}`, '--pack-destination', staging, '--silent']);
      const [fetched] = readdirSync(staging).filter((f) => f.endsWith('.tgz'));
      if (!fetched) throw new Error(`npm pack ${name}@${entry.version} wrote no tarball`);
      const actual = sriOf(join(staging, fetched));
      if (actual !== entry.integrity) throw new Error(`${name}@${entry.version} downloaded with integrity ${actual}, package-lock.json says ${entry.integrity}; refusing it`);
      renameSync(join(staging, fetched), file);
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }
  const into = mkdtempSync(join(unpackRoot, 'prebuilt-'));
  run('tar', ['-xzf', file, '-C', into]);
  return join(into, 'package');
}

function copyPackage(source, destination, name, nativeAllowed = false) {
  const keep = KEEP_ONLY[name];
  for (const file of walkFiles(source).filter((f) => !f.startsWith('node_modules/') && !f.includes('/node_modules/'))) {
    if (keep ? !keep.has(file) : DROP_FILE.test(file)) continue;
    if (!nativeAllowed && (/\.node$/.test(file) || file === 'binding.gyp')) {
      throw new Error(`${name} carries a native part (${file}); the agent bundle is pure JavaScript`);
    }
    mkdirSync(dirname(join(destination, file)), { recursive: true });
    copyFileSync(join(source, file), join(destination, file));
  }
  if (keep) {
    for (const file of keep) {
      if (!existsSync(join(destination, file))) throw new Error(`${name} no longer has ${file}; update KEEP_ONLY in package-agent.mjs`);
    }
  }
}

function sriOf(file) {
  return `sha512-${createHash('sha512').update(readFileSync(file)).digest('base64')}`;
}

/**
 * The pinned runtime tarball for `target`, from the cache or fetched with `npm pack` and checked
 * against the pinned integrity and the registry's published one.
 */
function runtimeTarball(target, cacheDir) {
  const pins = JSON.parse(readFileSync(join(here, 'node-runtime.json'), 'utf8')).targets;
  const pin = pins[target];
  if (!pin) throw new Error(`no Node runtime is pinned for ${target} in deploy/agent/node-runtime.json`);
  const file = join(cacheDir, `${pin.package}-${pin.version}.tgz`);
  if (existsSync(file)) {
    const actual = sriOf(file);
    if (pin.integrity === null || actual === pin.integrity) return { file, pin };
    log(`cached ${file} does not match the pinned integrity; fetching it again`);
    rmSync(file);
  }
  mkdirSync(cacheDir, { recursive: true });
  const spec = `${pin.package}@${pin.version}`;
  let published;
  try {
    published = JSON.parse(run('npm', ['view', spec, 'dist.integrity', '--json']) || 'null');
  } catch (error) {
    throw new Error(`cannot read ${spec} from the npm registry: ${error.message.split('\n')[0]}`);
  }
  if (typeof published !== 'string' || published === '') throw new Error(`the npm registry has no ${spec}`);
  if (pin.integrity !== null && published !== pin.integrity) {
    throw new Error(`the registry's integrity of ${spec} (${published}) differs from the pinned one (${pin.integrity}); refusing it`);
  }
  if (pin.integrity === null) log(`${spec} has no pinned integrity: checking it against the registry's (${published}) only; pin it in node-runtime.json`);
  log(`fetching ${spec}`);
  const staging = mkdtempSync(join(cacheDir, '.fetch-'));
  try {
    run('npm', ['pack', spec, '--pack-destination', staging, '--silent']);
    const [fetched] = readdirSync(staging).filter((f) => f.endsWith('.tgz'));
    if (!fetched) throw new Error(`npm pack ${spec} wrote no tarball`);
    const actual = sriOf(join(staging, fetched));
    if (actual !== published) throw new Error(`${spec} downloaded with integrity ${actual}, the registry says ${published}; refusing it`);
    renameSync(join(staging, fetched), file);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return { file, pin };
}

/** Puts the runtime's executable and licence into `nodeDir`; returns the executable's path inside the bundle. */
function installRuntime(tarball, nodeDir, platform) {
  const unpack = mkdtempSync(join(tmpdir(), 'mamori-runtime-'));
  try {
    run('tar', ['-xzf', tarball, '-C', unpack]);
    const files = walkFiles(join(unpack, 'package'));
    const executable = platform === 'win' ? files.find((f) => /(^|\/)node\.exe$/.test(f)) : files.find((f) => f === 'bin/node');
    if (!executable) throw new Error(`${tarball} holds no node executable`);
    const inBundle = platform === 'win' ? 'node.exe' : 'bin/node';
    mkdirSync(dirname(join(nodeDir, inBundle)), { recursive: true });
    copyFileSync(join(unpack, 'package', executable), join(nodeDir, inBundle));
    chmodSync(join(nodeDir, inBundle), 0o755);
    for (const doc of ['LICENSE', 'package.json']) {
      if (files.includes(doc)) copyFileSync(join(unpack, 'package', doc), join(nodeDir, doc));
    }
    return `node/${inBundle}`;
  } finally {
    rmSync(unpack, { recursive: true, force: true });
  }
}

const SH_LAUNCHER = `#!/bin/sh
# mamori-agent launcher: runs the agent with the Node runtime shipped beside it, so the machine
# needs no Node of its own. Follows a symbolic link to itself (e.g. from /usr/local/bin).
self=$(readlink -f -- "$0" 2>/dev/null || printf '%s' "$0")
top=$(CDPATH='' cd -- "$(dirname -- "$self")/.." && pwd -P) || exit 1
exec "$top/node/bin/node" "$top/app/main.js" "$@"
`;

const CMD_LAUNCHER = `@echo off\r
rem mamori-agent launcher: runs the agent with the Node runtime shipped beside it.\r
setlocal\r
"%~dp0..\\node\\node.exe" "%~dp0..\\app\\main.js" %*\r
exit /b %ERRORLEVEL%\r
`;

/** `sha256  path` lines for every file under `top` but the manifest itself (sha256sum -c format). */
export function manifestOf(top) {
  return walkFiles(top)
    .filter((f) => f !== 'MANIFEST.sha256')
    .map((f) => `${createHash('sha256').update(readFileSync(join(top, f))).digest('hex')}  ${f}\n`)
    .join('');
}

async function writeZip(top, name, archive) {
  const { ZipFile } = await import('yazl');
  const zip = new ZipFile();
  for (const file of walkFiles(top)) {
    zip.addFile(join(top, file), `${name}/${file}`, { mode: statSync(join(top, file)).mode });
  }
  zip.end();
  await new Promise((resolveWrite, reject) => {
    zip.outputStream.pipe(createWriteStream(archive)).on('close', resolveWrite).on('error', reject);
  });
}

/** Builds one target's bundle from the compiled agent in `compiled`; returns the archive's path and sizes. */
export async function packTarget({ target, compiled, outDir, cacheDir, version }) {
  const [platform, arch] = target.split('-');
  const name = `mamori-agent-${version}-${platform}-${arch}`;
  const work = mkdtempSync(join(tmpdir(), 'mamori-pack-'));
  try {
    const top = join(work, name);
    const app = join(top, 'app');
    // The compiled agent, and a package.json that makes it CommonJS and names its version
    // (agentVersion() reads it).
    for (const file of walkFiles(compiled)) {
      mkdirSync(dirname(join(app, file)), { recursive: true });
      copyFileSync(join(compiled, file), join(app, file));
    }
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'mamori', version, private: true, type: 'commonjs', main: 'main.js' }, null, 2) + '\n');
    const closure = dependencyClosure(importedPackages(compiled));
    for (const location of closure.packages.keys()) {
      copyPackage(join(repo, location), join(app, location), location.split('node_modules/').pop());
    }
    const prebuilt = prebuiltFor(closure.prebuilt, target);
    for (const [name, entry] of prebuilt) {
      copyPackage(prebuiltFolder(name, entry, cacheDir, work), join(app, 'node_modules', name), name, true);
    }
    const { file: tarball, pin } = runtimeTarball(target, cacheDir);
    installRuntime(tarball, join(top, 'node'), platform);

    mkdirSync(join(top, 'bin'));
    if (platform === 'win') writeFileSync(join(top, 'bin', 'mamori-agent.cmd'), CMD_LAUNCHER);
    else writeFileSync(join(top, 'bin', 'mamori-agent'), SH_LAUNCHER, { mode: 0o755 });
    writeFileSync(join(top, 'VERSION'), `${version}\n`);

    const platformFolder = join(here, PLATFORM_FOLDERS[platform]);
    if (existsSync(platformFolder)) {
      for (const file of walkFiles(platformFolder)) {
        mkdirSync(dirname(join(top, file)), { recursive: true });
        copyFileSync(join(platformFolder, file), join(top, file));
        chmodSync(join(top, file), file.endsWith('.sh') ? 0o755 : 0o644);
      }
    }
    writeFileSync(join(top, 'MANIFEST.sha256'), manifestOf(top));

    mkdirSync(outDir, { recursive: true });
    const archive = join(outDir, `${name}${platform === 'win' ? '.zip' : '.tar.gz'}`);
    rmSync(archive, { force: true });
    if (platform === 'win') await writeZip(top, name, archive);
    else {
      const gnu = run('tar', ['--version']).includes('GNU tar');
      run('tar', [...(gnu ? ['--owner=0', '--group=0', '--numeric-owner', '--sort=name'] : []), '-czf', archive, '-C', work, name]);
    }
    const unpackedBytes = walkFiles(top).reduce((sum, f) => sum + statSync(join(top, f)).size, 0);
    return {
      target, archive, name, runtime: `${pin.package}@${pin.version}`, packages: closure.packages.size + prebuilt.length,
      prebuilt: prebuilt.map(([n, e]) => `${n}@${e.version}`),
      archiveBytes: statSync(archive).size, unpackedBytes,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function main(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      target: { type: 'string', multiple: true }, all: { type: 'boolean' }, out: { type: 'string' },
      cache: { type: 'string' }, version: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const targets = values.all ? TARGETS : (values.target ?? [hostTarget()].filter(Boolean));
  if (targets.length === 0) throw new Error(`this machine is no bundle target; give --target (${TARGETS.join(', ')})`);
  for (const target of targets) {
    if (!TARGETS.includes(target)) throw new Error(`unknown target "${target}" (${TARGETS.join(', ')})`);
  }
  // --version: a release engineer (or a test) packs another version from the same build, e.g. a
  // pre-release to try an upgrade with; it names the bundle, VERSION and the agent's own version.
  const version = values.version ?? JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).version;
  if (!/^[0-9]+\.[0-9]+\.[0-9]+(?:[-+][0-9A-Za-z.-]+)?$/.test(version)) throw new Error(`--version must look like 1.2.3 or 1.2.3-rc.1, got "${version}"`);
  const outDir = resolve(values.out ?? join(repo, 'dist', 'packages'));
  const cacheDir = resolve(values.cache ?? process.env.MAMORI_AGENT_RUNTIME_CACHE ?? join(repo, '.cache', 'agent-runtime'));
  const compiled = mkdtempSync(join(tmpdir(), 'mamori-agent-build-'));
  try {
    log('compiling agent/src');
    compileAgent(compiled);
    let failed = 0;
    for (const target of targets) {
      try {
        const result = await packTarget({ target, compiled, outDir, cacheDir, version });
        const mb = (bytes) => `${(bytes / 1048576).toFixed(1)} MB`;
        process.stdout.write(`${result.archive}  ${mb(result.archiveBytes)} (unpacked ${mb(result.unpackedBytes)}; ${result.runtime}; ${result.packages} packages; native: ${result.prebuilt.join(", ") || "none"})\n`);
      } catch (error) {
        failed++;
        log(`${target}: ${error.message}`);
      }
    }
    return failed === 0 ? 0 : 1;
  } finally {
    rmSync(compiled, { recursive: true, force: true });
  }
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error) => {
      log(error.message);
      process.exit(2);
    },
  );
}
