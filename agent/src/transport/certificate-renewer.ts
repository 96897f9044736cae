import * as grpc from '@grpc/grpc-js';
import { X509Certificate } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import type { CertificateServiceClient, RenewCertificateResponse } from '../generated/mamori/v1/certificate';
import type { Logger } from '../logging/logger';
import type { AgentCredentials } from '../state/agent-identity';
import { certificateExpiry } from '../state/certificate-expiry';
import { certificateMatchesKey, installRenewedCertificate, pendingRenewalPaths, storePendingKey } from '../state/credential-swap';
import type { StatePaths } from '../state/state-dir';
import { Backoff, sleep } from './backoff';
import { caPinOf } from './ca-probe';
import { callUnary, statusName } from './grpc-clients';
import { generateKeyAndCsr } from './key-material';

/** What status.json says about the client certificate and its renewal. */
export interface CertificateRenewalStatus {
  expiresAt: string | null;
  renewAt: string | null;
  /** idle: not due yet; renewing: due, an attempt is under way or next; failing: the last attempt failed; unavailable: this agent cannot renew. */
  state: 'idle' | 'renewing' | 'failing' | 'unavailable';
  lastRenewedAt: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
  failedAttempts: number;
  nextAttemptAt: string | null;
  /** Why the collector asked for a renewal now (a CA rotation), until it is done; null otherwise. */
  requestedReason: string | null;
}

export interface CertificateRenewerOptions {
  paths: StatePaths;
  credentials: AgentCredentials;
  /** The RenewCertificate client on the current credentials; null where the agent cannot renew (then it only warns). */
  client: (() => CertificateServiceClient) | null;
  /** Called with the new credentials once they are stored. */
  onRenewed: (credentials: AgentCredentials) => void;
  logger: Logger;
  /** A subject for the request (the collector sets the real one). */
  hostname: () => string;
  /** Longest sleep between checks (timers stall while a laptop sleeps); default 1 h. */
  checkMs?: number;
  backoff?: Backoff;
  callTimeoutMs?: number;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/**
 * A renewal the collector asks for again with the same reason is skipped within this long of the
 * renewal that answered it: a collector whose bundle the agent cannot match would otherwise get a
 * renewal per heartbeat. A new reason (the next step of a rotation) is followed at once.
 */
export const REQUESTED_RENEWAL_MIN_INTERVAL_MS = 60_000;

/**
 * Renews the client certificate from a third of its lifetime left on (see certificateExpiry):
 * a new key, RenewCertificate over mutual TLS with the current certificate, then the new key and
 * certificate replace the old ones in the state folder (crash-safe, see credential-swap.ts) and
 * the connection switches to them. A failure is retried with full-jitter backoff (5 s doubling
 * to 1 h), logged, and shown in status.json; the warning to re-enroll appears only when renewal
 * has failed close to the end.
 */
export class CertificateRenewer {
  private credentials: AgentCredentials;
  private readonly backoff: Backoff;
  private state: CertificateRenewalStatus['state'];
  private lastRenewedAt: Date | null = null;
  private lastError: string | null = null;
  private lastErrorAt: Date | null = null;
  private failedAttempts = 0;
  private nextAttemptAt: Date | null = null;
  private lastWarningAt = 0;
  /** Why the collector asked for a renewal now (CA rotation); null when it has not. */
  private requestedReason: string | null = null;
  /** The collector's reason the last renewal answered; null when that renewal was due by time. */
  private lastAnsweredReason: string | null = null;
  /** Aborted to cut the loop's sleep short when a renewal is requested. */
  private wake = new AbortController();

  constructor(private readonly options: CertificateRenewerOptions) {
    this.credentials = options.credentials;
    this.backoff = options.backoff ?? new Backoff(5_000, HOUR_MS);
    this.state = options.client === null ? 'unavailable' : 'idle';
  }

  status(): CertificateRenewalStatus {
    let expiresAt: string | null = null;
    let renewAt: string | null = null;
    try {
      const expiry = certificateExpiry(this.credentials.certificatePem);
      expiresAt = expiry.expiresAt;
      renewAt = expiry.renewAt;
    } catch {
      // An unreadable certificate shows as nulls; the loop logs why.
    }
    return {
      expiresAt,
      renewAt,
      state: this.state,
      lastRenewedAt: this.lastRenewedAt?.toISOString() ?? null,
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt?.toISOString() ?? null,
      failedAttempts: this.failedAttempts,
      nextAttemptAt: this.nextAttemptAt?.toISOString() ?? null,
      requestedReason: this.requestedReason,
    };
  }

  /**
   * The collector asked for a renewal ahead of time (its heartbeat answer says the CAs are
   * being rotated). The loop renews at once unless an attempt already failed (its backoff still
   * paces the retries) or a renewal under a minute old answered the same reason.
   */
  requestRenewal(reason: string): void {
    if (this.options.client === null || this.requestedReason !== null) return;
    const recent = this.lastRenewedAt !== null && Date.now() - this.lastRenewedAt.getTime() < REQUESTED_RENEWAL_MIN_INTERVAL_MS;
    if (recent && reason === this.lastAnsweredReason) return;
    this.requestedReason = reason;
    this.options.logger.info('the collector asked for a certificate renewal now', { reason });
    if (this.state !== 'failing') this.wake.abort();
  }

  /**
   * The collector no longer asks for a renewal (the rotation step is over, or another replica
   * answered): a request that has not been met yet is dropped, so a failing one is not retried
   * before the certificate is due.
   */
  renewalNotRequested(): void {
    this.requestedReason = null;
  }

  async run(signal: AbortSignal): Promise<void> {
    const { logger } = this.options;
    while (!signal.aborted) {
      let waitMs = this.options.checkMs ?? HOUR_MS;
      try {
        const now = new Date();
        const expiry = certificateExpiry(this.credentials.certificatePem, now);
        if (expiry.warning !== null && now.getTime() - this.lastWarningAt >= DAY_MS) {
          this.lastWarningAt = now.getTime();
          logger.warn(`CLIENT CERTIFICATE ${expiry.state === 'expired' ? 'EXPIRED' : 'EXPIRES SOON'}: ${expiry.warning}`, {
            expiresAt: expiry.expiresAt,
            daysLeft: expiry.daysLeft,
            lastRenewalError: this.lastError,
          });
        }
        const dueInMs = this.requestedReason !== null ? 0 : Date.parse(expiry.renewAt) - now.getTime();
        if (this.options.client === null) {
          // Nothing to do but warn, daily.
        } else if (dueInMs > 0) {
          this.state = 'idle';
          this.nextAttemptAt = new Date(Date.parse(expiry.renewAt));
          waitMs = Math.min(waitMs, dueInMs);
        } else {
          this.state = 'renewing';
          try {
            await this.renewOnce();
            waitMs = 0;
          } catch (error) {
            const message = (error as Error).message;
            this.state = 'failing';
            this.failedAttempts += 1;
            this.lastError = message;
            this.lastErrorAt = new Date();
            waitMs = this.backoff.next();
            this.nextAttemptAt = new Date(Date.now() + waitMs);
            logger.warn('client certificate renewal failed; retrying', {
              reason: message,
              failedAttempts: this.failedAttempts,
              nextAttemptAt: this.nextAttemptAt.toISOString(),
              expiresAt: expiry.expiresAt,
            });
          }
        }
      } catch (error) {
        logger.error('cannot read the client certificate expiry', { error: error as Error });
      }
      if (this.wake.signal.aborted) this.wake = new AbortController();
      await sleep(waitMs, AbortSignal.any([signal, this.wake.signal]));
    }
  }

  /** One renewal: new key, RenewCertificate, checks, swap. Throws with a sentence saying what failed. */
  async renewOnce(): Promise<AgentCredentials> {
    const { paths, logger } = this.options;
    const current = this.credentials;
    const { privateKeyPem, csrPem } = await generateKeyAndCsr(`mamori-agent ${this.options.hostname()}`);
    await storePendingKey(paths, privateKeyPem);
    let response: RenewCertificateResponse;
    try {
      const client = this.options.client!();
      response = await callUnary(client.renewCertificate.bind(client), { certificateSigningRequestPem: csrPem }, this.options.callTimeoutMs ?? 30_000);
    } catch (error) {
      await unlink(pendingRenewalPaths(paths).key).catch(() => undefined);
      const e = error as grpc.ServiceError;
      throw new Error(typeof e.code === 'number' ? `RenewCertificate failed (${statusName(e.code)}): ${e.details}` : `RenewCertificate failed: ${e.message}`);
    }
    const bundle = response.caBundlePem.trim() === '' ? current.caPem : response.caBundlePem;
    const problem = renewedCertificateProblem(response.clientCertificatePem, privateKeyPem, current.identity.agentId, bundle);
    if (problem !== null) {
      await unlink(pendingRenewalPaths(paths).key).catch(() => undefined);
      throw new Error(`the collector's renewed certificate is unusable: ${problem}`);
    }
    const bundleChanged = normalizePem(bundle) !== normalizePem(current.caPem);
    await installRenewedCertificate(paths, response.clientCertificatePem, bundleChanged ? bundle : null);
    const renewed: AgentCredentials = { ...current, privateKeyPem, certificatePem: response.clientCertificatePem, caPem: bundle };
    this.credentials = renewed;
    this.lastRenewedAt = new Date();
    this.failedAttempts = 0;
    this.lastError = null;
    this.lastErrorAt = null;
    this.backoff.reset();
    this.state = 'idle';
    this.lastAnsweredReason = this.requestedReason;
    this.requestedReason = null;
    this.options.onRenewed(renewed);
    logger.info('client certificate renewed', {
      expiresAt: new Date(new X509Certificate(response.clientCertificatePem).validTo).toISOString(),
      caBundleChanged: bundleChanged,
    });
    return renewed;
  }
}

/** Why a renewed certificate must not replace the current one, or null when it may. */
export function renewedCertificateProblem(certificatePem: string, privateKeyPem: string, agentId: string, caBundlePem: string): string | null {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certificatePem);
  } catch (error) {
    return `not a certificate (${(error as Error).message})`;
  }
  if (!certificateMatchesKey(certificatePem, privateKeyPem)) return 'it does not certify the key generated for this renewal';
  if (!(certificate.subjectAltName ?? '').includes(`URI:urn:mamori:agent:${agentId}`)) return `it does not name agent ${agentId}`;
  const authorities = splitPem(caBundlePem);
  if (authorities.length === 0) return 'the CA bundle holds no certificate';
  const issuedBy = (pem: string) => {
    try {
      const authority = new X509Certificate(pem);
      return certificate.checkIssued(authority) && certificate.verify(authority.publicKey);
    } catch {
      return false;
    }
  };
  if (!authorities.some(issuedBy)) {
    return 'it is not issued by a CA of the bundle';
  }
  return null;
}

/** The pins (base64url SHA-256 of the DER, as enrollment tokens pin) of the CAs in a bundle, for the heartbeat. */
export function caBundlePins(caBundlePem: string): string[] {
  return caBundleAuthorities(caBundlePem).map((authority) => authority.pin);
}

/** The CAs of a bundle as `mamori-agent status` shows them. */
export function caBundleAuthorities(caBundlePem: string): Array<{ pin: string; subject: string; notAfter: string }> {
  const authorities: Array<{ pin: string; subject: string; notAfter: string }> = [];
  for (const pem of splitPem(caBundlePem)) {
    try {
      const certificate = new X509Certificate(pem);
      authorities.push({ pin: caPinOf(certificate.raw), subject: certificate.subject.replace(/\n/g, ', '), notAfter: new Date(certificate.validTo).toISOString() });
    } catch {
      // An unreadable block pins nothing; the connection fails on it with its own message.
    }
  }
  return authorities;
}

function splitPem(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

function normalizePem(pem: string): string {
  return splitPem(pem).map((block) => block.replace(/\s+/g, '')).join('|');
}
