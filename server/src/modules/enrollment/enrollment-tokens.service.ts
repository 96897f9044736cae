import { BadRequestException, Inject, Injectable, NotFoundException } from '@nestjs/common';
import type { CollectorConfig } from '../../config/collector-config';
import { COLLECTOR_CONFIG } from '../../config/collector-config.token';
import { DatabaseService } from '../../database/database.service';
import { AuditService } from '../audit/audit.service';
import { snapshotRow } from '../audit/audit-snapshot';
import { zoneHeldWithin } from '../network/network-zones.service';
import { PkiService } from '../pki/pki.service';
import { EnrollmentTokenEntity } from './enrollment-token.entity';
import { generateEnrollmentToken } from './enrollment-token.format';

export const DEFAULT_TOKEN_LIFETIME_SECONDS = 24 * 3600;

export interface CreateTokenInput {
  label?: string;
  maxUses?: number | null;
  expiresInSeconds?: number;
  /** A defined network zone every agent it enrolls is required in; absent: the installer's choice. */
  zone?: string | null;
}

/** A freshly created token: the only moment the full token exists. */
export interface CreatedToken {
  entity: EnrollmentTokenEntity;
  token: string;
  caPin: string;
  enrollCommand: string;
}

/** Creates, lists and revokes enrollment tokens (REST and CLI share it). */
@Injectable()
export class EnrollmentTokensService {
  constructor(
    private readonly database: DatabaseService,
    private readonly pki: PkiService,
    @Inject(COLLECTOR_CONFIG) private readonly config: CollectorConfig,
    private readonly audit: AuditService,
  ) {}

  async create(input: CreateTokenInput, now = new Date()): Promise<CreatedToken> {
    const caPin = this.pki.caPin;
    const generated = generateEnrollmentToken(caPin);
    const entity = Object.assign(new EnrollmentTokenEntity(), {
      id: generated.id,
      label: input.label ?? '',
      secretHash: generated.secretHash,
      createdAt: now,
      expiresAt: new Date(now.getTime() + (input.expiresInSeconds ?? DEFAULT_TOKEN_LIFETIME_SECONDS) * 1000),
      maxUses: input.maxUses ?? null,
      uses: 0,
      revokedAt: null,
      zone: input.zone ?? null,
    });
    await this.database.transaction(async (sql) => {
      if (entity.zone !== null && !(await zoneHeldWithin(sql, entity.zone))) {
        throw new BadRequestException(`zone ${entity.zone} is not a defined zone (GET /api/v1/zones)`);
      }
      await sql.run(
        'INSERT INTO enrollment_tokens (id, label, secret_hash, created_at, expires_at, max_uses, uses, revoked_at, zone) VALUES (?, ?, ?, ?, ?, ?, 0, NULL, ?)',
        [entity.id, entity.label, entity.secretHash, entity.createdAt, entity.expiresAt, entity.maxUses, entity.zone],
      );
      const after = await snapshotRow(sql, 'enrollment_tokens', entity.id);
      await this.audit.appendWithin(sql, { action: 'enrollment_token.created', subjectType: 'enrollment_token', subjectId: entity.id, before: null, after }, now);
    });
    return { entity, token: generated.token, caPin, enrollCommand: this.enrollCommand(generated.token) };
  }

  list(): Promise<EnrollmentTokenEntity[]> {
    return this.database.dataSource.getRepository(EnrollmentTokenEntity).find({ order: { createdAt: 'DESC', id: 'DESC' } });
  }

  async get(id: string): Promise<EnrollmentTokenEntity> {
    const token = await this.database.dataSource.getRepository(EnrollmentTokenEntity).findOneBy({ id });
    if (token === null) throw new NotFoundException(`enrollment token ${id} does not exist`);
    return token;
  }

  /** Revoking twice is harmless; the first revocation time is kept. */
  async revoke(id: string, now = new Date()): Promise<EnrollmentTokenEntity> {
    await this.get(id);
    await this.database.transaction(async (sql) => {
      const before = await snapshotRow(sql, 'enrollment_tokens', id);
      // Revoking a revoked token changes nothing, so it leaves no record either.
      if (before === null || before.revoked_at !== null) return;
      await sql.run('UPDATE enrollment_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', [now, id]);
      const after = await snapshotRow(sql, 'enrollment_tokens', id);
      await this.audit.appendWithin(sql, { action: 'enrollment_token.revoked', subjectType: 'enrollment_token', subjectId: id, before, after }, now);
    });
    return this.get(id);
  }

  private enrollCommand(token: string): string {
    // A token bound to a zone needs no --zone: the collector applies the token's zone.
    return `mamori-agent enroll --server ${this.advertisedGrpcAddress()} --token ${token}`;
  }

  /** The gRPC address agents should dial: the listen address, with a wildcard host replaced by a certificate name. */
  private advertisedGrpcAddress(): string {
    const match = /^(?:\[(.+)\]|(.*)):(\d+)$/.exec(this.config.grpcAddress);
    const host = match?.[1] ?? match?.[2] ?? '';
    const port = match?.[3] ?? '50051';
    const wildcard = host === '' || host === '0.0.0.0' || host === '::';
    const advertised = wildcard ? this.config.serverNames[0] : host;
    return advertised.includes(':') ? `[${advertised}]:${port}` : `${advertised}:${port}`;
  }
}
