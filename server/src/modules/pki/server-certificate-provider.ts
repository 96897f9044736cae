import type { experimental } from '@grpc/grpc-js';

type CertificateProvider = experimental.CertificateProvider;
type CaListener = Parameters<CertificateProvider['addCaCertificateListener']>[0];
type IdentityListener = Parameters<CertificateProvider['addIdentityCertificateListener']>[0];

/**
 * Hands grpc-js the collector's identity (leaf + CA chain, key) and the CAs that client
 * certificates are checked against. Listeners are answered on the next microtask, not
 * synchronously: grpc-js registers its own watcher only after subscribing to the provider,
 * so a synchronous answer would be lost and the server would drop every connection.
 */
export class ServerCertificateProvider implements CertificateProvider {
  constructor(
    private readonly chainPem: string,
    private readonly keyPem: string,
    private readonly caPem: string,
  ) {}

  addCaCertificateListener(listener: CaListener): void {
    queueMicrotask(() => listener({ caCertificate: Buffer.from(this.caPem) }));
  }

  removeCaCertificateListener(): void {}

  addIdentityCertificateListener(listener: IdentityListener): void {
    queueMicrotask(() => listener({ certificate: Buffer.from(this.chainPem), privateKey: Buffer.from(this.keyPem) }));
  }

  removeIdentityCertificateListener(): void {}
}
