import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { CollectorConfig } from '../../config/collector-config';
import { COLLECTOR_CONFIG } from '../../config/collector-config.token';
import { invalidArgument, unauthenticated } from '../../common/grpc-errors';
import { toTimestamp } from '../../common/protobuf-time';
import { DatabaseService } from '../../database/database.service';
import type { EnrollRequest, EnrollResponse } from '../../generated/mamori/v1/enrollment';
import { JsonLogger } from '../../logging/json-logger';
import { hostFacts } from '../agents/agents.service';
import { zoneHeldWithin } from '../network/network-zones.service';
import { recordStep } from '../network/whitelist-history';
import { CertificateRequestError } from '../pki/certificate-authority';
import { PkiService } from '../pki/pki.service';
import { EnrollmentTokenEntity } from './enrollment-token.entity';
import { parseEnrollmentToken, TokenRefusal, tokenRefusal, tokenSecretMatches } from './enrollment-token.format';

const REFUSAL_MESSAGES: Record<TokenRefusal, string> = {
  malformed: 'enrollment token is malformed (expected <id>.<secret>.<caPin>)',
  unknown: 'enrollment token is unknown',
  revoked: 'enrollment token has been revoked',
  expired: 'enrollment token has expired',
  'used up': 'enrollment token has been used up',
  'for another CA': "enrollment token was issued for another certificate authority than this collector's",
};

/** The zone an enrollment asked for is not defined, so nothing was enrolled (thrown inside the transaction to roll it back). */
class UndefinedZoneError extends Error {}

/**
 * The zone the new agent is required in: the one the install named, else the token's. A token
 * bound to a zone decides alone (the token is the credential; whoever holds it cannot place the
 * laptop elsewhere). Returns the refusal text instead when the install names another zone.
 */
export function enrollmentZone(requested: string | undefined, tokenZone: string | null): { zone: string | null } | { refusal: string } {
  const named = requested === undefined || requested.trim() === '' ? null : requested.trim();
  if (tokenZone !== null && named !== null && named !== tokenZone) {
    return { refusal: `this enrollment token is bound to zone ${tokenZone} and cannot enroll a device into zone ${named}; leave --zone out, or use a token created for zone ${named}` };
  }
  return { zone: named ?? tokenZone };
}

/** The Enroll use case: token in, agent id and signed client certificate out. */
@Injectable()
export class EnrollmentService {
  constructor(
    private readonly database: DatabaseService,
    private readonly pki: PkiService,
    private readonly logger: JsonLogger,
    @Inject(COLLECTOR_CONFIG) private readonly config: CollectorConfig,
  ) {}

  async enroll(request: EnrollRequest, now = new Date()): Promise<EnrollResponse> {
    const parsed = parseEnrollmentToken(request.enrollmentToken);
    if (parsed === null) throw this.refuse('malformed');
    const token = await this.database.dataSource.getRepository(EnrollmentTokenEntity).findOneBy({ id: parsed.id });
    if (token === null || !tokenSecretMatches(parsed.secret, token.secretHash)) throw this.refuse('unknown', parsed.id);
    if (parsed.caPin !== this.pki.caPin) throw this.refuse('for another CA', parsed.id);
    const early = tokenRefusal(token, now);
    if (early !== null) throw this.refuse(early, parsed.id);
    const chosen = enrollmentZone(request.requiredZone, token.zone);
    if ('refusal' in chosen) throw this.refuseZone(chosen.refusal, parsed.id);
    const zone = chosen.zone;

    const agentId = randomUUID();
    let signed;
    try {
      signed = await this.pki.authority.signAgentRequest(request.certificateSigningRequestPem, agentId, this.config.agentCertDays, now);
    } catch (error) {
      if (error instanceof CertificateRequestError) throw invalidArgument(error.message);
      throw error;
    }

    const facts = hostFacts(request.host);
    const refusal = await this.database.transaction(async (sql): Promise<TokenRefusal | null> => {
      if (zone !== null && !(await zoneHeldWithin(sql, zone))) {
        const defined = (await sql.query<{ name: string }>('SELECT name FROM network_zones ORDER BY position, name')).map((row) => row.name);
        throw new UndefinedZoneError(
          defined.length === 0
            ? `zone ${zone} is not a defined zone: no zones are defined yet (an administrator defines them in the console, Network, or with POST /api/v1/zones)`
            : `zone ${zone} is not a defined zone; defined zones: ${defined.join(', ')}`,
        );
      }
      // The use is taken with a guarded UPDATE, so two agents racing for the last use cannot both win.
      const taken = await sql.run(
        'UPDATE enrollment_tokens SET uses = uses + 1 WHERE id = ? AND revoked_at IS NULL AND expires_at > ? AND (max_uses IS NULL OR uses < max_uses)',
        [token.id, now],
      );
      if (taken === 0) {
        const rows = await sql.query<{ revoked_at: string | number | null; expires_at: string | number; max_uses: number | null; uses: number }>(
          'SELECT revoked_at, expires_at, max_uses, uses FROM enrollment_tokens WHERE id = ?',
          [token.id],
        );
        const row = rows[0];
        return (
          tokenRefusal(
            {
              revokedAt: row.revoked_at === null ? null : new Date(Number(row.revoked_at)),
              expiresAt: new Date(Number(row.expires_at)),
              maxUses: row.max_uses === null ? null : Number(row.max_uses),
              uses: Number(row.uses),
            },
            now,
          ) ?? 'used up'
        );
      }
      await sql.run(
        `INSERT INTO agents (id, status, hostname, os_family, os_version, agent_version, architecture, machine_id, logged_in_users,
           network_interfaces, posture, health, cert_fingerprint, cert_serial, cert_expires_at, enrollment_token_id, enrolled_at,
           revoked_at, last_seen_at, policy_version, required_zone, cert_issuer_pin, trusted_ca_pins)
         VALUES (?, 'enrolled', ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?, ?, ?, NULL, ?, 0, ?, ?, ?)`,
        [
          agentId,
          facts.hostname,
          facts.osFamily,
          facts.osVersion,
          facts.agentVersion,
          facts.architecture,
          facts.machineId,
          JSON.stringify(facts.loggedInUsers),
          JSON.stringify(facts.networkInterfaces),
          signed.fingerprint,
          signed.serialNumber,
          signed.notAfter,
          token.id,
          now,
          now,
          zone,
          // Signed by the signing CA, which is also the one CA an agent stores at enrollment.
          this.pki.caPin,
          JSON.stringify([this.pki.caPin]),
        ],
      );
      if (zone !== null) {
        // Audited like PATCH /agents/:id/required-zone (agent.required_zone.set), by the collector
        // on behalf of the token that enrolled the device.
        await recordStep(
          sql,
          {
            kind: 'agent.required_zone',
            subjectId: agentId,
            actor: `enrollment-token:${token.id}`,
            reason: request.requiredZone === undefined || request.requiredZone.trim() === '' ? "set at enrollment: the token's zone" : 'set at enrollment: named by the install',
            before: { requiredZone: null },
            after: { requiredZone: zone },
          },
          now,
        );
      }
      return null;
    }).catch((error: unknown) => {
      if (error instanceof UndefinedZoneError) throw this.refuseZone(error.message, parsed.id);
      throw error;
    });
    if (refusal !== null) throw this.refuse(refusal, parsed.id);

    this.logger.emitFields('info', 'agent enrolled', { agentId, hostname: facts.hostname, tokenId: token.id, requiredZone: zone });
    return {
      agentId,
      clientCertificatePem: signed.certificatePem,
      caCertificatePem: this.pki.caCertificatePem,
      certificateExpiresAt: toTimestamp(signed.notAfter),
      requiredZone: zone ?? undefined,
    };
  }

  private refuseZone(message: string, tokenId: string) {
    this.logger.emitFields('warn', 'enrollment refused', { reason: 'zone', tokenId, detail: message });
    return invalidArgument(message);
  }

  private refuse(reason: TokenRefusal, tokenId?: string) {
    this.logger.emitFields('warn', 'enrollment refused', { reason, tokenId });
    return unauthenticated(REFUSAL_MESSAGES[reason]);
  }
}
