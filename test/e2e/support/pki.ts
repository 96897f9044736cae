import 'reflect-metadata'; // @peculiar/x509 uses tsyringe, which needs the Reflect polyfill loaded first
import * as x509 from '@peculiar/x509';
import { X509Certificate, createHash, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import { connect } from 'node:tls';

// The tests make their own keys and certificates with the same library a real agent would use,
// independently of the agent's code, so the collector's checks are tested from outside.
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface KeyAndCsr {
  privateKeyPem: string;
  csrPem: string;
  keys: webcrypto.CryptoKeyPair;
}

export async function makeKeyAndCsr(commonName = 'e2e-test-agent'): Promise<KeyAndCsr> {
  const keys = (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${commonName}`,
    keys,
    signingAlgorithm: EC_P256,
  });
  return { privateKeyPem: await exportPrivateKeyPem(keys.privateKey), csrPem: csr.toString('pem'), keys };
}

async function exportPrivateKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

/** A certificate authority the collector has never seen, and a client certificate it signed. */
export async function makeRogueClientCertificate(): Promise<{ certPem: string; privateKeyPem: string }> {
  const now = Date.now();
  const caKeys = (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=Rogue CA',
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 86_400_000),
    keys: caKeys,
    signingAlgorithm: EC_P256,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  const leaf = await makeKeyAndCsr('00000000-0000-4000-8000-000000000000');
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '02',
    subject: 'CN=00000000-0000-4000-8000-000000000000',
    issuer: ca.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 86_400_000),
    signingKey: caKeys.privateKey,
    publicKey: leaf.keys.publicKey,
    signingAlgorithm: EC_P256,
    extensions: [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth])],
  });
  return { certPem: cert.toString('pem'), privateKeyPem: leaf.privateKeyPem };
}

/**
 * Reads the certificate authority a TLS server presents at the end of its chain, without
 * trusting it: the test equivalent of what an agent does before it checks the CA pin.
 */
export function fetchPresentedCa(address: string): Promise<{ pem: string; pin: string }> {
  const [host, port] = splitAddress(address);
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, servername: isIP(host) === 0 ? host : undefined, rejectUnauthorized: false, ALPNProtocols: ['h2'] }, () => {
      let cert = socket.getPeerCertificate(true);
      while (cert.issuerCertificate && cert.issuerCertificate !== cert && cert.issuerCertificate.raw) {
        cert = cert.issuerCertificate;
      }
      socket.end();
      const x = new X509Certificate(cert.raw);
      resolve({ pem: x.toString(), pin: createHash('sha256').update(cert.raw).digest('base64url') });
    });
    socket.once('error', reject);
  });
}

export function splitAddress(address: string): [string, number] {
  const at = address.lastIndexOf(':');
  return [address.slice(0, at), Number(address.slice(at + 1))];
}

/** An operator's own CA and a server certificate it issued for localhost and 127.0.0.1, as PEM. */
export async function makeOperatorPki(commonName = 'Example Corp mamori CA'): Promise<{
  caPem: string;
  caKeyPem: string;
  serverCertPem: string;
  serverKeyPem: string;
  caPin: string;
}> {
  const now = Date.now();
  const caKeys = (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '0a',
    name: `CN=${commonName}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 30 * 86_400_000),
    keys: caKeys,
    signingAlgorithm: EC_P256,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  const serverKeys = (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const server = await x509.X509CertificateGenerator.create({
    serialNumber: '0b',
    subject: 'CN=localhost',
    issuer: ca.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 30 * 86_400_000),
    signingKey: caKeys.privateKey,
    publicKey: serverKeys.publicKey,
    signingAlgorithm: EC_P256,
    extensions: [
      new x509.SubjectAlternativeNameExtension([
        { type: 'dns', value: 'localhost' },
        { type: 'ip', value: '127.0.0.1' },
      ]),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    ],
  });
  return {
    caPem: ca.toString('pem'),
    caKeyPem: await exportPrivateKeyPem(caKeys.privateKey),
    serverCertPem: server.toString('pem'),
    serverKeyPem: await exportPrivateKeyPem(serverKeys.privateKey),
    caPin: createHash('sha256').update(Buffer.from(ca.rawData)).digest('base64url'),
  };
}
