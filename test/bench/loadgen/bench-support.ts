import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suiteScope } from '../../support/cleanup-scope';
import { provideDatabase, type DatabaseKind } from '../../support/databases';
import { freePort } from '../../support/ports';
import { REPO_ROOT, RunningProcess, SERVER_BIN } from '../../support/processes';
import { CollectorUnderTest } from '../../e2e/support/cluster';
import { RestClient } from '../../e2e/support/rest-client';
import { Fleet, type FleetOptions } from './fleet';
import { provideIdentities, type IdentitySet } from './identities';

/** A whole number from the environment, or `fallback`; anything else is an error naming the variable. */
export function positiveIntegerEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a whole number above 0, got "${raw}"`);
  return value;
}

/** What the benchmarks use of a collector: the e2e CollectorUnderTest has all of it. */
export type BenchCollector = Pick<CollectorUnderTest, 'kind' | 'dataDir' | 'databaseUrl' | 'grpcAddress' | 'process' | 'rest' | 'createEnrollmentToken'>;

/**
 * A collector run under `node --cpu-prof` (which NODE_OPTIONS does not allow, so the e2e
 * CollectorUnderTest cannot start it): same environment as CollectorUnderTest, the profile is
 * written into `profileDir` when the process exits normally (SIGTERM).
 */
async function startProfiledCollector(scope: ReturnType<typeof suiteScope>, kind: DatabaseKind, profileDir: string): Promise<BenchCollector | null> {
  const database = await provideDatabase(scope, kind);
  if (database === null) return null;
  const grpcAddress = `127.0.0.1:${await freePort()}`;
  const httpPort = await freePort();
  const adminToken = `bench-admin-${randomBytes(16).toString('hex')}`;
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    MAMORI_DATA_DIR: database.dataDir,
    MAMORI_DATABASE_URL: database.url,
    MAMORI_GRPC_ADDRESS: grpcAddress,
    MAMORI_HTTP_ADDRESS: `127.0.0.1:${httpPort}`,
    MAMORI_ADMIN_TOKEN: adminToken,
    MAMORI_SERVER_NAMES: 'localhost,127.0.0.1',
    MAMORI_LOG_LEVEL: 'info',
  };
  const child = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, SERVER_BIN, 'run'], { cwd: REPO_ROOT, env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const running = new RunningProcess(`mamori-server(${kind}, --cpu-prof)`, child);
  scope.after(() => running.stop(30_000));
  await running.waitForLine(/"msg":"mamori-server ready"/, 60_000);
  const rest = new RestClient(`http://127.0.0.1:${httpPort}`, adminToken);
  return {
    kind,
    dataDir: database.dataDir,
    databaseUrl: database.url,
    grpcAddress,
    process: running,
    rest,
    createEnrollmentToken: (body: Record<string, unknown> = {}) => rest.expect(201, 'POST', '/api/v1/enrollment-tokens', body),
  };
}

/**
 * A collector of its own (database, data folder, ports) for one benchmark step; `cleanup` stops it
 * and removes everything. With `profileDir` it runs under --cpu-prof.
 */
export async function startBenchCollector(kind: DatabaseKind, profileDir?: string): Promise<{ collector: BenchCollector; cleanup: () => Promise<void> } | { skipped: string }> {
  const scope = suiteScope();
  try {
    const collector = profileDir === undefined ? await CollectorUnderTest.start(scope, kind) : await startProfiledCollector(scope, kind, profileDir);
    if (collector === null) {
      await scope.cleanup();
      return { skipped: scope.skipped ?? `${kind} is not available` };
    }
    return { collector, cleanup: () => scope.cleanup() };
  } catch (error) {
    await scope.cleanup();
    throw error;
  }
}

/** Enrolls `count` simulated agents against the collector (no cache: each bench collector is new). */
export async function enrollFleet(collector: BenchCollector, count: number, log?: (m: string) => void): Promise<IdentitySet> {
  const { token } = await collector.createEnrollmentToken({ label: 'loadgen', maxUses: Math.max(1, count) });
  return provideIdentities({ address: collector.grpcAddress, token, count, concurrency: 16, onProgress: (done) => log?.(`${done}/${count} agents enrolled`) });
}

export function makeFleet(collector: BenchCollector, set: IdentitySet, options: Partial<FleetOptions>): Fleet {
  return new Fleet({ address: collector.grpcAddress, caPem: set.caPem, identities: set.identities, rate: 0, batch: 500, concurrency: 8, heartbeatSeconds: 30, watchPolicy: true, ...options });
}

/** Resident set size of a process in bytes (VmRSS), null when it cannot be read. */
export function rssBytes(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

/** Self time of a V8 .cpuprofile, by function and by package (node_modules/<pkg>, node:internal, or our own code). */
export function summarizeCpuProfile(
  profileJson: string,
  top = 12,
): { totalMs: number; functions: Array<{ name: string; percent: number }>; packages: Array<{ name: string; percent: number }>; databaseCallers: Array<{ name: string; percent: number }> } {
  const profile = JSON.parse(profileJson) as { nodes: Array<ProfileNode & { children?: number[] }>; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const hits = new Map<number, number>();
  for (const id of profile.samples) hits.set(id, (hits.get(id) ?? 0) + 1);
  const total = profile.samples.length;
  const functions = new Map<string, number>();
  const packages = new Map<string, number>();
  for (const [id, count] of hits) {
    const frame = byId.get(id)!.callFrame;
    const url = frame.url;
    const file = url.replace(/^file:\/\//, '');
    const short = file.includes('node_modules/') ? file.slice(file.lastIndexOf('node_modules/') + 13) : file.includes('/dist/') ? file.slice(file.indexOf('/dist/') + 6) : file;
    const name = `${frame.functionName || '(anonymous)'} ${short ? `${short}:${frame.lineNumber + 1}` : ''}`.trim();
    functions.set(name, (functions.get(name) ?? 0) + count);
    const pkg = file.includes('node_modules/')
      ? (() => {
          const parts = file.slice(file.lastIndexOf('node_modules/') + 13).split('/');
          return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
        })()
      : file.startsWith('node:')
        ? 'node internals'
        : file === ''
          ? `(${frame.functionName || 'vm'})`
          : file.includes('/dist/server/')
            ? 'collector code'
            : 'other';
    packages.set(pkg, (packages.get(pkg) ?? 0) + count);
  }
  // Time inside the database driver is charged to the wrapper that called it: name the code that asked.
  const parents = new Map<number, number>();
  for (const node of profile.nodes as Array<ProfileNode & { children?: number[] }>) for (const child of node.children ?? []) parents.set(child, node.id);
  const isDriverFrame = (url: string) => url.includes('/database/database.service') || url.includes('node_modules/better-sqlite3/') || url.includes('node_modules/pg') || url.startsWith('node:') || url === '';
  const databaseCallers = new Map<string, number>();
  for (const [id, count] of hits) {
    const frame = byId.get(id)!.callFrame;
    if (!(frame.url.includes('/database/database.service') || frame.url.includes('node_modules/better-sqlite3/') || frame.url.includes('node_modules/pg'))) continue;
    let parent = parents.get(id);
    while (parent !== undefined && isDriverFrame(byId.get(parent)!.callFrame.url)) parent = parents.get(parent);
    const caller = parent === undefined ? '(no caller on the stack)' : `${byId.get(parent)!.callFrame.functionName || '(anonymous)'} ${byId.get(parent)!.callFrame.url.replace(/^.*\/dist\//, '')}:${byId.get(parent)!.callFrame.lineNumber + 1}`;
    databaseCallers.set(caller, (databaseCallers.get(caller) ?? 0) + count);
  }
  const rank = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, count]) => ({ name, percent: Math.round((1000 * count) / total) / 10 }));
  return { totalMs: (profile.endTime - profile.startTime) / 1000, functions: rank(functions), packages: rank(packages), databaseCallers: rank(databaseCallers) };
}

/** The newest .cpuprofile in `dir`, null when none was written. */
export function newestCpuProfile(dir: string): string | null {
  try {
    const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort();
    return files.length === 0 ? null : join(dir, files[files.length - 1]!);
  } catch {
    return null;
  }
}
