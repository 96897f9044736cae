import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate as NodeX509Certificate } from 'node:crypto';
import type { CollectorConfig } from '../../config/collector-config';
import { caPinOf, splitPemCertificates } from './certificate-authority';

/**
 * The generated CA's files in the data folder during a rotation. `ca.*` always signs;
 * `ca-next.*` is a CA introduced by `mamori-server ca rotate` (trusted and handed to agents, not
 * yet signing); `ca-previous.*` is the CA `ca switch` replaced (trusted until `ca retire`).
 */
export const CA_FILES = {
  signing: { certificate: 'ca.crt', key: 'ca.key' },
  next: { certificate: 'ca-next.crt', key: 'ca-next.key' },
  previous: { certificate: 'ca-previous.crt', key: 'ca-previous.key' },
} as const;

/** What a trusted CA is for: it signs now, it is the one being rotated to, the one rotated from, or one the operator listed. */
export type AuthorityRole = 'signing' | 'next' | 'previous' | 'trusted';

export interface TrustedAuthority {
  role: AuthorityRole;
  /** unpadded base64url SHA-256 of the DER, as enrollment tokens and agents' heartbeats name CAs. */
  pin: string;
  subject: string;
  notAfter: Date;
  /** The file it was read from, for messages. */
  source: string;
  certificatePem: string;
  certificate: NodeX509Certificate;
}

/**
 * Every CA the collector trusts for agent client certificates, the signing CA first, then the
 * generated rotation's next and previous CAs, then the operator's MAMORI_TLS_CA_TRUST_FILE.
 * A CA listed twice counts once (its first role wins). Throws naming the file when one is not a
 * readable CA certificate; an expired one is kept and reported by `expired`.
 */
export function readTrustedAuthorities(config: CollectorConfig, signingPem: string, signingSource: string): TrustedAuthority[] {
  const found: TrustedAuthority[] = [];
  const add = (pem: string, role: AuthorityRole, source: string) => {
    const authority = describeAuthority(pem, role, source);
    if (!found.some((known) => known.pin === authority.pin)) found.push(authority);
  };
  add(signingPem, 'signing', signingSource);
  if (config.tls.caFile === undefined) {
    for (const role of ['next', 'previous'] as const) {
      const path = join(config.dataDir, CA_FILES[role].certificate);
      if (existsSync(path)) add(readFileSync(path, 'utf8'), role, path);
    }
  }
  if (config.tls.caTrustFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(config.tls.caTrustFile, 'utf8');
    } catch (error) {
      throw new Error(`MAMORI_TLS_CA_TRUST_FILE: cannot read ${config.tls.caTrustFile}: ${(error as Error).message}`);
    }
    const blocks = splitPemCertificates(text);
    if (blocks.length === 0) throw new Error(`MAMORI_TLS_CA_TRUST_FILE: ${config.tls.caTrustFile} holds no PEM certificate`);
    blocks.forEach((pem, index) => add(pem, 'trusted', `${config.tls.caTrustFile} (certificate ${index + 1})`));
  }
  return found;
}

function describeAuthority(pem: string, role: AuthorityRole, source: string): TrustedAuthority {
  let certificate: NodeX509Certificate;
  try {
    certificate = new NodeX509Certificate(pem);
  } catch (error) {
    throw new Error(`${source}: not a PEM certificate (${(error as Error).message})`);
  }
  if (!certificate.ca) throw new Error(`${source}: ${certificate.subject.replace(/\n/g, ', ')} is not a certificate authority (basicConstraints CA:TRUE missing)`);
  return {
    role,
    pin: caPinOf(pem),
    subject: certificate.subject.replace(/\n/g, ', '),
    notAfter: new Date(certificate.validTo),
    source,
    certificatePem: pem.endsWith('\n') ? pem : `${pem}\n`,
    certificate,
  };
}

/** The trusted CAs whose certificates have ended by `now`. */
export function expiredAuthorities(authorities: TrustedAuthority[], now = new Date()): TrustedAuthority[] {
  return authorities.filter((authority) => authority.notAfter.getTime() <= now.getTime());
}

/** The pin of the trusted CA that issued (and signed) a client certificate, or null when none did. */
export function issuerPinOf(certificateDer: Buffer, authorities: TrustedAuthority[]): string | null {
  // With one CA the TLS handshake already proved it: grpc-js hands over verified peers only.
  if (authorities.length === 1) return authorities[0].pin;
  const certificate = new NodeX509Certificate(certificateDer);
  for (const authority of authorities) {
    if (certificate.checkIssued(authority.certificate) && certificate.verify(authority.certificate.publicKey)) return authority.pin;
  }
  return null;
}

/**
 * Why an agent should renew its certificate now, or null: while CAs are rotated the collector
 * asks an agent to renew when its certificate comes from a CA that no longer signs, or when the
 * CAs it reports trusting differ from the collector's (the renewal hands it the collector's
 * bundle). An agent that reports no pins (older than CA rotation) is judged by its issuer only.
 */
export function renewalReason(issuerPin: string | null, heldPins: readonly string[], authorities: TrustedAuthority[]): string | null {
  const signing = authorities[0];
  if (issuerPin !== signing.pin) {
    return `the collector now signs with CA ${signing.pin} (${signing.subject}); this certificate was issued by ${issuerPin === null ? 'a CA it does not know' : `CA ${issuerPin}`}`;
  }
  if (heldPins.length === 0) return null;
  const trusted = authorities.map((authority) => authority.pin);
  const missing = trusted.filter((pin) => !heldPins.includes(pin));
  const extra = heldPins.filter((pin) => !trusted.includes(pin));
  if (missing.length === 0 && extra.length === 0) return null;
  const parts: string[] = [];
  if (missing.length > 0) parts.push(`the agent does not yet trust CA ${missing.join(', ')}`);
  if (extra.length > 0) parts.push(`it still trusts CA ${extra.join(', ')}, which the collector no longer trusts`);
  return `the collector's CA bundle changed: ${parts.join('; ')}`;
}
