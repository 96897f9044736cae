import * as grpc from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import { PolicyServiceClient, type WatchPolicyResponse } from '../../../agent/src/generated/mamori/v1/policy';
import { TelemetryServiceClient, type HeartbeatRequest, type UploadEventsResponse } from '../../../agent/src/generated/mamori/v1/telemetry';
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
  streamErrors: number;
}

class SimulatedAgent {
  readonly telemetry: TelemetryServiceClient;
  readonly policy: PolicyServiceClient;
  readonly mix: EventMix;
  stream: grpc.ClientReadableStream<WatchPolicyResponse> | null = null;
  streamOpen = false;
  /** Newest policy version this agent holds, and when it arrived (ms since epoch). */
  policyVersion = 0n;
  policyLineage = '';
  policyReceivedAt = 0;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly identity: AgentIdentity,
    private readonly fleet: Fleet,
    options: FleetOptions,
  ) {
    const credentials = grpc.credentials.createSsl(Buffer.from(options.caPem), Buffer.from(identity.privateKeyPem), Buffer.from(identity.certPem));
    const channelOptions: grpc.ClientOptions = { 'grpc.keepalive_time_ms': 60_000, 'grpc.initial_reconnect_backoff_ms': 250, 'grpc.max_reconnect_backoff_ms': 5_000 };
    this.telemetry = new TelemetryServiceClient(options.address, credentials, channelOptions);
    // Same target, credentials object and options: grpc-js gives both clients the one connection, as in the agent.
    this.policy = new PolicyServiceClient(options.address, credentials, channelOptions);
    this.mix = new EventMix(identity.index, { seed: options.seed, weights: options.weights });
  }

  start(options: FleetOptions): void {
    if (options.watchPolicy) this.watch();
    const periodMs = options.heartbeatSeconds * 1000;
    if (periodMs > 0) {
      const first = Math.floor(Math.random() * periodMs);
      this.heartbeatTimer = setTimeout(() => this.heartbeat(periodMs), first);
    }
  }

  private watch(): void {
    if (this.fleet.stopped) return;
    const stream = this.policy.watchPolicy({ knownVersion: String(this.policyVersion), knownLineageId: this.policyLineage });
    this.stream = stream;
    stream.on('metadata', () => {
      this.streamOpen = true;
    });
    stream.on('data', (response: WatchPolicyResponse) => {
      this.streamOpen = true;
      if (response.policy === undefined) return;
      this.policyVersion = BigInt(response.policy.version);
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
      this.reconnectTimer = setTimeout(() => this.watch(), 1000 + Math.floor(Math.random() * 1000));
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
    };
    this.telemetry.heartbeat(request, new grpc.Metadata(), { deadline: Date.now() + 30_000 }, (error) => {
      if (error) this.fleet.counters.heartbeatsFailed += 1;
      else this.fleet.counters.heartbeatsAnswered += 1;
    });
    this.heartbeatTimer = setTimeout(() => this.heartbeat(periodMs), periodMs);
  }

  upload(count: number): Promise<UploadEventsResponse> {
    const events = this.mix.batch(count);
    return new Promise((resolve, reject) => {
      this.telemetry.uploadEvents({ batchId: randomUUID(), events }, new grpc.Metadata(), { deadline: Date.now() + 60_000 }, (error, response) => {
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
    this.telemetry.close();
    this.policy.close();
  }
}

/**
 * N simulated agents in one process, each with its own mTLS connection to the collector: a
 * WatchPolicy stream held open (re-opened after a second when it breaks), heartbeats on a
 * schedule, and event batches from the fleet's upload loop, which spreads batches round-robin
 * over the agents at the asked rate within a bounded number of calls in flight.
 */
export class Fleet {
  readonly counters: FleetCounters = { eventsSent: 0, eventsStored: 0, duplicates: 0, uploadCalls: 0, uploadErrors: {}, heartbeatsAnswered: 0, heartbeatsFailed: 0, streamErrors: 0 };
  stopped = false;
  private readonly agents: SimulatedAgent[];
  private policyListeners: Array<() => void> = [];

  constructor(private readonly options: FleetOptions) {
    if (options.identities.length === 0) throw new Error('a fleet needs at least one agent identity');
    if (!(options.batch >= 1 && options.batch <= 5000)) throw new Error(`batch must be 1..5000 events, got ${options.batch}`);
    if (!(options.rate >= 0)) throw new Error(`rate must be 0 (unlimited) or more events/s, got ${options.rate}`);
    if (!(options.concurrency >= 1)) throw new Error(`concurrency must be at least 1, got ${options.concurrency}`);
    this.agents = options.identities.map((identity) => new SimulatedAgent(identity, this, options));
  }

  get size(): number {
    return this.agents.length;
  }

  /** Opens the streams and starts the heartbeats, `perSecond` agents a second (0: all at once). */
  async connect(perSecond = 0): Promise<void> {
    for (let i = 0; i < this.agents.length; i++) {
      this.agents[i]!.start(this.options);
      if (perSecond > 0 && (i + 1) % perSecond === 0) await new Promise((r) => setTimeout(r, 1000));
    }
  }

  streamsOpen(): number {
    return this.agents.filter((a) => a.streamOpen).length;
  }

  /** The policy version each agent holds and when it got it. */
  policyHoldings(): Array<{ version: bigint; receivedAt: number }> {
    return this.agents.map((a) => ({ version: a.policyVersion, receivedAt: a.policyReceivedAt }));
  }

  policyReceived(_agent: SimulatedAgent): void {
    for (const listener of this.policyListeners) listener();
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
