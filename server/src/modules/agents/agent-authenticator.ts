import { Injectable } from '@nestjs/common';
import { DatabaseService } from '../../database/database.service';
import { unauthenticated } from '../../common/grpc-errors';
import { fingerprintOf } from '../pki/certificate-authority';
import type { AgentStatus } from './agent.entity';

/** The agent a verified client certificate belongs to. */
export interface AuthenticatedAgent {
  agentId: string;
  fingerprint: string;
}

/** The part of a grpc-js server call the authenticator reads. */
export interface CallWithAuthContext {
  getAuthContext(): { sslPeerCertificate?: { raw?: Buffer } };
}

/** How long a fingerprint's status may be served from memory; bounds how late a CLI revocation bites. */
export const AGENT_STATUS_CACHE_MS = 5_000;

interface CachedStatus {
  agentId: string;
  status: AgentStatus;
  fetchedAt: number;
}

/**
 * Turns the client certificate of a call into an agent. grpc-js only exposes a peer
 * certificate that verified against the collector's CA, so "no certificate" also covers
 * "certificate from another CA". The agent id comes from the database row the certificate's
 * fingerprint maps to, never from the request.
 */
@Injectable()
export class AgentAuthenticator {
  private readonly cache = new Map<string, CachedStatus>();

  constructor(private readonly database: DatabaseService) {}

  async authenticate(call: CallWithAuthContext | undefined): Promise<AuthenticatedAgent> {
    const certificate = call?.getAuthContext().sslPeerCertificate;
    if (certificate?.raw === undefined) {
      throw unauthenticated('client certificate required: call with the certificate issued at enrollment');
    }
    const fingerprint = fingerprintOf(certificate.raw);
    const status = await this.statusOf(fingerprint);
    if (status === null) {
      throw unauthenticated('client certificate is not the current certificate of any enrolled agent');
    }
    if (status.status !== 'enrolled') {
      throw unauthenticated(`agent ${status.agentId} has been revoked`);
    }
    return { agentId: status.agentId, fingerprint };
  }

  /** Drops what is known about an agent, so its next call sees the database (REST revoke). */
  forget(agentId: string): void {
    for (const [fingerprint, cached] of this.cache) {
      if (cached.agentId === agentId) this.cache.delete(fingerprint);
    }
  }

  private async statusOf(fingerprint: string): Promise<CachedStatus | null> {
    const now = Date.now();
    const cached = this.cache.get(fingerprint);
    if (cached !== undefined && now - cached.fetchedAt < AGENT_STATUS_CACHE_MS) return cached;
    const rows = await this.database.query<{ id: string; status: AgentStatus }>('SELECT id, status FROM agents WHERE cert_fingerprint = ?', [fingerprint]);
    if (rows.length === 0) {
      this.cache.delete(fingerprint);
      return null;
    }
    const fresh = { agentId: rows[0].id, status: rows[0].status, fetchedAt: now };
    this.cache.set(fingerprint, fresh);
    return fresh;
  }
}
