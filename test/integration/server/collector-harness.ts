import 'reflect-metadata';
import type { TestContext } from 'node:test';
import { deferCleanup } from '../../support/cleanup-scope';
import { randomUUID, webcrypto } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import * as x509 from '@peculiar/x509';
import { EnrollmentServiceClient, EnrollResponse } from '../../../agent/src/generated/mamori/v1/enrollment';
import { Event } from '../../../agent/src/generated/mamori/v1/events';
import { PolicyServiceClient } from '../../../agent/src/generated/mamori/v1/policy';
import { TelemetryServiceClient } from '../../../agent/src/generated/mamori/v1/telemetry';
import { loadCollectorConfig } from '../../../server/src/config/collector-config';
import { CollectorStartOptions, RunningCollector, startCollector } from '../../../server/src/collector';
import { JsonLogger } from '../../../server/src/logging/json-logger';
import { DatabaseKind, provideDatabase } from '../../support/databases';
import { freePort } from '../../support/ports';

export const ADMIN_TOKEN = 'integration-test-admin-token-0123456789';

/** A collector running in this test process on its own database, ports and data folder. */
export interface TestCollector {
  collector: RunningCollector;
  grpcTarget: string;
  httpBase: string;
  caPem: string;
  logs: string[];
  rest<T = any>(method: string, path: string, body?: unknown, token?: string | null): Promise<{ status: number; body: T }>;
}

/**
 * Starts the collector against a fresh database of `kind`; returns null when the test was
 * skipped (PostgreSQL unreachable outside CI). Everything is torn down with t.after.
 */
export async function startTestCollector(
  t: TestContext,
  kind: DatabaseKind,
  env: Record<string, string> = {},
  options: CollectorStartOptions = {},
): Promise<TestCollector | null> {
  const database = await provideDatabase(t, kind);
  if (database === null) return null;
  const logs: string[] = [];
  let grpcPort = 0;
  let httpPort = 0;
  let collector: RunningCollector | undefined;
  // A port found free can be taken by another process before the collector binds it (freePort
  // closes its probe first); such a start is retried on new ports instead of failing the test.
  for (let attempt = 1; collector === undefined; attempt++) {
    grpcPort = await freePort();
    httpPort = await freePort();
    const config = loadCollectorConfig({
      MAMORI_DATA_DIR: database.dataDir,
      MAMORI_DATABASE_URL: database.url,
      MAMORI_GRPC_ADDRESS: `127.0.0.1:${grpcPort}`,
      MAMORI_HTTP_ADDRESS: `127.0.0.1:${httpPort}`,
      MAMORI_ADMIN_TOKEN: ADMIN_TOKEN,
      MAMORI_SERVER_NAMES: 'localhost,127.0.0.1',
      MAMORI_LOG_LEVEL: 'warn',
      ...env,
    });
    const portsChosenHere = env.MAMORI_GRPC_ADDRESS === undefined && env.MAMORI_HTTP_ADDRESS === undefined;
    try {
      collector = await startCollector(config, new JsonLogger('warn', (line) => logs.push(line)), options);
    } catch (error) {
      if (!portsChosenHere || attempt >= 3 || !/EADDRINUSE|address already in use/i.test(String((error as Error)?.message ?? error))) throw error;
    }
  }
  const started = collector;
  deferCleanup(t, () => started.close());
  const httpBase = `http://127.0.0.1:${httpPort}`;
  return {
    collector: started,
    grpcTarget: `127.0.0.1:${grpcPort}`,
    httpBase,
    caPem: collector.core.pki.caCertificatePem,
    logs,
    rest: async (method, path, body, token = ADMIN_TOKEN) => {
      const headers: Record<string, string> = {};
      if (token !== null) headers.authorization = `Bearer ${token}`;
      if (body !== undefined) headers['content-type'] = 'application/json';
      const response = await fetch(`${httpBase}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await response.text();
      return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
    },
  };
}

/** A key pair and a PKCS#10 request, as the agent makes them. */
export async function makeAgentKey(): Promise<{ keyPem: string; csrPem: string }> {
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'CN=mamori-agent',
    keys: keys as unknown as Parameters<typeof x509.Pkcs10CertificateRequestGenerator.create>[0]['keys'],
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } as never,
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return { keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'), csrPem: csr.toString('pem') };
}

/** Options that keep test channels independent of each other (no shared subchannels). */
const CHANNEL_OPTIONS = { 'grpc.use_local_subchannel_pool': 1 };

export function enrollmentClient(t: TestContext, collector: TestCollector): EnrollmentServiceClient {
  const client = new EnrollmentServiceClient(collector.grpcTarget, grpc.credentials.createSsl(Buffer.from(collector.caPem)), CHANNEL_OPTIONS);
  deferCleanup(t, () => client.close());
  return client;
}

export interface EnrolledAgent {
  agentId: string;
  keyPem: string;
  certificatePem: string;
  response: EnrollResponse;
  credentials: grpc.ChannelCredentials;
}

/** Creates a token over REST and enrolls through the real Enroll RPC. */
export async function enrollAgent(t: TestContext, collector: TestCollector, hostname = 'test-host'): Promise<EnrolledAgent> {
  const created = await collector.rest('POST', '/api/v1/enrollment-tokens', { label: 'test' });
  if (created.status !== 201) throw new Error(`token creation failed: ${JSON.stringify(created.body)}`);
  const { keyPem, csrPem } = await makeAgentKey();
  const response = await unary<EnrollResponse>((callback) =>
    enrollmentClient(t, collector).enroll(
      {
        enrollmentToken: created.body.token,
        certificateSigningRequestPem: csrPem,
        host: { hostname, osFamily: 'linux', osVersion: '6.1', agentVersion: '0.1.0', loggedInUsers: ['alice'], networkInterfaces: [], architecture: 'x64', machineId: '', hardwareSerial: '', hardwareModel: '', hardwareVendor: '' },
      },
      callback,
    ),
  );
  return {
    agentId: response.agentId,
    keyPem,
    certificatePem: response.clientCertificatePem,
    response,
    credentials: grpc.credentials.createSsl(Buffer.from(collector.caPem), Buffer.from(keyPem), Buffer.from(response.clientCertificatePem)),
  };
}

export function telemetryClient(t: TestContext, collector: TestCollector, credentials: grpc.ChannelCredentials): TelemetryServiceClient {
  const client = new TelemetryServiceClient(collector.grpcTarget, credentials, CHANNEL_OPTIONS);
  deferCleanup(t, () => client.close());
  return client;
}

export function policyClient(t: TestContext, collector: TestCollector, credentials: grpc.ChannelCredentials): PolicyServiceClient {
  const client = new PolicyServiceClient(collector.grpcTarget, credentials, CHANNEL_OPTIONS);
  deferCleanup(t, () => client.close());
  return client;
}

/** Turns a grpc-js callback call into a promise; rejects with the ServiceError. */
export function unary<T>(invoke: (callback: (error: grpc.ServiceError | null, response: T) => void) => unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    invoke((error, response) => (error === null ? resolve(response) : reject(error)));
  });
}

/** Resolves with the ServiceError of a call that must fail. */
export async function failure(call: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await call;
  } catch (error) {
    return error as grpc.ServiceError;
  }
  throw new Error('the call succeeded but was expected to fail');
}

export interface UsbFixture {
  vendorId?: number;
  productId?: number;
  serial?: string;
  interfaceClasses?: number[];
}

let nextSequence = 1;

/** A UsbDeviceAttached event with a fresh id. */
export function usbAttached(device: UsbFixture = {}, occurredAt = new Date()): Event {
  return Event.fromPartial({
    eventId: randomUUID(),
    occurredAt: { seconds: String(Math.floor(occurredAt.getTime() / 1000)), nanos: (occurredAt.getTime() % 1000) * 1_000_000 },
    sequence: String(nextSequence++),
    userName: 'alice',
    usbDeviceAttached: {
      device: {
        vendorId: device.vendorId ?? 0x0781,
        productId: device.productId ?? 0x5567,
        serial: device.serial ?? '4C530001',
        manufacturer: 'SanDisk',
        product: 'Cruzer Blade',
        interfaceClasses: device.interfaceClasses ?? [8],
        busPath: '1-2',
        descriptorHash: '',
      },
      presentAtStart: false,
    },
  });
}

/** Reads a server stream one message at a time. */
export function collect<T>(stream: grpc.ClientReadableStream<T>, timeoutMs = 30_000): { next(): Promise<T> } {
  const buffered: T[] = [];
  const waiting: Array<{ resolve: (value: T) => void; reject: (error: Error) => void }> = [];
  let failed: Error | null = null;
  const fail = (error: Error) => {
    failed = error;
    for (const waiter of waiting.splice(0)) waiter.reject(error);
  };
  stream.on('data', (message: T) => {
    const waiter = waiting.shift();
    if (waiter !== undefined) waiter.resolve(message);
    else buffered.push(message);
  });
  stream.on('error', (error: Error) => {
    if ((error as grpc.ServiceError).code === grpc.status.CANCELLED) return;
    fail(error);
  });
  // A stream the server ended, or a message that never comes, fails the wait instead of hanging the test.
  stream.on('end', () => fail(new Error('the stream ended before the awaited message')));
  return {
    next: () => {
      if (buffered.length > 0) return Promise.resolve(buffered.shift() as T);
      if (failed !== null) return Promise.reject(failed);
      return new Promise((resolve, reject) => {
        const waiter = {
          resolve: (value: T) => {
            clearTimeout(timer);
            resolve(value);
          },
          reject: (error: Error) => {
            clearTimeout(timer);
            reject(error);
          },
        };
        const timer = setTimeout(() => {
          const index = waiting.indexOf(waiter);
          if (index >= 0) waiting.splice(index, 1);
          reject(new Error(`no message on the stream within ${timeoutMs} ms`));
        }, timeoutMs);
        waiting.push(waiter);
      });
    },
  };
}
