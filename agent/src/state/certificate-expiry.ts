import { X509Certificate } from 'node:crypto';

/** Warn this long before the client certificate expires: enough time to re-enroll by hand. */
export const CERTIFICATE_WARNING_DAYS = 30;
const DAY_MS = 86_400_000;

export interface CertificateExpiry {
  expiresAt: string;
  /** Whole days left, rounded down; negative once expired. */
  daysLeft: number;
  state: 'valid' | 'expiring' | 'expired';
  /** A sentence for people when expiring or expired, else null. */
  warning: string | null;
}

/**
 * How long the agent's client certificate stays valid. The collector refuses an expired
 * certificate's calls, and this version cannot renew one (renewal is a later milestone), so the
 * only way out is to enroll again; the warning says so and by when. Throws when the PEM is not
 * a certificate.
 */
export function certificateExpiry(certificatePem: string, now: Date = new Date()): CertificateExpiry {
  const expires = new Date(new X509Certificate(certificatePem).validTo);
  if (Number.isNaN(expires.getTime())) throw new Error('the client certificate has no readable expiry date');
  const leftMs = expires.getTime() - now.getTime();
  const daysLeft = Math.floor(leftMs / DAY_MS);
  const expiresAt = expires.toISOString();
  if (leftMs <= 0) {
    return {
      expiresAt,
      daysLeft,
      state: 'expired',
      warning: `the client certificate expired on ${expiresAt}: the collector refuses this agent; re-enroll it (mamori-agent enroll with a new token); automatic renewal is not available yet`,
    };
  }
  if (leftMs < CERTIFICATE_WARNING_DAYS * DAY_MS) {
    return {
      expiresAt,
      daysLeft,
      state: 'expiring',
      warning: `the client certificate expires on ${expiresAt} (in ${daysLeft} day(s)): re-enroll before ${expiresAt} (mamori-agent enroll with a new token); automatic renewal is not available yet`,
    };
  }
  return { expiresAt, daysLeft, state: 'valid', warning: null };
}
