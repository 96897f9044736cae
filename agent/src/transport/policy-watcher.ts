import * as grpc from '@grpc/grpc-js';
import type { Policy, PolicyServiceClient, WatchPolicyResponse } from '../generated/mamori/v1/policy';
import { decidePolicySuccession } from '../core/policy-succession';
import type { Logger } from '../logging/logger';
import { storeCachedPolicy } from '../state/policy-cache';
import type { ConnectionMonitor } from '../state/status-file';
import { Backoff, sleep } from './backoff';
import { callUnary, statusName } from './grpc-clients';

export interface PolicyWatcherOptions {
  client: PolicyServiceClient;
  cachePath: string;
  monitor: ConnectionMonitor;
  logger: Logger;
  /** The policy loaded from the cache at start, or null. */
  initial: Policy | null;
  /** Called after a newer policy was cached and became the running one. */
  onApplied: (policy: Policy, previousVersion: bigint) => Promise<void>;
  backoff?: Backoff;
}

/**
 * Keeps the running policy current: GetPolicy at start (and when a heartbeat says there is a
 * newer version), plus a WatchPolicy stream that is reopened with backoff whenever it ends.
 * A newer policy is written to policy.bin atomically before it becomes the running one, so a
 * restarted agent enforces it offline. Every request names the running policy's version and
 * lineage; an offered policy is applied when its lineage differs from the running one (the
 * collector's database was recreated or restored, and numbering started again) or when it is
 * strictly newer within the same lineage (see decidePolicySuccession).
 */
export class PolicyWatcher {
  private current: Policy | null;
  private applying: Promise<void> = Promise.resolve();
  private readonly backoff: Backoff;
  /** The WatchPolicy stream now open, if any. */
  private stream: grpc.ClientReadableStream<WatchPolicyResponse> | null = null;

  constructor(private readonly options: PolicyWatcherOptions) {
    this.current = options.initial;
    this.backoff = options.backoff ?? new Backoff(500, 30_000);
  }

  get policy(): Policy | null {
    return this.current;
  }

  get version(): bigint {
    return this.current === null ? 0n : BigInt(this.current.version);
  }

  /** The running policy's lineage, empty when there is none (or it came from a collector without lineages). */
  get lineageId(): string {
    return this.current?.lineageId ?? '';
  }

  private known(): { knownVersion: string; knownLineageId: string } {
    return { knownVersion: this.version.toString(), knownLineageId: this.lineageId };
  }

  private offer(policy: Policy | undefined): Promise<void> {
    if (policy === undefined) return this.applying;
    this.applying = this.applying.then(async () => {
      const previous = this.version;
      const previousLineage = this.lineageId;
      const decision = decidePolicySuccession(this.current, policy);
      if (!decision.take) return;
      if (decision.lineageChanged) {
        // Loud on purpose: a lower version replaces the cached one, which is only right when the
        // collector's database really was recreated or restored; an operator should know.
        this.options.logger.warn('POLICY LINEAGE CHANGED: the collector database was recreated or restored; taking its policy even if its version number is lower', {
          previousLineageId: previousLineage,
          previousVersion: previous.toString(),
          lineageId: policy.lineageId,
          policyVersion: policy.version,
        });
      }
      try {
        await storeCachedPolicy(this.options.cachePath, policy);
      } catch (error) {
        this.options.logger.error('could not cache the new policy; running it anyway', { error: error as Error });
      }
      this.current = policy;
      this.options.logger.info('policy applied', {
        policyVersion: policy.version,
        previousVersion: previous.toString(),
        lineageId: policy.lineageId,
        registeredDevices: policy.usb?.registeredDevices.length ?? 0,
      });
      await this.options.onApplied(policy, previous).catch((error: Error) => {
        this.options.logger.error('could not record the policy change', { error });
      });
    });
    return this.applying;
  }

  /** One GetPolicy round trip; failures are logged and left to the next trigger. */
  async refresh(): Promise<void> {
    const { client, monitor, logger } = this.options;
    try {
      const response = await callUnary(client.getPolicy.bind(client), this.known(), 15_000);
      monitor.contact();
      if (!response.unchanged) await this.offer(response.policy);
    } catch (error) {
      const e = error as grpc.ServiceError;
      monitor.failure(`GetPolicy failed (${statusName(e.code)}): ${e.details}`, e.code === grpc.status.UNAUTHENTICATED);
      logger.debug('GetPolicy failed', { code: statusName(e.code), reason: e.details });
    }
  }

  /**
   * Ends the open WatchPolicy stream so that `run` opens the next one at once, on the client's
   * current connection (after a certificate renewal the collector stops accepting the old one).
   */
  reconnect(): void {
    this.stream?.cancel();
  }

  /** Runs GetPolicy once, then keeps a WatchPolicy stream open until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    await this.refresh();
    while (!signal.aborted) {
      const received = await this.watchOnce(signal);
      if (signal.aborted) break;
      if (received) this.backoff.reset();
      await sleep(this.backoff.next(), signal);
    }
  }

  /** One stream's life; resolves when it ends. True when it delivered anything. */
  private watchOnce(signal: AbortSignal): Promise<boolean> {
    const { client, monitor, logger } = this.options;
    return new Promise((resolve) => {
      let received = false;
      const stream = client.watchPolicy(this.known());
      this.stream = stream;
      const onAbort = () => stream.cancel();
      signal.addEventListener('abort', onAbort, { once: true });
      const finish = () => {
        if (this.stream === stream) this.stream = null;
        signal.removeEventListener('abort', onAbort);
        resolve(received);
      };
      stream.on('metadata', () => {
        received = true;
        monitor.contact();
      });
      stream.on('data', (message: WatchPolicyResponse) => {
        received = true;
        monitor.contact();
        void this.offer(message.policy);
      });
      stream.on('error', (error: grpc.ServiceError) => {
        if (error.code !== grpc.status.CANCELLED) {
          monitor.failure(`WatchPolicy ended (${statusName(error.code)}): ${error.details}`, error.code === grpc.status.UNAUTHENTICATED);
          logger.debug('policy stream ended', { code: statusName(error.code), reason: error.details });
        }
      });
      stream.on('close', finish);
    });
  }
}
