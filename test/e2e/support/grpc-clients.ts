import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { EnrollmentServiceClient, EnrollResponse } from '../../../agent/src/generated/mamori/v1/enrollment';
import { PolicyServiceClient } from '../../../agent/src/generated/mamori/v1/policy';
import { TelemetryServiceClient } from '../../../agent/src/generated/mamori/v1/telemetry';
import { makeKeyAndCsr } from './pki';

/** Client credentials for the tests: the pinned CA, and a client certificate when given. */
export function credentialsFor(caPem: string, client?: { certPem: string; privateKeyPem: string }): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(
    Buffer.from(caPem),
    client ? Buffer.from(client.privateKeyPem) : null,
    client ? Buffer.from(client.certPem) : null,
  );
}

export interface TestClients {
  enrollment: EnrollmentServiceClient;
  telemetry: TelemetryServiceClient;
  policy: PolicyServiceClient;
  close(): void;
}

export function clientsFor(address: string, credentials: grpc.ChannelCredentials, options: grpc.ClientOptions = {}): TestClients {
  const enrollment = new EnrollmentServiceClient(address, credentials, options);
  const telemetry = new TelemetryServiceClient(address, credentials, options);
  const policy = new PolicyServiceClient(address, credentials, options);
  return {
    enrollment,
    telemetry,
    policy,
    close: () => {
      enrollment.close();
      telemetry.close();
      policy.close();
    },
  };
}

/** Calls a unary method of a generated client and resolves with the response or the gRPC error. */
export function unary<Req, Res>(
  client: grpc.Client,
  method: (req: Req, metadata: grpc.Metadata, options: Partial<grpc.CallOptions>, cb: (e: grpc.ServiceError | null, r: Res) => void) => grpc.ClientUnaryCall,
  request: Req,
): Promise<{ error: grpc.ServiceError | null; response: Res | undefined }> {
  return new Promise((resolve) => {
    method.call(client, request, new grpc.Metadata(), { deadline: Date.now() + 15_000 }, (error, response) =>
      resolve({ error, response: error ? undefined : response }),
    );
  });
}

/** A heartbeat with host facts only: enough for the collector to answer. */
export const minimalHeartbeat = {
  host: {
    hostname: 'e2e-host',
    osFamily: process.platform,
    osVersion: 'test',
    agentVersion: '0.0.0-test',
    loggedInUsers: [],
    networkInterfaces: [],
    architecture: process.arch,
    machineId: '',
  },
  posture: undefined,
  health: undefined,
  // The generated client encodes repeated fields without a default: an absent list fails serialization.
  trustedCaPins: [],
};

/** Enrolls directly over gRPC (not through the agent CLI) and returns a usable client identity. */
export async function enrollDirectly(
  address: string,
  caPem: string,
  token: string,
): Promise<{ error: grpc.ServiceError | null; identity?: { certPem: string; privateKeyPem: string; agentId: string } }> {
  const { csrPem, privateKeyPem } = await makeKeyAndCsr();
  const clients = clientsFor(address, credentialsFor(caPem));
  try {
    const { error, response } = await unary<any, EnrollResponse>(clients.enrollment, clients.enrollment.enroll as any, {
      enrollmentToken: token,
      certificateSigningRequestPem: csrPem,
      host: minimalHeartbeat.host,
    });
    if (error || !response) return { error };
    return { error: null, identity: { certPem: response.clientCertificatePem, privateKeyPem, agentId: response.agentId } };
  } finally {
    clients.close();
  }
}

/** Asks the standard grpc.health.v1 service whether the collector is serving. */
export function checkHealth(address: string, caPem: string): Promise<string> {
  const HealthClient = grpc.makeGenericClientConstructor(healthService, 'Health');
  const client = new HealthClient(address, credentialsFor(caPem)) as grpc.Client & Record<string, Function>;
  return new Promise((resolve, reject) => {
    client.check({ service: '' }, { deadline: Date.now() + 10_000 }, (error: grpc.ServiceError | null, response: { status: string }) => {
      client.close();
      if (error) reject(error);
      else resolve(response.status);
    });
  });
}

