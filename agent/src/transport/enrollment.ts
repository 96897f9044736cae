import * as grpc from '@grpc/grpc-js';
import { X509Certificate } from 'node:crypto';
import { EnrollmentServiceClient, type EnrollResponse } from '../generated/mamori/v1/enrollment';
import type { HostIdentity } from '../generated/mamori/v1/common';
import type { Logger } from '../logging/logger';
import { saveCredentials, type AgentIdentity } from '../state/agent-identity';
import type { StatePaths } from '../state/state-dir';
import { caPinOf, fetchPresentedCa, verifyPin } from './ca-probe';
import { parseEnrollmentToken, parseServerAddress } from './enrollment-token';
import { callUnary, statusName } from './grpc-clients';
import { generateKeyAndCsr } from './key-material';

/** The collector refused the enrollment; `message` is the collector's own reason. */
export class EnrollmentRefusedError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

export interface EnrollInput {
  server: string;
  token: string;
  /** The network zone (defined at the collector) the device must be in; absent: the token's, if any. */
  zone?: string;
  paths: StatePaths;
  host: HostIdentity;
  logger: Logger;
  timeoutMs?: number;
}

/**
 * Enrolls this host: pin-checks the collector's CA over a plain TLS probe, generates a key and
 * CSR, calls Enroll with the pinned CA as the only trusted root, and stores key, certificate,
 * CA and agent.json in the state folder. Throws TokenFormatError, CaPinMismatchError,
 * EnrollmentRefusedError (UNAUTHENTICATED, or INVALID_ARGUMENT such as an undefined zone), or a
 * connection error; nothing is written to the state folder unless everything succeeded.
 */
export async function enrollAgent(input: EnrollInput): Promise<{ identity: AgentIdentity; requiredZone: string | undefined }> {
  const token = parseEnrollmentToken(input.token);
  const address = parseServerAddress(input.server);
  const timeoutMs = input.timeoutMs ?? 30_000;

  const presented = await fetchPresentedCa(address.host, address.port, timeoutMs);
  verifyPin(presented, token.caPin);
  input.logger.info('collector CA matches the token pin', { caSubject: presented.subject, server: address.target });

  const { privateKeyPem, csrPem } = await generateKeyAndCsr(`mamori-agent ${input.host.hostname}`);
  const client = new EnrollmentServiceClient(address.target, grpc.credentials.createSsl(Buffer.from(presented.pem)));
  let response: EnrollResponse;
  try {
    response = await callUnary(client.enroll.bind(client), { enrollmentToken: input.token.trim(), certificateSigningRequestPem: csrPem, host: input.host, requiredZone: input.zone?.trim() }, timeoutMs);
  } catch (error) {
    const serviceError = error as grpc.ServiceError;
    if (serviceError.code === grpc.status.UNAUTHENTICATED || serviceError.code === grpc.status.INVALID_ARGUMENT || serviceError.code === grpc.status.PERMISSION_DENIED) {
      throw new EnrollmentRefusedError(`the collector refused the enrollment (${statusName(serviceError.code)}): ${serviceError.details}`, serviceError.code);
    }
    throw new Error(`enrollment call to ${address.target} failed (${statusName(serviceError.code)}): ${serviceError.details ?? serviceError.message}`);
  } finally {
    client.close();
  }

  // The CA in the response must be the one we pinned; anything else would widen our trust.
  const returnedCa = new X509Certificate(response.caCertificatePem);
  if (caPinOf(returnedCa.raw) !== presented.pin) {
    throw new Error('the collector returned a CA certificate that differs from the pinned one; refusing to store it');
  }
  const certificate = new X509Certificate(response.clientCertificatePem);
  if (!certificate.checkIssued(returnedCa)) {
    throw new Error('the client certificate the collector returned is not issued by its CA');
  }

  const identity: AgentIdentity = { agentId: response.agentId, server: address.target, enrolledAt: new Date().toISOString() };
  await saveCredentials(input.paths, { identity, privateKeyPem, certificatePem: response.clientCertificatePem, caPem: presented.pem });
  return { identity, requiredZone: response.requiredZone };
}
