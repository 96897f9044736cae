import * as grpc from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import { PolicyServiceClient, type WatchPolicyResponse } from '../../../agent/src/generated/mamori/v1/policy';
import { TelemetryServiceClient, type HeartbeatRequest, type UploadEventsResponse } from '../../../agent/src/generated/mamori/v1/telemetry';
import { ConnectPacer, DEFAULT_PACING, type PacingOptions, type StepOutcome, type StepVerdict } from './connect-pacer';
import { EventMix, type MixWeights } from './event-mix';
import type { AgentIdentity } from './identities';

/** How the fleet behaves; see cli.ts for the command-line names. */
export interface FleetOptions {
  address: string;
  caPem: string;
  identities: readonly AgentIdentity[];
  /** Events per second over the whole fleet; 0: as fast as the collector takes them. */
  rate: number;
  /** Events per UploadEvents call. */
  batch: number;
  /** Upload calls in flight at once over the whole fleet (the window that bounds the load). */
  concurrency: number;
  /** Seconds between two heartbeats of one agent (each agent starts at a random point in it). */
  heartbeatSeconds: number;
  /** Hold a WatchPolicy stream per agent. */
  watchPolicy: boolean;
  seed?: number;
  weights?: MixWeights;
}

/** What the fleet has seen so far; counters only grow. */
export interface FleetCounters {
  eventsSent: number;
  eventsStored: number;
  duplicates: number;
  uploadCalls: number;
  uploadErrors: Record<string, number>;
  heartbeatsAnswered: number;
  heartbeatsFailed: number;
  /** WatchPolicy streams that ended or failed (a failed connection or handshake fails the stream). */
  streamErrors: number;
  /** WatchPolicy streams that opened (first answer from the collector). */
  streamsEstablished: number;
}

/**
 * Channel options of one simulated agent. Each agent has its own client certificate, so its own
 * TLS connection (as on a real laptop); what differs from the agent's own options
 * (agent/src/transport/grpc-clients.ts) only keeps thousands of them in one process workable:
 * - one Channel shared by the agent's two clients (one connection, as in the agent), with a
 *   subchannel pool of its own instead of grpc-js's process-wide one, which every new subchannel
 *   searches linearly (measured: no difference at 5,000 channels, 6.6 s either way; making the
 *   TLS context costs ~1.3 ms per agent, which is why clients are made only when an agent starts);
 * - channelz off (it keeps per-channel traces and call counters nobody reads here);
 * - a longer reconnect backoff (1 s doubling to 30 s, grpc-js adds ±20 % jitter): the agent's
 *   250 ms to 10 s is right for one laptop, but 10,000 failed connections of one machine retrying
 *   within 10 s are 1,000 handshakes a second on top of the new ones.
 * Keepalive stays as the agent's (60 s pings, 20 s timeout).
 */
export const SIMULATED_AGENT_CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.keepalive_time_ms': 60_000,
  'grpc.keepalive_timeout_ms': 20_000,
  'grpc.initial_reconnect_backoff_ms': 1_000,
  'grpc.max_reconnect_backoff_ms': 30_000,
  'grpc.use_local_subchannel_pool': 1,
  'grpc.enable_channelz': 0,
};

/** Delay before the n-th consecutive re-open of a broken WatchPolicy stream: 1 s doubling to 30 s, with jitter. */
export function watchRetryDelayMs(consecutiveFailures: number, random: () => number = Math.random): number {
  const base = Math.min(30_000, 1000 * 2 ** Math.max(0, consecutiveFailures - 1));
  return Math.round(base * (0.5 + random() / 2));
}

class SimulatedAgent {
  private channel: grpc.Channel | null = null;
  private telemetryClient: TelemetryServiceClient | null = null;
  private policyClient: PolicyServiceClient | null = null;
  readonly mix: EventMix;
  stream: grpc.ClientReadableStream<WatchPolicyResponse> | null = null;
  streamOpen = false;
  started = false;
  /** Newest policy version this agent holds, and when it arrived (ms since epoch). */
  policyVersion = 0n;
  policyLineage = '';
  policyReceivedAt = 0;
  private consecutiveStreamFailures = 0;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly identity: AgentIdentity,
    private readonly fleet: Fleet,
    private readonly options: FleetOptions,
  ) {
    this.mix = new EventMix(identity.index, { seed: options.seed, weights: options.weights });
  }

  /** The clients, made on first use: a TLS context per agent costs time and memory, so only for agents that run. */
  private clients(): { telemetry: TelemetryServiceClient; policy: PolicyServiceClient } {
    if (this.channel === null) {
      const credentials = grpc.credentials.createSsl(Buffer.from(this.options.caPem), Buffer.from(this.identity.privateKeyPem), Buffer.from(this.identity.certPem));
      this.channel = new grpc.Channel(this.options.address, credentials, SIMULATED_AGENT_CHANNEL_OPTIONS);
      this.telemetryClient = new TelemetryServiceClient(this.options.address, credentials, { channelOverride: this.channel });
      this.policyClient = new PolicyServiceClient(this.options.address, credentials, { channelOverride: this.channel });
    }
    return { telemetry: this.telemetryClient!, policy: this.policyClient! };
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    if (this.options.watchPolicy) this.watch();
    const periodMs = this.options.heartbeatSeconds * 1000;
    if (periodMs > 0) {
      const first = Math.floor(Math.random() * periodMs);
      this.heartbeatTimer = setTimeout(() => this.heartbeat(periodMs), first);
    }
  }

  private watch(): void {
    if (this.fleet.stopped) return;
    // A re-opened stream asks from version 0, so the collector answers at once with the current
    // policy: an answer is the only sign that a stream is really open (the collector sends no
    // headers before its first message), and holdings only move forward below.
    const stream = this.clients().policy.watchPolicy({ knownVersion: '0', knownLineageId: '' });
    this.stream = stream;
    const opened = () => {
      if (this.stream !== stream || this.streamOpen) return;
      this.streamOpen = true;
      this.consecutiveStreamFailures = 0;
      this.fleet.counters.streamsEstablished += 1;
    };
    stream.on('metadata', opened);
    stream.on('data', (response: WatchPolicyResponse) => {
      opened();
      if (response.policy === undefined) return;
      const version = BigInt(response.policy.version);
      if (version <= this.policyVersion && response.policy.lineageId === this.policyLineage) return;
      this.policyVersion = version;
      this.policyLineage = response.policy.lineageId;
      this.policyReceivedAt = Date.now();
      this.fleet.policyReceived(this);
    });
    const ended = () => {
      if (this.stream !== stream) return;
      this.streamOpen = false;
      this.stream = null;
      if (this.fleet.stopped) return;
      this.fleet.counters.streamErrors += 1;
      this.consecutiveStreamFailures += 1;
      this.reconnectTimer = setTimeout(() => this.watch(), watchRetryDelayMs(this.consecutiveStreamFailures));
    };
    stream.on('error', ended);
    stream.on('end', ended);
  }

  private heartbeat(periodMs: number): void {
    if (this.fleet.stopped) return;
    const request: HeartbeatRequest = {
      host: { hostname: this.identity.hostname, osFamily: 'linux', osVersion: 'Ubuntu 24.04', agentVersion: '0.0.0-loadgen', loggedInUsers: [this.mix.userName], networkInterfaces: [], architecture: 'x64', machineId: '', hardwareSerial: '', hardwareModel: '', hardwareVendor: '' },
      posture: undefined,
      health: undefined,
      trustedCaPins: [],
    };
    this.clients().telemetry.heartbeat(request, new grpc.Metadata(), { deadline: Date.now() + 30_000 }, (error) => {
      if (error) this.fleet.counters.heartbeatsFailed += 1;
      else this.fleet.counters.heartbeatsAnswered += 1;
    });
    this.heartbeatTimer = setTimeout(() => this.heartbeat(periodMs), periodMs);
  }

  upload(count: number): Promise<UploadEventsResponse> {
    const events = this.mix.batch(count);
    return new Promise((resolve, reject) => {
      this.clients().telemetry.uploadEvents({ batchId: randomUUID(), events }, new grpc.Metadata(), { deadline: Date.now() + 60_000 }, (error, response) => {
        if (error) reject(error);
        else resolve(response);
      });
    });
  }

  stop(): void {
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.stream?.cancel();
    this.stream = null;
    this.streamOpen = false;
    this.telemetryClient?.close();
    this.policyClient?.close();
    this.channel?.close();
  }
}

/** How a fleet's paced connect went. */
export interface ConnectReport {
  seconds: number;
  steps: number;
  /** Steps judged congested (failures or agents not through in time), slow and fast. */
  verdicts: Record<StepVerdict, number>;
  /** Agents started per second when the last step began. */
  finalRate: number;
  streamsOpen: number;
  /** Agents never started because the time budget ran out. */
  notStarted: number;
}

/**
 * N simulated agents in one process, each with its own mTLS connection to the collector: a
 * WatchPolicy stream held open (re-opened with a growing delay when it breaks), heartbeats on a
 * schedule, and event batches from the fleet's upload loop, which spreads batches round-robin
 * over the agents at the asked rate within a bounded number of calls in flight.
 */
export class Fleet {
  readonly counters: FleetCounters = { eventsSent: 0, eventsStored: 0, duplicates: 0, uploadCalls: 0, uploadErrors: {}, heartbeatsAnswered: 0, heartbeatsFailed: 0, streamErrors: 0, streamsEstablished: 0 };
  stopped = false;
  private readonly agents: SimulatedAgent[];
  private readonly positions: Map<SimulatedAgent, number>;
  private policyListeners: Array<() => void> = [];
  private policyArrivals: Array<(agentPosition: number, version: bigint, receivedAt: number) => void> = [];

  constructor(private readonly options: FleetOptions) {
    if (options.identities.length === 0) throw new Error('a fleet needs at least one agent identity');
    if (!(options.batch >= 1 && options.batch <= 5000)) throw new Error(`batch must be 1..5000 events, got ${options.batch}`);
    if (!(options.rate >= 0)) throw new Error(`rate must be 0 (unlimited) or more events/s, got ${options.rate}`);
    if (!(options.concurrency >= 1)) throw new Error(`concurrency must be at least 1, got ${options.concurrency}`);
    this.agents = options.identities.map((identity) => new SimulatedAgent(identity, this, options));
    this.positions = new Map(this.agents.map((agent, position) => [agent, position]));
  }

  get size(): number {
    return this.agents.length;
  }

  /**
   * Starts every agent (its stream and heartbeats) in paced steps (see ConnectPacer): each step
   * spreads its starts over `stepMs`, then waits until its agents hold their streams (without
   * WatchPolicy: only the starts are paced). `onStep` hears each step's outcome. No step begins
   * after `budgetMs`: the agents left are not started (the report counts them), so a collector
   * that stops taking connections ends the run instead of stretching it without bound.
   */
  async connect(
    pacing: Partial<PacingOptions> = {},
    onStep?: (step: { index: number; rate: number; outcome: StepOutcome; verdict: StepVerdict; started: number }) => void,
    budgetMs = Number.POSITIVE_INFINITY,
  ): Promise<ConnectReport> {
    const pacer = new ConnectPacer({ ...DEFAULT_PACING, ...pacing });
    const began = Date.now();
    const verdicts: Record<StepVerdict, number> = { fast: 0, slow: 0, congested: 0 };
    let next = 0;
    let steps = 0;
    let lastRate = pacer.rate;
    while (next < this.agents.length && !this.stopped && Date.now() - began < budgetMs) {
      lastRate = pacer.rate;
      const size = pacer.stepSize(this.agents.length - next);
      const step = this.agents.slice(next, next + size);
      next += size;
      const failuresBefore = this.counters.streamErrors;
      // Start in slices every 50 ms: evenly spread without a timer per agent.
      const slices = Math.max(1, Math.round(pacer.options.stepMs / 50));
      const stepStart = Date.now();
      for (let slice = 0; slice < slices; slice++) {
        for (const agent of step.slice(Math.floor((slice * size) / slices), Math.floor(((slice + 1) * size) / slices))) agent.start();
        const due = stepStart + ((slice + 1) * pacer.options.stepMs) / slices;
        await sleep(due - Date.now());
      }
      const settleStart = Date.now();
      const through = () => (this.options.watchPolicy ? step.filter((a) => a.streamOpen).length : step.length);
      while (through() < step.length && Date.now() - settleStart < pacer.options.settleTimeoutMs && !this.stopped) await sleep(50);
      const outcome: StepOutcome = { started: step.length, established: through(), failures: this.counters.streamErrors - failuresBefore, settleMs: Date.now() - settleStart };
      const verdict = pacer.record(outcome);
      verdicts[verdict] += 1;
      onStep?.({ index: steps, rate: lastRate, outcome, verdict, started: next });
      steps += 1;
    }
    return { seconds: (Date.now() - began) / 1000, steps, verdicts, finalRate: lastRate, streamsOpen: this.streamsOpen(), notStarted: this.agents.length - next };
  }

  streamsOpen(): number {
    return this.agents.filter((a) => a.streamOpen).length;
  }

  /** The policy version each agent holds and when it got it. */
  policyHoldings(): Array<{ version: bigint; receivedAt: number }> {
    return this.agents.map((a) => ({ version: a.policyVersion, receivedAt: a.policyReceivedAt }));
  }

  policyReceived(agent: SimulatedAgent): void {
    if (this.policyArrivals.length > 0) {
      const position = this.positions.get(agent)!;
      for (const arrival of this.policyArrivals) arrival(position, agent.policyVersion, agent.policyReceivedAt);
    }
    for (const listener of this.policyListeners) listener();
  }

  /** Tells `listener` of every new policy an agent takes: its position in the identities, the version, when. */
  onPolicy(listener: (agentPosition: number, version: bigint, receivedAt: number) => void): void {
    this.policyArrivals.push(listener);
  }

  /** Resolves when `test` holds on the holdings (checked on every policy arrival), or rejects after `timeoutMs`. */
  waitForPolicies(test: (holdings: Array<{ version: bigint; receivedAt: number }>) => boolean, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout;
      const check = () => {
        if (!test(this.policyHoldings())) return;
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

  /**
   * Uploads for `durationMs` (the calls in flight at the end are awaited and counted).
   * `onStored` is told of every acknowledged batch with the time it was acknowledged.
   */
  async uploadFor(durationMs: number, onStored?: (stored: number, atMs: number) => void): Promise<void> {
    const { rate, batch, concurrency } = this.options;
    const started = Date.now();
    const deadline = started + durationMs;
    let next = 0;
    let sentBatches = 0;
    const worker = async () => {
      while (!this.stopped && Date.now() < deadline) {
        if (rate > 0) {
          // Batch k is due at started + k*batch/rate: pace to the asked rate, never burst ahead of it.
          const dueAt = started + (sentBatches * batch * 1000) / rate;
          sentBatches += 1;
          const wait = dueAt - Date.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          if (Date.now() >= deadline) return;
        }
        const agent = this.agents[next++ % this.agents.length]!;
        this.counters.uploadCalls += 1;
        this.counters.eventsSent += batch;
        try {
          const response = await agent.upload(batch);
          this.counters.eventsStored += response.storedCount;
          this.counters.duplicates += response.duplicateCount;
          onStored?.(response.storedCount, Date.now());
        } catch (error) {
          const name = grpc.status[(error as grpc.ServiceError).code] ?? String(error);
          this.counters.uploadErrors[name] = (this.counters.uploadErrors[name] ?? 0) + 1;
          // A refused or failed call is not retried here: the figure is what the collector stored.
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  }

  stop(): void {
    this.stopped = true;
    for (const agent of this.agents) agent.stop();
  }
}

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}
