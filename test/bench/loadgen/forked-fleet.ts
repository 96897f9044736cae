import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { shareOfPacing, DEFAULT_PACING, type PacingOptions, type StepOutcome, type StepVerdict } from './connect-pacer';
import type { ConnectReport, FleetCounters, FleetOptions } from './fleet';
import type { AgentIdentity } from './identities';

/** What the parent sends a worker. */
export type WorkerRequest =
  | { type: 'init'; firstPosition: number; options: Pick<FleetOptions, 'address' | 'caPem' | 'identities' | 'heartbeatSeconds' | 'watchPolicy' | 'seed'> }
  | { type: 'connect'; pacing: PacingOptions; budgetMs: number | null }
  | { type: 'snapshot'; id: number }
  | { type: 'stop' };

export interface StepReport {
  index: number;
  rate: number;
  outcome: StepOutcome;
  verdict: StepVerdict;
  started: number;
}

/** What a worker sends back. Policy updates are [fleet position, version, received at (ms since epoch)]. */
export type WorkerReply =
  | { type: 'started' }
  | { type: 'ready' }
  | { type: 'step'; step: StepReport }
  | { type: 'connected'; report: ConnectReport }
  | { type: 'failed'; message: string }
  | { type: 'snapshot'; id: number; counters: FleetCounters; streamsOpen: number }
  | { type: 'policies'; updates: Array<[number, string, number]> };

export interface ForkedFleetOptions {
  address: string;
  caPem: string;
  identities: readonly AgentIdentity[];
  heartbeatSeconds: number;
  watchPolicy: boolean;
  /** Child processes the agents are split over (TLS and HTTP/2 work then runs on several event loops). */
  processes: number;
  /** Fleet-wide pacing; each process paces its share. */
  pacing?: Partial<PacingOptions>;
}

/** Contiguous shares of `count` agents over `processes` workers, as [first, end) ranges; no worker gets none. */
export function splitAgents(count: number, processes: number): Array<[number, number]> {
  const workers = Math.max(1, Math.min(processes, count));
  return Array.from({ length: workers }, (_, w) => [Math.floor((w * count) / workers), Math.floor(((w + 1) * count) / workers)] as [number, number]);
}

/** Adds up the workers' counters. */
export function sumCounters(all: readonly FleetCounters[]): FleetCounters {
  const total: FleetCounters = { eventsSent: 0, eventsStored: 0, duplicates: 0, uploadCalls: 0, uploadErrors: {}, heartbeatsAnswered: 0, heartbeatsFailed: 0, streamErrors: 0, streamsEstablished: 0 };
  for (const c of all) {
    for (const key of ['eventsSent', 'eventsStored', 'duplicates', 'uploadCalls', 'heartbeatsAnswered', 'heartbeatsFailed', 'streamErrors', 'streamsEstablished'] as const) total[key] += c[key];
    for (const [name, n] of Object.entries(c.uploadErrors)) total.uploadErrors[name] = (total.uploadErrors[name] ?? 0) + n;
  }
  return total;
}

class Worker {
  private readonly waiters = new Map<number, (reply: Extract<WorkerReply, { type: 'snapshot' }>) => void>();
  private nextId = 0;
  private exited: Promise<void>;
  private connected: { resolve: (r: ConnectReport) => void; reject: (e: Error) => void } | null = null;

  constructor(
    readonly child: ChildProcess,
    readonly name: string,
    private readonly onReply: (reply: WorkerReply) => void,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.on('message', (reply: WorkerReply) => {
      if (reply.type === 'snapshot') {
        this.waiters.get(reply.id)?.(reply);
        this.waiters.delete(reply.id);
      } else if (reply.type === 'connected') this.connected?.resolve(reply.report);
      else if (reply.type === 'failed') this.connected?.reject(new Error(`${this.name}: ${reply.message}`));
      else this.onReply(reply);
    });
    child.once('exit', (code, signal) => this.connected?.reject(new Error(`${this.name} exited (${signal ?? code}) while connecting`)));
  }

  request(message: WorkerRequest): void {
    this.child.send(message);
  }

  waitFor(type: 'started' | 'ready', timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name} did not say "${type}" within ${timeoutMs} ms`)), timeoutMs);
      const listener = (reply: WorkerReply) => {
        if (reply.type !== type) return;
        clearTimeout(timer);
        this.child.off('message', listener);
        resolve();
      };
      this.child.on('message', listener);
      this.child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (${signal ?? code}) before "${type}"`));
      });
    });
  }

  connect(pacing: PacingOptions, budgetMs: number | null): Promise<ConnectReport> {
    return new Promise((resolve, reject) => {
      this.connected = { resolve, reject };
      this.request({ type: 'connect', pacing, budgetMs });
    });
  }

  snapshot(timeoutMs = 30_000): Promise<{ counters: FleetCounters; streamsOpen: number }> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        reject(new Error(`${this.name} did not answer a snapshot within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(id, (reply) => {
        clearTimeout(timer);
        resolve({ counters: reply.counters, streamsOpen: reply.streamsOpen });
      });
      this.request({ type: 'snapshot', id });
    });
  }

  /** Asks the worker to stop; kills it when it has not exited after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    if (this.child.connected) this.request({ type: 'stop' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/**
 * A fleet of simulated agents split over child processes (fleet-worker.js), so that the TLS
 * handshakes and HTTP/2 sessions of thousands of agents do not all run on one event loop (the
 * collector's, on the same machine, being another). The parent keeps a mirror of which policy
 * version every agent holds and when it arrived (stamped in the worker; same machine, same clock).
 */
export class ForkedFleet {
  private readonly holdings: Array<{ version: bigint; receivedAt: number }>;
  private policyListeners: Array<() => void> = [];
  private stepListener: ((worker: number, step: StepReport) => void) | null = null;

  private constructor(
    private readonly workers: Worker[],
    readonly size: number,
    private readonly pacing: PacingOptions,
  ) {
    this.holdings = Array.from({ length: size }, () => ({ version: 0n, receivedAt: 0 }));
  }

  /** Forks the workers and hands each its share of the identities. */
  static async start(options: ForkedFleetOptions): Promise<ForkedFleet> {
    const shares = splitAgents(options.identities.length, options.processes);
    const workers: Worker[] = [];
    let fleet: ForkedFleet | null = null;
    const route = (index: number) => (reply: WorkerReply) => fleet?.onReply(index, reply);
    try {
      for (let w = 0; w < shares.length; w++) {
        // No inherited --cpu-prof or inspector flags: the workers are load, not subject.
        const child = fork(join(__dirname, 'fleet-worker.js'), [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
        workers.push(new Worker(child, `load generator ${w + 1}/${shares.length} (pid ${child.pid})`, route(w)));
      }
      fleet = new ForkedFleet(workers, options.identities.length, shareOfPacing({ ...DEFAULT_PACING, ...options.pacing }, shares.length));
      await Promise.all(workers.map((worker) => worker.waitFor('started', 30_000)));
      await Promise.all(
        workers.map((worker, w) => {
          const [first, end] = shares[w]!;
          const ready = worker.waitFor('ready', 60_000);
          worker.request({ type: 'init', firstPosition: first, options: { address: options.address, caPem: options.caPem, identities: options.identities.slice(first, end), heartbeatSeconds: options.heartbeatSeconds, watchPolicy: options.watchPolicy } });
          return ready;
        }),
      );
      return fleet;
    } catch (error) {
      await Promise.all(workers.map((worker) => worker.stop(2_000)));
      throw error;
    }
  }

  get processIds(): number[] {
    return this.workers.map((w) => w.child.pid!);
  }

  private onReply(worker: number, reply: WorkerReply): void {
    if (reply.type === 'policies') {
      for (const [position, version, receivedAt] of reply.updates) {
        const v = BigInt(version);
        if (v > this.holdings[position]!.version) this.holdings[position] = { version: v, receivedAt };
      }
      for (const listener of this.policyListeners) listener();
    } else if (reply.type === 'step') this.stepListener?.(worker, reply.step);
  }

  /** Every worker connects its share, paced, beginning no step after `budgetMs`; resolves with each worker's report. */
  connect(onStep?: (worker: number, step: StepReport) => void, budgetMs: number | null = null): Promise<ConnectReport[]> {
    this.stepListener = onStep ?? null;
    return Promise.all(this.workers.map((worker) => worker.connect(this.pacing, budgetMs)));
  }

  /** The workers' counters added up, and the streams open now. */
  async snapshot(): Promise<{ counters: FleetCounters; streamsOpen: number }> {
    const all = await Promise.all(this.workers.map((worker) => worker.snapshot()));
    return { counters: sumCounters(all.map((s) => s.counters)), streamsOpen: all.reduce((n, s) => n + s.streamsOpen, 0) };
  }

  policyHoldings(): Array<{ version: bigint; receivedAt: number }> {
    return this.holdings.map((h) => ({ ...h }));
  }

  /** Resolves when `test` holds on the holdings (checked on every batch of policy arrivals), or rejects after `timeoutMs`. */
  waitForPolicies(test: (holdings: Array<{ version: bigint; receivedAt: number }>) => boolean, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout;
      const check = () => {
        if (!test(this.holdings)) return;
        clearTimeout(timer);
        this.policyListeners = this.policyListeners.filter((l) => l !== check);
        resolve();
      };
      timer = setTimeout(() => {
        this.policyListeners = this.policyListeners.filter((l) => l !== check);
        reject(new Error(`the fleet's policies did not reach the expected state within ${timeoutMs} ms`));
      }, timeoutMs);
      this.policyListeners.push(check);
      check();
    });
  }

  /** Stops every worker (killing any that does not exit in time). */
  async stop(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.stop()));
  }
}
