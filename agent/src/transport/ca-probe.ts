import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { connect, type DetailedPeerCertificate } from 'node:tls';
import { base64UrlNoPad, sha256 } from '../core/ids';

export interface PresentedCa {
  pem: string;
  pin: string;
  subject: string;
}

/** The server presented a CA whose fingerprint is not the token's pin: someone else may be answering. */
export class CaPinMismatchError extends Error {}

export function caPinOf(der: Uint8Array): string {
  return base64UrlNoPad(sha256(der));
}

/**
 * Trust bootstrap, step 1: open a TLS connection without verifying anything, and take the last
 * certificate of the chain the server presents (the collector always sends leaf + CA). Nothing
 * is trusted yet; `verifyPin` decides. Fails with the socket error, or after `timeoutMs`.
 */
export function fetchPresentedCa(host: string, port: number, timeoutMs = 10_000): Promise<PresentedCa> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host,
      port,
      // SNI carries names only; an IP literal as servername is invalid (RFC 6066).
      servername: isIP(host) === 0 ? host : undefined,
      rejectUnauthorized: false,
      ALPNProtocols: ['h2'],
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no TLS handshake with ${host}:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      let cert: DetailedPeerCertificate = socket.getPeerCertificate(true);
      const seen = new Set<string>();
      while (cert.issuerCertificate && cert.issuerCertificate !== cert && cert.issuerCertificate.raw && !seen.has(cert.fingerprint256)) {
        seen.add(cert.fingerprint256);
        cert = cert.issuerCertificate;
      }
      socket.end();
      if (!cert.raw) {
        reject(new Error(`${host}:${port} presented no certificate`));
        return;
      }
      const x509 = new X509Certificate(cert.raw);
      resolve({ pem: x509.toString(), pin: caPinOf(cert.raw), subject: x509.subject });
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot open a TLS connection to ${host}:${port}: ${error.message}`));
    });
  });
}

export function verifyPin(presented: PresentedCa, expectedPin: string): void {
  if (presented.pin !== expectedPin.replace(/=+$/, '')) {
    throw new CaPinMismatchError(
      `the server's CA certificate does not match the token's CA pin (fingerprint presented: ${presented.pin}, token pin: ${expectedPin}); ` +
        'refusing to enroll: this is not the collector the token was made for, or the connection is intercepted',
    );
  }
}
