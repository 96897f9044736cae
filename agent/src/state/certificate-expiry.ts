import { X509Certificate } from 'node:crypto';

/** The warning's horizon for long-lived certificates: enough time to find out why renewal fails. */
export const CERTIFICATE_WARNING_DAYS = 30;
/**
 * Renewal starts when a third of the certificate's lifetime is left: 4 months of a 1-year
 * certificate, enough to ride out a long outage or a laptop in a drawer with many retries, and
 * it scales down for short-lived certificates. Renewing earlier only adds signing work.
 */
export const RENEW_WHEN_LEFT_FRACTION = 1 / 3;
const DAY_MS = 86_400_000;

export interface CertificateExpiry {
  expiresAt: string;
  /** From when the agent renews its certificate by itself. */
  renewAt: string;
  /** Whole days left, rounded down; negative once expired. */
  daysLeft: number;
  /** `renewal due`: past renewAt, the agent is renewing; `expiring`: renewal has not succeeded and the end is near. */
  state: 'valid' | 'renewal due' | 'expiring' | 'expired';
  /** A sentence for people when expiring or expired, else null. */
  warning: string | null;
}

/**
 * When the certificate valid from `notBefore` to `notAfter` is due for renewal, and from when
 * its nearing end is worth a warning: the last 30 days, or for short-lived certificates the
 * last half of the renewal window (renewal has then failed for a while).
 */
export function renewalSchedule(notBefore: Date, notAfter: Date): { renewAt: Date; warnAt: Date } {
  const lifetime = Math.max(0, notAfter.getTime() - notBefore.getTime());
  const window = lifetime * RENEW_WHEN_LEFT_FRACTION;
  return {
    renewAt: new Date(notAfter.getTime() - window),
    warnAt: new Date(notAfter.getTime() - Math.min(CERTIFICATE_WARNING_DAYS * DAY_MS, window / 2)),
  };
}

/**
 * Where the agent's client certificate stands. The running agent renews it by itself from
 * renewAt on (RenewCertificate over mutual TLS); the warning appears only when that has not
 * succeeded close to the end, and once expired the collector refuses the agent, so the only way
 * out is to enroll again. Throws when the PEM is not a certificate.
 */
export function certificateExpiry(certificatePem: string, now: Date = new Date()): CertificateExpiry {
  const certificate = new X509Certificate(certificatePem);
  const expires = new Date(certificate.validTo);
  const from = new Date(certificate.validFrom);
  if (Number.isNaN(expires.getTime()) || Number.isNaN(from.getTime())) throw new Error('the client certificate has no readable validity dates');
  const { renewAt, warnAt } = renewalSchedule(from, expires);
  const leftMs = expires.getTime() - now.getTime();
  const daysLeft = Math.floor(leftMs / DAY_MS);
  const expiresAt = expires.toISOString();
  const base = { expiresAt, renewAt: renewAt.toISOString(), daysLeft };
  if (leftMs <= 0) {
    return {
      ...base,
      state: 'expired',
      warning: `the client certificate expired on ${expiresAt} before it could be renewed: the collector refuses this agent; re-enroll it (mamori-agent enroll with a new token)`,
    };
  }
  if (now.getTime() >= warnAt.getTime()) {
    return {
      ...base,
      state: 'expiring',
      warning:
        `the client certificate expires on ${expiresAt} (in ${daysLeft} day(s)) and automatic renewal (due since ${base.renewAt}) has not succeeded: ` +
        `make sure the agent runs and reaches the collector (see "renewal" in mamori-agent status); once it has expired, re-enroll (mamori-agent enroll with a new token)`,
    };
  }
  if (now.getTime() >= renewAt.getTime()) return { ...base, state: 'renewal due', warning: null };
  return { ...base, state: 'valid', warning: null };
}
