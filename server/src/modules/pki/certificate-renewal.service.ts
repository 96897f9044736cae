import { Inject, Injectable } from '@nestjs/common';
import { X509Certificate as NodeX509Certificate } from 'node:crypto';
import type { CollectorConfig } from '../../config/collector-config';
import { COLLECTOR_CONFIG } from '../../config/collector-config.token';
import { invalidArgument, unauthenticated } from '../../common/grpc-errors';
import { DatabaseService } from '../../database/database.service';
import { JsonLogger } from '../../logging/json-logger';
import { AgentAuthenticator, type AuthenticatedAgent } from '../agents/agent-authenticator';
import { AuditService } from '../audit/audit.service';
import { COLLECTOR_SYSTEM_ACTOR } from '../audit/audit-context';
import { CertificateRequestError, fingerprintOf } from './certificate-authority';
import { PkiService } from './pki.service';

export interface RenewedCertificate {
  certificatePem: string;
  notAfter: Date;
  caBundlePem: string;
}

/**
 * The RenewCertificate use case: an enrolled agent, authenticated by its current client
 * certificate, gets a certificate for a new key. The new certificate becomes the agent's
 * current one; the presented one stays accepted as "previous" until the agent has called with
 * the new one (AgentAuthenticator clears it), so a crash on the agent between this answer and
 * its file swap never locks it out. Every renewal is audited (agent.certificate.renewed).
 */
@Injectable()
export class CertificateRenewalService {
  constructor(
    private readonly database: DatabaseService,
    private readonly pki: PkiService,
    private readonly audit: AuditService,
    private readonly authenticator: AgentAuthenticator,
    private readonly logger: JsonLogger,
    @Inject(COLLECTOR_CONFIG) private readonly config: CollectorConfig,
  ) {}

  async renew(agent: AuthenticatedAgent, presentedDer: Buffer, csrPem: string, peer: string, now = new Date()): Promise<RenewedCertificate> {
    let signed;
    try {
      signed = await this.pki.authority.signAgentRequest(csrPem, agent.agentId, this.config.agentCertDays, now);
    } catch (error) {
      if (error instanceof CertificateRequestError) {
        this.logger.emitFields('warn', 'certificate renewal refused', { agentId: agent.agentId, reason: error.message });
        throw invalidArgument(error.message);
      }
      throw error;
    }
    const presented = new NodeX509Certificate(presentedDer);
    if (sameKey(presented, new NodeX509Certificate(signed.certificatePem))) {
      const message = "certificate_signing_request_pem: the request is for the current certificate's key; generate a new key for a renewal";
      this.logger.emitFields('warn', 'certificate renewal refused', { agentId: agent.agentId, reason: message });
      throw invalidArgument(message);
    }
    const presentedFingerprint = fingerprintOf(presentedDer);
    const renewed = await this.database.transaction(async (sql) => {
      const [before] = await sql.query<{ cert_fingerprint: string; cert_serial: string; cert_expires_at: string | number }>(
        'SELECT cert_fingerprint, cert_serial, cert_expires_at FROM agents WHERE id = ?',
        [agent.agentId],
      );
      // Guarded: a revocation or another renewal that committed since authentication wins.
      const changed = await sql.run(
        // The issuing CA and the CAs the agent trusts are left to its next heartbeat: an answer that
        // never arrived or was not stored must not count the agent as ready for a CA rotation step.
        `UPDATE agents SET cert_fingerprint = ?, cert_serial = ?, cert_expires_at = ?, previous_cert_fingerprint = ?, cert_renewed_at = ?
           WHERE id = ? AND status = 'enrolled' AND (cert_fingerprint = ? OR previous_cert_fingerprint = ?)`,
        [signed.fingerprint, signed.serialNumber, signed.notAfter, presentedFingerprint, now, agent.agentId, presentedFingerprint, presentedFingerprint],
      );
      if (changed === 0 || before === undefined) return false;
      await this.audit.appendWithin(
        sql,
        {
          action: 'agent.certificate.renewed',
          subjectType: 'agent',
          subjectId: agent.agentId,
          before: { certFingerprint: before.cert_fingerprint, certSerial: before.cert_serial, certExpiresAt: new Date(Number(before.cert_expires_at)).toISOString() },
          after: {
            certFingerprint: signed.fingerprint,
            certSerial: signed.serialNumber,
            certExpiresAt: signed.notAfter.toISOString(),
            certIssuerPin: this.pki.caPin,
            renewedWith: presentedFingerprint,
            from: peer,
          },
          actor: COLLECTOR_SYSTEM_ACTOR,
        },
        now,
      );
      return true;
    });
    if (!renewed) throw unauthenticated(`agent ${agent.agentId} cannot renew: it was revoked or its certificate was replaced meanwhile`);
    this.authenticator.renewed(agent.agentId);
    this.logger.emitFields('info', 'agent certificate renewed', { agentId: agent.agentId, expiresAt: signed.notAfter.toISOString() });
    return { certificatePem: signed.certificatePem, notAfter: signed.notAfter, caBundlePem: this.pki.trustBundlePem };
  }
}

function sameKey(a: NodeX509Certificate, b: NodeX509Certificate): boolean {
  return a.publicKey.export({ type: 'spki', format: 'der' }).equals(b.publicKey.export({ type: 'spki', format: 'der' }));
}
