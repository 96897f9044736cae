/**
 * mamori load generator: N simulated agents in one process against a running collector.
 *
 *   node dist/test/bench/loadgen/cli.js --agents N --rate R --batch B --duration S \
 *        --server host:port --token T [--cache DIR] [--concurrency C] [--heartbeat SECONDS] [--no-watch] [--seed K]
 *        [--connect-rate R] [--connect-max-rate R]
 *
 *   --agents       simulated agents (default 10); each has its own mTLS connection
 *   --rate         events per second over the whole fleet; 0 = as fast as the collector takes them (default 1000)
 *   --batch        events per UploadEvents call (default 500, at most 5000)
 *   --duration     seconds of uploading (default 30); streams and heartbeats run meanwhile
 *   --server       the collector's gRPC address (loopback only, e.g. 127.0.0.1:50051)
 *   --token        an enrollment token (`mamori-server token create`, or POST /api/v1/enrollment-tokens)
 *                  with enough uses for the agents not yet in the cache
 *   --cache        folder of enrolled identities, per collector CA: a second run reuses them instead of
 *                  enrolling again (default ./loadgen-identities)
 *   --concurrency  upload calls in flight at once (default 8)
 *   --heartbeat    seconds between one agent's heartbeats (default 30)
 *   --no-watch     do not hold WatchPolicy streams
 *   --seed         seed of the event mix (default 1)
 *   --connect-rate / --connect-max-rate
 *                  agents started per second in the first connect step / at most (default 100 / 400); the
 *                  rate grows while steps settle and halves when handshakes fail (connect-pacer.ts)
 *
 * Prints a progress line a second and, at the end, one JSON line with the totals. Exits 1 when
 * the collector stored nothing or refused calls, 2 on bad arguments.
 */
import { isIP } from 'node:net';
import { DEFAULT_PACING } from './connect-pacer';
import { Fleet } from './fleet';
import { provideIdentities } from './identities';

interface CliOptions {
  agents: number;
  rate: number;
  batch: number;
  duration: number;
  server: string;
  token: string;
  cache: string;
  concurrency: number;
  heartbeat: number;
  watch: boolean;
  seed: number;
  'connect-rate': number;
  'connect-max-rate': number;
}

export class UsageError extends Error {}

const NUMERIC = ['agents', 'rate', 'batch', 'duration', 'concurrency', 'heartbeat', 'seed', 'connect-rate', 'connect-max-rate'] as const;

/** Parses the arguments; throws UsageError naming the bad one. */
export function parseLoadgenArgs(argv: readonly string[]): CliOptions {
  const options: CliOptions = { agents: 10, rate: 1000, batch: 500, duration: 30, server: '', token: '', cache: 'loadgen-identities', concurrency: 8, heartbeat: 30, watch: true, seed: 1, 'connect-rate': DEFAULT_PACING.initialRate, 'connect-max-rate': DEFAULT_PACING.maxRate };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--no-watch') {
      options.watch = false;
      continue;
    }
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument "${arg}"`);
    const name = arg.slice(2);
    const value = argv[++i];
    if (value === undefined) throw new UsageError(`${arg} needs a value`);
    if ((NUMERIC as readonly string[]).includes(name)) {
      const n = Number(value);
      if (!Number.isFinite(n) || n < 0) throw new UsageError(`${arg} must be a number of 0 or more, got "${value}"`);
      (options as unknown as Record<string, number>)[name] = n;
    } else if (name === 'server' || name === 'token' || name === 'cache') {
      options[name] = value;
    } else {
      throw new UsageError(`unknown option ${arg}`);
    }
  }
  if (!Number.isInteger(options.agents) || options.agents < 1) throw new UsageError('--agents must be a whole number of 1 or more');
  if (!Number.isInteger(options.batch) || options.batch < 1 || options.batch > 5000) throw new UsageError('--batch must be a whole number from 1 to 5000');
  if (options.concurrency < 1) throw new UsageError('--concurrency must be at least 1');
  if (options['connect-rate'] <= 0 || options['connect-max-rate'] < options['connect-rate']) throw new UsageError('--connect-rate must be above 0 and at most --connect-max-rate');
  if (options.token === '') throw new UsageError('--token is required');
  const at = options.server.lastIndexOf(':');
  const host = options.server.slice(0, at).replace(/^\[|\]$/g, '');
  // Load goes to this machine only.
  if (at <= 0 || !(host === 'localhost' || (isIP(host) === 4 && host.startsWith('127.')) || host === '::1')) {
    throw new UsageError(`--server must be a loopback address with a port (127.0.0.1:PORT, localhost:PORT or [::1]:PORT), got "${options.server}"`);
  }
  return options;
}

async function main(argv: string[]): Promise<number> {
  let options: CliOptions;
  try {
    options = parseLoadgenArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`mamori-loadgen: ${error.message}`);
    return 2;
  }
  console.log(`enrolling or loading ${options.agents} identities (cache ${options.cache})`);
  const set = await provideIdentities({ address: options.server, token: options.token, count: options.agents, cacheDir: options.cache, onProgress: (done) => console.log(`  ${done} identities ready`) });
  console.log(`${set.identities.length} identities (${set.enrolled} enrolled now), CA pin ${set.caPin}`);
  const fleet = new Fleet({
    address: options.server,
    caPem: set.caPem,
    identities: set.identities,
    rate: options.rate,
    batch: options.batch,
    concurrency: options.concurrency,
    heartbeatSeconds: options.heartbeat,
    watchPolicy: options.watch,
    seed: options.seed,
  });
  const connected = await fleet.connect({ initialRate: options['connect-rate'], maxRate: options['connect-max-rate'], minRate: Math.min(DEFAULT_PACING.minRate, options['connect-rate']) }, (step) => {
    if (step.verdict === 'congested') console.log(`connect step ${step.index + 1} congested at ${Math.round(step.rate)} agents/s: ${step.outcome.established}/${step.outcome.started} through, ${step.outcome.failures} stream failures`);
  });
  console.log(`connected in ${connected.seconds} s: ${connected.streamsOpen}/${fleet.size} streams open, ${connected.steps} steps ${JSON.stringify(connected.verdicts)}`);
  let last = 0;
  const progress = setInterval(() => {
    const c = fleet.counters;
    console.log(`stored ${c.eventsStored} (+${c.eventsStored - last}/s), streams open ${fleet.streamsOpen()}/${fleet.size}, heartbeats ${c.heartbeatsAnswered} ok ${c.heartbeatsFailed} failed, errors ${JSON.stringify(c.uploadErrors)}`);
    last = c.eventsStored;
  }, 1000);
  const started = Date.now();
  await fleet.uploadFor(options.duration * 1000);
  const seconds = (Date.now() - started) / 1000;
  clearInterval(progress);
  const streams = fleet.streamsOpen();
  fleet.stop();
  const c = fleet.counters;
  console.log(JSON.stringify({ agents: fleet.size, seconds, storedPerSecond: Math.round(c.eventsStored / seconds), streamsOpen: streams, ...c }));
  const errors = Object.values(c.uploadErrors).reduce((a, b) => a + b, 0);
  return c.eventsStored === 0 || errors > 0 ? 1 : 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: Error) => {
      console.error(`mamori-loadgen: ${error.message}`);
      process.exit(1);
    },
  );
}
