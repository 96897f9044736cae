import * as grpc from '@grpc/grpc-js';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EnrollmentServiceClient, type EnrollResponse } from '../../../agent/src/generated/mamori/v1/enrollment';
import { credentialsFor } from '../../e2e/support/grpc-clients';
import { fetchPresentedCa, makeKeyAndCsr } from '../../e2e/support/pki';

/** What a simulated agent needs to speak mTLS to the collector, as enrollment left it. */
export interface AgentIdentity {
  index: number;
  agentId: string;
  certPem: string;
  privateKeyPem: string;
  hostname: string;
}

export interface IdentitySet {
  caPem: string;
  caPin: string;
  identities: AgentIdentity[];
  /** How many of them were enrolled by this call (the rest came from the cache). */
  enrolled: number;
}

/**
 * Gives `count` enrolled identities for the collector at `address`: those already in
 * `<cacheDir>/<CA pin>/agent-<index>.json` are reused (a collector keeps its CA across restarts,
 * so the same pin means the same collector and the identities are still known to it), the rest
 * enroll with `token` (a fresh ECDSA P-256 key and CSR each, as the agent does) and are written
 * to the cache. Without a cache folder every identity enrolls. Enrollment failures reject with
 * the gRPC status and the agent index.
 */
export async function provideIdentities(options: {
  address: string;
  token: string;
  count: number;
  cacheDir?: string;
  concurrency?: number;
  onProgress?: (done: number) => void;
}): Promise<IdentitySet> {
  const ca = await fetchPresentedCa(options.address);
  const folder = options.cacheDir === undefined ? undefined : join(options.cacheDir, ca.pin);
  if (folder !== undefined) mkdirSync(folder, { recursive: true, mode: 0o700 });
  const identities: AgentIdentity[] = new Array(options.count);
  const missing: number[] = [];
  for (let index = 0; index < options.count; index++) {
    const file = folder === undefined ? undefined : join(folder, `agent-${index}.json`);
    if (file !== undefined && existsSync(file)) identities[index] = JSON.parse(readFileSync(file, 'utf8')) as AgentIdentity;
    else missing.push(index);
  }
  const client = new EnrollmentServiceClient(options.address, credentialsFor(ca.pem));
  let done = options.count - missing.length;
  try {
    const next = () => missing.shift();
    const worker = async () => {
      for (let index = next(); index !== undefined; index = next()) {
        const identity = await enrollOne(client, options.token, index);
        identities[index] = identity;
        if (folder !== undefined) {
          const file = join(folder, `agent-${index}.json`);
          writeFileSync(`${file}.tmp`, JSON.stringify(identity), { mode: 0o600 });
          renameSync(`${file}.tmp`, file);
        }
        done += 1;
        if (done % 500 === 0) options.onProgress?.(done);
      }
    };
    const enrolling = missing.length;
    await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 8, Math.max(1, missing.length)) }, worker));
    return { caPem: ca.pem, caPin: ca.pin, identities, enrolled: enrolling };
  } finally {
    client.close();
  }
}

async function enrollOne(client: EnrollmentServiceClient, token: string, index: number): Promise<AgentIdentity> {
  const hostname = `loadgen-${String(index).padStart(5, '0')}`;
  const { csrPem, privateKeyPem } = await makeKeyAndCsr(hostname);
  const request = {
    enrollmentToken: token,
    certificateSigningRequestPem: csrPem,
    host: { hostname, osFamily: 'linux', osVersion: 'Ubuntu 24.04', agentVersion: '0.0.0-loadgen', loggedInUsers: [], networkInterfaces: [], architecture: 'x64', machineId: '', hardwareSerial: '', hardwareModel: '', hardwareVendor: '' },
  };
  const response = await new Promise<EnrollResponse>((resolve, reject) => {
    client.enroll(request, new grpc.Metadata(), { deadline: Date.now() + 60_000 }, (error, r) => {
      if (error) reject(new Error(`enrolling simulated agent ${index} failed: ${grpc.status[error.code]} ${error.details}`));
      else resolve(r);
    });
  });
  return { index, agentId: response.agentId, certPem: response.clientCertificatePem, privateKeyPem, hostname };
}
