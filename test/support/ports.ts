import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

// Why not listen(0): the kernel hands out port 0 listeners and the local ends of outgoing
// connections from the same ephemeral range, so between the probe closing and the program under
// test binding, any client socket in any test process (a PostgreSQL connection, a gRPC call) or
// another test's listen(0) can take the port (CI saw EADDRINUSE this way). Ports below the
// ephemeral range are only ever taken by an explicit bind, which the probe below checks for, and
// the ones handed out by this process are not handed out again.

const handedOut = new Set<number>();
const FLOOR = 10_000;

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
      if (handedOut.has(port)) continue;
      if ((await probe(port)) === port) {
        handedOut.add(port);
        return port;
      }
    }
  }
  const port = await probe(0);
  if (port === null) throw new Error('could not bind a probe listener on 127.0.0.1');
  handedOut.add(port);
  return port;
}
