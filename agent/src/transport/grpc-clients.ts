import * as grpc from '@grpc/grpc-js';
import { PolicyServiceClient } from '../generated/mamori/v1/policy';
import { TelemetryServiceClient } from '../generated/mamori/v1/telemetry';
import type { AgentCredentials } from '../state/agent-identity';

export interface AgentClients {
  telemetry: TelemetryServiceClient;
  policy: PolicyServiceClient;
  close(): void;
}

/** createAgentClients' clients and the channel credentials they share (for further services). */
export interface CreatedAgentClients extends AgentClients {
  channelCredentials: grpc.ChannelCredentials;
}

export const CHANNEL_OPTIONS: grpc.ClientOptions = {
  // Keep an idle connection alive through NAT boxes and notice a dead collector.
  'grpc.keepalive_time_ms': 60_000,
  'grpc.keepalive_timeout_ms': 20_000,
  // Reconnect quickly once the collector is back; our own backoff paces the calls.
  'grpc.initial_reconnect_backoff_ms': 250,
  'grpc.max_reconnect_backoff_ms': 10_000,
};

/**
 * mTLS clients for every RPC but Enroll: the pinned collector CA is the only root, and the
 * agent's own key and certificate identify it. Channels connect lazily; calls fail with the
 * usual gRPC status codes (UNAVAILABLE while the collector is down, UNAUTHENTICATED when refused).
 */
export function createAgentClients(target: string, credentials: AgentCredentials): CreatedAgentClients {
  const channelCredentials = grpc.credentials.createSsl(
    Buffer.from(credentials.caPem),
    Buffer.from(credentials.privateKeyPem),
    Buffer.from(credentials.certificatePem),
  );
  const telemetry = new TelemetryServiceClient(target, channelCredentials, CHANNEL_OPTIONS);
  const policy = new PolicyServiceClient(target, channelCredentials, CHANNEL_OPTIONS);
  return {
    telemetry,
    policy,
    channelCredentials,
    close: () => {
      telemetry.close();
      policy.close();
    },
  };
}

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  callback: (error: grpc.ServiceError | null, response: Res) => void,
) => grpc.ClientUnaryCall;

/** Calls a generated unary method as a promise with a deadline; rejects with the grpc ServiceError. */
export function callUnary<Req, Res>(method: UnaryMethod<Req, Res>, request: Req, timeoutMs: number): Promise<Res> {
  return new Promise((resolve, reject) => {
    method(request, new grpc.Metadata(), { deadline: new Date(Date.now() + timeoutMs) }, (error, response) => {
      if (error) reject(error);
      else resolve(response);
    });
  });
}

export function isServiceError(error: unknown): error is grpc.ServiceError {
  return typeof error === 'object' && error !== null && typeof (error as grpc.ServiceError).code === 'number' && 'metadata' in error;
}

export function statusName(code: number): string {
  return grpc.status[code] ?? String(code);
}
