import { mkdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Why not listen(0): the kernel hands out port 0 listeners and the local ends of outgoing
// connections from the same ephemeral range, so between the probe closing and the program under
// test binding, any client socket in any test process (a PostgreSQL connection, a gRPC call) or
// another test's listen(0) can take the port (CI saw EADDRINUSE this way). Ports below the
// ephemeral range are only ever taken by an explicit bind, which the probe below checks for, and
// a port handed out is reserved for the run by a file that other test processes see too.

const handedOut = new Set<number>();
const FLOOR = 10_000;
const RESERVATIONS = join(tmpdir(), 'mamori-test-ports');
/** A reservation older than this is left over from a run that was killed. */
const STALE_MS = 60 * 60 * 1000;

/** Reserves the port for this process unless another live test process holds it. */
function reserve(port: number): boolean {
  const file = join(RESERVATIONS, String(port));
  try {
    mkdirSync(RESERVATIONS, { recursive: true });
    writeFileSync(file, String(process.pid), { flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') return true; // no shared folder: the probe alone decides
    try {
      if (Date.now() - statSync(file).mtimeMs < STALE_MS) return false;
      writeFileSync(file, String(process.pid));
    } catch {
      return false;
    }
  }
  if (handedOut.size === 0) process.once('exit', releaseAll);
  handedOut.add(port);
  return true;
}

function releaseAll(): void {
  for (const port of handedOut) {
    const file = join(RESERVATIONS, String(port));
    try {
      if (readFileSync(file, 'utf8') === String(process.pid)) rmSync(file);
    } catch {
      // already gone
    }
  }
  try {
    rmdirSync(RESERVATIONS); // the last process out removes the folder
  } catch {
    // other processes still hold ports
  }
}

/** The first port of the kernel's ephemeral range, or null where it cannot be read (not Linux). */
function ephemeralRangeStart(): number | null {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return Number.isInteger(low) && low > FLOOR + 1000 ? low : null;
  } catch {
    return null;
  }
}

function probe(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(null));
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      const bound = address !== null && typeof address !== 'string' ? address.port : null;
      server.close(() => resolve(bound));
    });
  });
}

/** A TCP port on 127.0.0.1 that was free when it was returned (closed again, for the caller to bind). */
export async function freePort(): Promise<number> {
  const rangeStart = ephemeralRangeStart();
  if (rangeStart !== null) {
    for (let attempt = 0; attempt < 200; attempt++) {
      const port = FLOOR + Math.floor(Math.random() * (rangeStart - FLOOR));
      if (handedOut.has(port) || !reserve(port)) continue;
      if ((await probe(port)) === port) return port;
    }
  }
  const port = await probe(0);
  if (port === null) throw new Error('could not bind a probe listener on 127.0.0.1');
  return port;
}
