import * as grpc from '@grpc/grpc-js';
import type { HeartbeatRequest, TelemetryServiceClient } from '../generated/mamori/v1/telemetry';
import type { Logger } from '../logging/logger';
import type { ConnectionMonitor } from '../state/status-file';
import { sleep } from './backoff';
import { callUnary, statusName } from './grpc-clients';

export interface HeartbeatOptions {
  client: TelemetryServiceClient;
  monitor: ConnectionMonitor;
  logger: Logger;
  /** Builds the report at send time (fresh facts, posture and health). */
  buildRequest: () => Promise<HeartbeatRequest>;
  /** MAMORI_AGENT_HEARTBEAT_SECONDS: wins over what the collector asks for. */
  overrideSeconds?: number;
  /** Used until the collector has answered once. */
  defaultSeconds?: number;
  /**
   * The collector announced another policy version than the running one. Not only a higher one:
   * after the collector's database was recreated its numbers restart lower, and only GetPolicy
   * (which compares lineages) can tell whether the agent is behind.
   */
  onNewerPolicy: (version: bigint) => void;
  runningPolicyVersion: () => bigint;
  /** Whether the collector asks for a certificate renewal now (CA rotation), with its reason; every answer says. */
  onRenewalAdvice?: (requested: boolean, reason: string) => void;
}

/**
 * Sends a heartbeat at once, then every N seconds (the collector's next_heartbeat_seconds, or
 * the override). A failed heartbeat is logged and the next one goes out on schedule; the
 * uploader's backoff already paces reconnection. Returns when `signal` aborts.
 */
export async function runHeartbeats(options: HeartbeatOptions, signal: AbortSignal): Promise<void> {
  let intervalSeconds = options.overrideSeconds ?? options.defaultSeconds ?? 60;
  while (!signal.aborted) {
    try {
      const request = await options.buildRequest();
      const response = await callUnary(options.client.heartbeat.bind(options.client), request, 15_000);
      options.monitor.contact();
      if (options.overrideSeconds === undefined && response.nextHeartbeatSeconds > 0) intervalSeconds = response.nextHeartbeatSeconds;
      const announced = BigInt(response.currentPolicyVersion || '0');
      if (announced !== options.runningPolicyVersion()) options.onNewerPolicy(announced);
      options.onRenewalAdvice?.(response.renewCertificate, response.renewCertificateReason || 'the collector asked for it');
    } catch (error) {
      const e = error as grpc.ServiceError;
      if (typeof e.code === 'number') {
        options.monitor.failure(`Heartbeat failed (${statusName(e.code)}): ${e.details}`, e.code === grpc.status.UNAUTHENTICATED);
        options.logger.debug('heartbeat failed', { code: statusName(e.code), reason: e.details });
      } else {
        options.logger.error('could not build the heartbeat', { error: error as Error });
      }
    }
    await sleep(intervalSeconds * 1000, signal);
  }
}
