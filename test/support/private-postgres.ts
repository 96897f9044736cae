import { spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { deferCleanup, type CleanupScope } from './cleanup-scope';
import { freePort } from './ports';
import { skipOrFail } from './prerequisites';

/**
 * A PostgreSQL cluster of the test's own (initdb into a temporary folder, pg_ctl on a free
 * port), for tests that restart or crash the database: the machine's shared server is used
 * by other tests at the same time and must never be restarted. Removed by `t.after`, even
 * when the test fails.
 */
export interface PrivatePostgres {
  url: string;
  port: number;
  /** `pg_ctl restart -m immediate`: every backend is killed without a checkpoint, as in a crash. */
  restartImmediate(): Promise<void>;
}

interface PgUser {
  uid: number;
  gid: number;
}

function pgBinDir(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')) && existsSync(join(root, v, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length > 0 ? join(root, versions[0], 'bin') : null;
}

function run(command: string, args: string[], timeoutMs = 120_000): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH, LANG: 'C' } });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

async function postgresUser(): Promise<PgUser | null> {
  const result = await run('id', ['-u', 'postgres']);
  const gid = await run('id', ['-g', 'postgres']);
  if (result.code !== 0 || gid.code !== 0) return null;
  return { uid: Number(result.output.trim()), gid: Number(gid.output.trim()) };
}

/** Runs a PostgreSQL program as the postgres user when we are root (initdb refuses root). */
function asOwner(asPostgres: boolean, bin: string, args: string[]) {
  return asPostgres ? run('runuser', ['-u', 'postgres', '--', bin, ...args]) : run(bin, args);
}

export async function startPrivatePostgres(t: CleanupScope): Promise<PrivatePostgres | null> {
  const bin = pgBinDir();
  if (bin === null) {
    skipOrFail(t, 'PostgreSQL server programs (initdb, pg_ctl) are not installed under /usr/lib/postgresql');
    return null;
  }
  const isRoot = process.getuid?.() === 0;
  const owner = isRoot ? await postgresUser() : null;
  if (isRoot && owner === null) {
    skipOrFail(t, 'running as root but there is no postgres user to run initdb as');
    return null;
  }
  const dir = mkdtempSync(join(tmpdir(), 'mamori-private-pg-'));
  const dataDir = join(dir, 'data');
  let serverStarted = false;
  // One step: the server stops before its data folder goes (a folder removed under a running
  // server is recreated in part by it, and the removal fails).
  deferCleanup(t, async () => {
    if (serverStarted) await pgCtl(['stop', '-m', 'immediate', '-w', '-t', '60']);
    rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  });
  if (owner !== null) chownSync(dir, owner.uid, owner.gid);

  const init = await asOwner(owner !== null, join(bin, 'initdb'), ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  if (init.code !== 0) throw new Error(`initdb failed (${init.code}):\n${init.output}`);

  const port = await freePort();
  // fsync off: the test crashes PostgreSQL's processes (immediate restart), not the machine, so
  // what was written survives in the page cache, and the disk of a shared CI host is spared.
  const serverOptions = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=50 -c fsync=off`;
  const pgCtl = (args: string[]) => asOwner(owner !== null, join(bin, 'pg_ctl'), ['-D', dataDir, '-l', join(dir, 'server.log'), ...args]);

  // Set before the start returns: a start that timed out may still have left a server running.
  serverStarted = true;
  const started = await pgCtl(['start', '-w', '-t', '60', '-o', serverOptions]);
  if (started.code !== 0) throw new Error(`pg_ctl start failed (${started.code}):\n${started.output}`);

  const url = `postgres://postgres@127.0.0.1:${port}/mamori`;
  const admin = new Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres`, connectionTimeoutMillis: 30_000, query_timeout: 60_000 });
  await admin.connect();
  try {
    await admin.query('CREATE DATABASE mamori');
  } finally {
    await admin.end();
  }
  return {
    url,
    port,
    restartImmediate: async () => {
      const restarted = await pgCtl(['restart', '-m', 'immediate', '-w', '-t', '60', '-o', serverOptions]);
      if (restarted.code !== 0) throw new Error(`pg_ctl restart failed (${restarted.code}):\n${restarted.output}`);
    },
  };
}
