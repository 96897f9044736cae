import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPublicKey, X509Certificate as NodeX509Certificate } from 'node:crypto';
import type { CollectorConfig } from '../../config/collector-config';
import {
  caPinOf,
  generateCertificateAuthority,
  KeyedCertificate,
  LoadedAuthority,
  serverCertificateCovers,
  splitPemCertificates,
} from './certificate-authority';
import { CA_FILES, expiredAuthorities, readTrustedAuthorities, type TrustedAuthority } from './trusted-authorities';

const SERVER_RENEW_BEFORE_MS = 30 * 86_400_000;

/**
 * The collector's trust material: the CA that signs agent certificates and the server
 * certificate gRPC presents. Generated in the data folder at first start (owner-only files),
 * or read from the files an operator named. The served chain is always leaf + CA, because
 * agents take the CA from it during enrollment and check it against the token's pin.
 */
export class PkiService {
  private constructor(
    readonly authority: LoadedAuthority,
    /** The certificate chain gRPC serves: the server certificate(s) followed by the CA. */
    readonly servedChainPem: string,
    readonly serverKeyPem: string,
    /** Every CA agent certificates may come from: the signing CA first, then those of a rotation. */
    readonly authorities: TrustedAuthority[],
  ) {}

  /** The CA that signs agent and server certificates now (what enrollment hands out and tokens pin). */
  get caCertificatePem(): string {
    return this.authority.certificatePem;
  }

  /** The trusted CAs as one PEM bundle: what client certificates are checked against and renewals hand to agents. */
  get trustBundlePem(): string {
    return this.authorities.map((authority) => authority.certificatePem).join('');
  }

  get caPin(): string {
    return caPinOf(this.authority.certificatePem);
  }

  static async open(config: CollectorConfig, log: (msg: string, fields?: Record<string, unknown>) => void = () => undefined): Promise<PkiService> {
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    completeInterruptedSwitch(config, log);
    await ensureGeneratedAuthority(config, log);
    const authority = await LoadedAuthority.load(readAuthorityMaterial(config)).catch((error: Error) => {
      const files = config.tls.caFile !== undefined ? `MAMORI_TLS_CA_FILE and MAMORI_TLS_CA_KEY_FILE (${config.tls.caFile}, ${config.tls.caKeyFile})` : `${join(config.dataDir, 'ca.crt')} and ca.key`;
      throw new Error(`${files}: ${error.message}`);
    });
    const server = await loadOrCreateServerMaterial(config, authority, log);
    const caDer = new NodeX509Certificate(authority.certificatePem).raw;
    const served = splitPemCertificates(server.certificatePem);
    if (served.length === 0) throw new Error('the server certificate file holds no PEM certificate');
    const ca = new NodeX509Certificate(authority.certificatePem);
    // Agents trust nothing but this CA (they pin it at enrollment), so a server certificate from
    // any other authority would lock every agent out: refuse to start with it.
    if (!served.some((pem) => !new NodeX509Certificate(pem).raw.equals(caDer) && new NodeX509Certificate(pem).checkIssued(ca))) {
      throw new Error(
        `MAMORI_TLS_CERT_FILE: the server certificate is not issued by the collector's CA (${ca.subject.replace(/\n/g, ', ')}); ` +
          'agents pin that CA, so the server certificate (or an intermediate in the same file) must be issued by it',
      );
    }
    const hasCa = served.some((pem) => new NodeX509Certificate(pem).raw.equals(caDer));
    const chain = hasCa ? served : [...served, authority.certificatePem];
    const signingSource = config.tls.caFile ?? join(config.dataDir, 'ca.crt');
    const authorities = readTrustedAuthorities(config, authority.certificatePem, signingSource);
    if (authorities.length > 1) {
      log('trusting more than one certificate authority (CA rotation)', {
        authorities: authorities.map((a) => ({ role: a.role, pin: a.pin, subject: a.subject, notAfter: a.notAfter.toISOString(), source: a.source })),
      });
    }
    for (const expired of expiredAuthorities(authorities)) {
      log('a trusted certificate authority has expired; no certificate it issued verifies any more', { role: expired.role, pin: expired.pin, notAfter: expired.notAfter.toISOString(), source: expired.source });
    }
    return new PkiService(authority, chain.join(''), server.privateKeyPem, authorities);
  }
}

function readAuthorityMaterial(config: CollectorConfig): KeyedCertificate {
  if (config.tls.caFile !== undefined && config.tls.caKeyFile !== undefined) {
    return {
      certificatePem: readOperatorFile(config.tls.caFile, 'MAMORI_TLS_CA_FILE'),
      privateKeyPem: readOperatorFile(config.tls.caKeyFile, 'MAMORI_TLS_CA_KEY_FILE'),
    };
  }
  return {
    certificatePem: readFileSync(join(config.dataDir, 'ca.crt'), 'utf8'),
    privateKeyPem: readFileSync(join(config.dataDir, 'ca.key'), 'utf8'),
  };
}

async function loadOrCreateServerMaterial(
  config: CollectorConfig,
  authority: LoadedAuthority,
  log: (msg: string, fields?: Record<string, unknown>) => void,
): Promise<KeyedCertificate> {
  if (config.tls.certFile !== undefined && config.tls.keyFile !== undefined) {
    return {
      certificatePem: readOperatorFile(config.tls.certFile, 'MAMORI_TLS_CERT_FILE'),
      privateKeyPem: readOperatorFile(config.tls.keyFile, 'MAMORI_TLS_KEY_FILE'),
    };
  }
  const certPath = join(config.dataDir, 'server.crt');
  const keyPath = join(config.dataDir, 'server.key');
  const now = new Date();
  if (existsSync(certPath) && existsSync(keyPath)) {
    const existing = { certificatePem: readFileSync(certPath, 'utf8'), privateKeyPem: readFileSync(keyPath, 'utf8') };
    const issuedByCa = new NodeX509Certificate(existing.certificatePem).checkIssued(new NodeX509Certificate(authority.certificatePem));
    if (issuedByCa && serverCertificateCovers(existing.certificatePem, config.serverNames, new Date(now.getTime() + SERVER_RENEW_BEFORE_MS))) {
      return existing;
    }
  }
  const issued = await authority.issueServerCertificate(config.serverNames, now);
  writePrivateFile(keyPath, issued.privateKeyPem);
  writePrivateFile(certPath, issued.certificatePem);
  log('issued a new server certificate', { names: config.serverNames, file: certPath });
  return issued;
}

/**
 * `mamori-server ca switch` renames ca-next.key to ca.key, then ca-next.crt to ca.crt. Stopped
 * between the two, the data folder holds the new key as ca.key beside the old certificate, and
 * ca-next.crt without its key; this start finishes the second rename.
 */
export function completeInterruptedSwitch(config: CollectorConfig, log: (msg: string, fields?: Record<string, unknown>) => void): void {
  if (config.tls.caFile !== undefined) return;
  const file = (name: string) => join(config.dataDir, name);
  const [nextCertificate, nextKey, key] = [file(CA_FILES.next.certificate), file(CA_FILES.next.key), file(CA_FILES.signing.key)];
  if (!existsSync(nextCertificate) || existsSync(nextKey) || !existsSync(key)) return;
  const certified = new NodeX509Certificate(readFileSync(nextCertificate, 'utf8')).publicKey.export({ format: 'der', type: 'spki' });
  if (!createPublicKey(readFileSync(key, 'utf8')).export({ format: 'der', type: 'spki' }).equals(certified)) return;
  renameSync(nextCertificate, file(CA_FILES.signing.certificate));
  log('finished an interrupted CA switch: the next CA is the signing CA now', { file: file(CA_FILES.signing.certificate), caPin: caPinOf(readFileSync(file(CA_FILES.signing.certificate), 'utf8')) });
}

/** Creates the generated CA in the data folder unless one exists or the operator supplies one. */
export async function ensureGeneratedAuthority(config: CollectorConfig, log: (msg: string, fields?: Record<string, unknown>) => void): Promise<void> {
  if (config.tls.caFile !== undefined) return;
  const certPath = join(config.dataDir, 'ca.crt');
  const keyPath = join(config.dataDir, 'ca.key');
  if (existsSync(certPath) && existsSync(keyPath)) return;
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const created = await generateCertificateAuthority('mamori collector CA');
  // The key goes first: a certificate without its key on disk would be unusable after a crash.
  writePrivateFile(keyPath, created.privateKeyPem);
  writePrivateFile(certPath, created.certificatePem);
  log('created a new certificate authority', { file: certPath, caPin: caPinOf(created.certificatePem) });
}

function readOperatorFile(path: string, variable: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`${variable}: cannot read ${path}: ${(error as Error).message}`);
  }
}

/** Writes a file readable by its owner only, atomically (temp file + rename). */
export function writePrivateFile(path: string, contents: string): void {
  const temp = `${path}.tmp-${process.pid}`;
  writeFileSync(temp, contents, { mode: 0o600 });
  chmodSync(temp, 0o600);
  renameSync(temp, path);
}
