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
  /**
   * Agents revoked by this process. Checked on every call, because a status SELECT that was
   * already in flight when the revocation committed can still answer "enrolled". Revocation is
   * final (there is no un-revoke), so the set only grows, by at most one id per agent.
   */
  private readonly revokedHere = new Set<string>();
  /** Bumped by every revocation here; a lookup that started under an older generation is not cached. */
  private generation = 0;

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
    if (status.status !== 'enrolled' || this.revokedHere.has(status.agentId)) {
      throw unauthenticated(`agent ${status.agentId} has been revoked`);
    }
    return { agentId: status.agentId, fingerprint };
  }

  /** Forgets what is cached for `agentId`'s certificates (a renewal changed them). */
  renewed(agentId: string): void {
    this.generation++;
    for (const [fingerprint, cached] of this.cache) {
      if (cached.agentId === agentId) this.cache.delete(fingerprint);
    }
  }

  /**
   * Records a revocation committed by this process (REST), so the agent's next call fails at
   * once: its cached status is dropped, and answers of lookups still in flight are overruled.
   */
  revoked(agentId: string): void {
    this.revokedHere.add(agentId);
    this.generation++;
    for (const [fingerprint, cached] of this.cache) {
      if (cached.agentId === agentId) this.cache.delete(fingerprint);
    }
  }

  private async statusOf(fingerprint: string): Promise<CachedStatus | null> {
    const now = Date.now();
    const cached = this.cache.get(fingerprint);
    if (cached !== undefined && now - cached.fetchedAt < AGENT_STATUS_CACHE_MS) return cached;
    const generation = this.generation;
    const rows = await this.database.query<{ id: string; status: AgentStatus; cert_fingerprint: string; previous_cert_fingerprint: string | null }>(
      'SELECT id, status, cert_fingerprint, previous_cert_fingerprint FROM agents WHERE cert_fingerprint = ? OR previous_cert_fingerprint = ?',
      [fingerprint, fingerprint],
    );
    if (rows.length === 0) {
      this.cache.delete(fingerprint);
      return null;
    }
    if (rows[0].cert_fingerprint === fingerprint && rows[0].previous_cert_fingerprint !== null) {
      // The agent calls with its renewed certificate: it has stored it, so the one it renewed
      // from (kept only to survive a crash during the swap) is no longer needed.
      await this.database.transaction((sql) =>
        sql.run('UPDATE agents SET previous_cert_fingerprint = NULL WHERE id = ? AND cert_fingerprint = ?', [rows[0].id, fingerprint]),
      );
      for (const [cachedFingerprint, cached] of this.cache) {
        if (cached.agentId === rows[0].id && cachedFingerprint !== fingerprint) this.cache.delete(cachedFingerprint);
      }
    }
    const fresh = { agentId: rows[0].id, status: rows[0].status, fetchedAt: now };
    // A revocation while the SELECT ran may have committed after the row was read: do not keep that answer.
    if (generation === this.generation) this.cache.set(fingerprint, fresh);
    return fresh;
  }
}
