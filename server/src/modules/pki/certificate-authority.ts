// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect metadata polyfill loaded first.
import 'reflect-metadata';
import { createHash, createPrivateKey, createPublicKey, randomBytes, webcrypto, X509Certificate as NodeX509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
type SigningAlgorithm = webcrypto.Algorithm | webcrypto.EcdsaParams;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** A certificate with its private key, both PEM. */
export interface KeyedCertificate {
  certificatePem: string;
  privateKeyPem: string;
}

/** A CSR that cannot be signed; the message says why. */
export class CertificateRequestError extends Error {
  override name = 'CertificateRequestError';
}

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;
/** Clock skew between the collector and agents should not make a fresh certificate "not yet valid". */
const BACKDATE_MS = 5 * 60_000;

/** base64url (no padding) SHA-256 of the certificate's DER: what enrollment tokens pin. */
export function caPinOf(certificatePem: string): string {
  return createHash('sha256').update(new NodeX509Certificate(certificatePem).raw).digest('base64url');
}

/** Lower-case hex SHA-256 of a certificate's DER, the agent's identity in the database. */
export function fingerprintOf(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex');
}

/** Splits a PEM bundle into its certificates, in order. */
export function splitPemCertificates(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((block) => `${block}\n`) ?? [];
}

async function generateEcKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] &= 0x7f; // a positive INTEGER without a leading zero byte
  return bytes.toString('hex');
}

/** Creates a self-signed ECDSA P-256 certificate authority valid for `years`. */
export async function generateCertificateAuthority(commonName: string, now = new Date(), years = 10): Promise<KeyedCertificate> {
  const keys = await generateEcKeys();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${commonName}`,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + years * 365 * DAY_MS),
    keys,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certificatePem: certificate.toString('pem') + '\n', privateKeyPem: await privateKeyPem(keys.privateKey) };
}

/** A loaded CA able to sign: its certificate and a WebCrypto signing key. */
export class LoadedAuthority {
  private constructor(
    readonly certificate: x509.X509Certificate,
    readonly certificatePem: string,
    private readonly signingKey: CryptoKey,
    private readonly signingAlgorithm: SigningAlgorithm,
  ) {}

  /** Accepts ECDSA (P-256, P-384) and RSA CA keys in any PEM form Node reads (PKCS#8, SEC1, PKCS#1). */
  static async load(material: KeyedCertificate): Promise<LoadedAuthority> {
    const certificate = new x509.X509Certificate(material.certificatePem);
    const basic = certificate.getExtension(x509.BasicConstraintsExtension);
    if (basic === null || !basic.ca) throw new Error('the CA certificate is not a certificate authority (basicConstraints CA:TRUE missing)');
    const nodeKey = createPrivateKey(material.privateKeyPem);
    // A key of another CA (a half-done switch, a wrong file) would sign certificates nothing verifies.
    const certifiedKey = new NodeX509Certificate(material.certificatePem).publicKey.export({ format: 'der', type: 'spki' });
    if (!createPublicKey(nodeKey).export({ format: 'der', type: 'spki' }).equals(certifiedKey)) {
      throw new Error('the CA key does not belong to the CA certificate (they are from different authorities)');
    }
    const pkcs8 = nodeKey.export({ format: 'der', type: 'pkcs8' });
    let importAlgorithm: webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams;
    let signingAlgorithm: SigningAlgorithm;
    if (nodeKey.asymmetricKeyType === 'ec') {
      const curve = nodeKey.asymmetricKeyDetails?.namedCurve;
      const namedCurve = curve === 'prime256v1' ? 'P-256' : curve === 'secp384r1' ? 'P-384' : undefined;
      if (namedCurve === undefined) throw new Error(`the CA key uses curve ${curve}; P-256 or P-384 is required`);
      importAlgorithm = { name: 'ECDSA', namedCurve };
      signingAlgorithm = { name: 'ECDSA', hash: namedCurve === 'P-256' ? 'SHA-256' : 'SHA-384' };
    } else if (nodeKey.asymmetricKeyType === 'rsa') {
      importAlgorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
      signingAlgorithm = { name: 'RSASSA-PKCS1-v1_5' };
    } else {
      throw new Error(`the CA key type ${nodeKey.asymmetricKeyType} is not supported (use ECDSA or RSA)`);
    }
    const signingKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, importAlgorithm, false, ['sign']);
    if (!new NodeX509Certificate(material.certificatePem).checkPrivateKey(nodeKey)) {
      throw new Error('the CA key does not belong to the CA certificate');
    }
    return new LoadedAuthority(certificate, certificate.toString('pem') + '\n', signingKey, signingAlgorithm);
  }

  /** Issues a TLS server certificate for `names` (DNS names and IP addresses). */
  async issueServerCertificate(names: string[], now = new Date(), days = 825): Promise<KeyedCertificate> {
    const keys = await generateEcKeys();
    const commonName = names.find((name) => isIP(name) === 0) ?? names[0];
    const certificate = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: `CN=${commonName}`,
      issuer: this.certificate.subject,
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter: new Date(now.getTime() + days * DAY_MS),
      publicKey: keys.publicKey,
      signingKey: this.signingKey,
      signingAlgorithm: this.signingAlgorithm,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(names.map((name) => ({ type: isIP(name) === 0 ? 'dns' : 'ip', value: name }))),
        await x509.AuthorityKeyIdentifierExtension.create(this.certificate.publicKey),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    return { certificatePem: certificate.toString('pem') + '\n', privateKeyPem: await privateKeyPem(keys.privateKey) };
  }

  /**
   * Signs an agent's PKCS#10 request: subject CN=<agentId>, SAN URI urn:mamori:agent:<agentId>,
   * clientAuth only. The request's own subject and extensions are ignored; identity comes from
   * the collector. Throws CertificateRequestError for anything that is not a valid, self-signed
   * request for an ECDSA P-256 or P-384 key.
   */
  async signAgentRequest(csrPem: string, agentId: string, days: number, now = new Date()): Promise<SignedAgentCertificate> {
    if (typeof csrPem !== 'string' || !/-----BEGIN (NEW )?CERTIFICATE REQUEST-----/.test(csrPem)) {
      throw new CertificateRequestError('certificate_signing_request_pem: not a PEM certificate request');
    }
    let request: x509.Pkcs10CertificateRequest;
    try {
      request = new x509.Pkcs10CertificateRequest(csrPem.trim());
    } catch (error) {
      throw new CertificateRequestError(`certificate_signing_request_pem: cannot be parsed (${(error as Error).message})`);
    }
    const algorithm = request.publicKey.algorithm as webcrypto.EcKeyAlgorithm;
    if (algorithm.name !== 'ECDSA' || (algorithm.namedCurve !== 'P-256' && algorithm.namedCurve !== 'P-384')) {
      throw new CertificateRequestError(
        `certificate_signing_request_pem: key must be ECDSA P-256 or P-384, got ${algorithm.name}${algorithm.namedCurve ? ` ${algorithm.namedCurve}` : ''}`,
      );
    }
    let verified = false;
    try {
      verified = await request.verify();
    } catch {
      verified = false;
    }
    if (!verified) throw new CertificateRequestError('certificate_signing_request_pem: signature does not verify');

    const notAfter = new Date(now.getTime() + days * DAY_MS);
    // Agents renew when a third of notBefore..notAfter is left: a backdate longer than a short
    // lifetime would make a fresh certificate look due for renewal at once.
    const backdateMs = Math.min(BACKDATE_MS, Math.floor((days * DAY_MS) / 10));
    const certificate = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: `CN=${agentId}`,
      issuer: this.certificate.subject,
      notBefore: new Date(now.getTime() - backdateMs),
      notAfter,
      publicKey: request.publicKey,
      signingKey: this.signingKey,
      signingAlgorithm: this.signingAlgorithm,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `urn:mamori:agent:${agentId}` }]),
        await x509.AuthorityKeyIdentifierExtension.create(this.certificate.publicKey),
        await x509.SubjectKeyIdentifierExtension.create(request.publicKey),
      ],
    });
    return {
      certificatePem: certificate.toString('pem') + '\n',
      fingerprint: fingerprintOf(Buffer.from(certificate.rawData)),
      serialNumber: certificate.serialNumber,
      notAfter: certificate.notAfter,
    };
  }
}

export interface SignedAgentCertificate {
  certificatePem: string;
  fingerprint: string;
  serialNumber: string;
  notAfter: Date;
}

/** The agent id a certificate issued by signAgentRequest names in its SAN URI, or null. */
export function agentIdOfCertificate(der: Buffer): string | null {
  const certificate = new NodeX509Certificate(der);
  const match = /URI:urn:mamori:agent:([0-9a-f-]{36})/.exec(certificate.subjectAltName ?? '');
  return match === null ? null : match[1];
}

/** True when `pem`'s certificate covers every name in `names` and stays valid past `until`. */
export function serverCertificateCovers(pem: string, names: string[], until: Date): boolean {
  const certificate = new NodeX509Certificate(pem);
  if (new Date(certificate.validTo).getTime() <= until.getTime()) return false;
  const sans = (certificate.subjectAltName ?? '').split(',').map((entry) => entry.trim());
  return names.every((name) => {
    const wanted = isIP(name) === 0 ? `DNS:${name}` : `IP Address:${normalizeIp(name)}`;
    return sans.some((san) => (san.startsWith('IP Address:') ? `IP Address:${normalizeIp(san.slice(11))}` : san) === wanted);
  });
}

function normalizeIp(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  // Node prints IPv6 SANs expanded ("0:0:0:0:0:0:0:1"); compare the canonical URL form.
  return new URL(`http://[${ip}]/`).hostname;
}
