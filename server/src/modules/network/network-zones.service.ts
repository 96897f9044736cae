import { ConflictException, Injectable, NotFoundException } from '@nestjs/common';
import { DatabaseService, SqlExecutor } from '../../database/database.service';
import type { NetworkZoneRow } from '../policy/network-settings';
import { PolicyService } from '../policy/policy.service';
import { normalizeZoneCidrs, normalizeZoneSuffixes } from './destination-syntax';
import type { CreateNetworkZoneDto, UpdateNetworkZoneDto } from './dto/network-zone.dto';
import { recordStep } from './whitelist-history';
import { NetworkZoneRecord, zoneRecord } from './whitelist.record';

/** The actor of a change made with the admin token when the body names nobody. */
export const DEFAULT_ADMIN_ACTOR = 'admin';

/** Reads a zone inside a transaction; null when there is none by that name. */
export async function zoneWithin(sql: Pick<SqlExecutor, 'query'>, name: string): Promise<NetworkZoneRecord | null> {
  const rows = await sql.query<NetworkZoneRow>('SELECT * FROM network_zones WHERE name = ?', [name]);
  return rows.length === 0 ? null : zoneRecord(rows[0]);
}

/**
 * Whether a zone exists, holding it (PostgreSQL: FOR SHARE) until the caller's transaction ends,
 * so that a row naming it (an enrolled agent's required zone, a token bound to it) cannot commit
 * beside a concurrent delete that counted no such rows. SQLite transactions are serialized already.
 */
export async function zoneHeldWithin(sql: Pick<SqlExecutor, 'query' | 'kind'>, name: string): Promise<boolean> {
  const rows = await sql.query<{ name: string }>(`SELECT name FROM network_zones WHERE name = ?${sql.kind === 'postgres' ? ' FOR SHARE' : ''}`, [name]);
  return rows.length > 0;
}

/**
 * Network zones (dev-lan, office-lan, …): what agents classify their host into and where the
 * whitelist applies. Every change publishes a policy version in its transaction and is recorded
 * in the whitelist history with the zone before and after.
 */
@Injectable()
export class NetworkZonesService {
  constructor(
    private readonly database: DatabaseService,
    private readonly policy: PolicyService,
  ) {}

  async list(): Promise<NetworkZoneRecord[]> {
    const rows = await this.database.query<NetworkZoneRow>('SELECT * FROM network_zones ORDER BY position, name');
    return rows.map(zoneRecord);
  }

  async get(name: string): Promise<NetworkZoneRecord> {
    const rows = await this.database.query<NetworkZoneRow>('SELECT * FROM network_zones WHERE name = ?', [name]);
    if (rows.length === 0) throw new NotFoundException(`zone ${name} does not exist`);
    return zoneRecord(rows[0]);
  }

  async create(input: CreateNetworkZoneDto, now = new Date()): Promise<NetworkZoneRecord> {
    const cidrs = normalizeZoneCidrs(input.cidrs ?? []);
    const dnsSuffixes = normalizeZoneSuffixes(input.dnsSuffixes ?? []);
    const published = await this.database.transaction(async (sql) => {
      if ((await zoneWithin(sql, input.name)) !== null) throw new ConflictException(`zone ${input.name} exists already`);
      const count = await sql.query<{ count: number | string }>('SELECT COUNT(*) AS count FROM network_zones');
      await sql.run('INSERT INTO network_zones (name, position, cidrs, dns_suffixes, mode, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)', [
        input.name,
        Number(count[0]?.count ?? 0),
        JSON.stringify(cidrs),
        JSON.stringify(dnsSuffixes),
        input.mode,
        now,
        now,
      ]);
      if (input.position !== undefined) await this.move(sql, input.name, input.position, now);
      const after = await zoneWithin(sql, input.name);
      const version = await this.policy.publishWithin(sql, now);
      await recordStep(sql, { kind: 'zone.created', subjectId: input.name, actor: input.changedBy ?? DEFAULT_ADMIN_ACTOR, before: null, after, policyVersion: version.version }, now);
      return version;
    });
    this.policy.announce(published);
    return this.get(input.name);
  }

  async update(name: string, input: UpdateNetworkZoneDto, now = new Date()): Promise<NetworkZoneRecord> {
    const cidrs = input.cidrs === undefined ? undefined : normalizeZoneCidrs(input.cidrs);
    const dnsSuffixes = input.dnsSuffixes === undefined ? undefined : normalizeZoneSuffixes(input.dnsSuffixes);
    const published = await this.database.transaction(async (sql) => {
      const before = await this.locked(sql, name);
      await sql.run('UPDATE network_zones SET cidrs = ?, dns_suffixes = ?, mode = ?, updated_at = ? WHERE name = ?', [
        JSON.stringify(cidrs ?? before.cidrs),
        JSON.stringify(dnsSuffixes ?? before.dnsSuffixes),
        input.mode ?? before.mode,
        now,
        name,
      ]);
      if (input.position !== undefined) await this.move(sql, name, input.position, now);
      const after = await zoneWithin(sql, name);
      const version = await this.policy.publishWithin(sql, now);
      await recordStep(sql, { kind: 'zone.updated', subjectId: name, actor: input.changedBy ?? DEFAULT_ADMIN_ACTOR, before, after, policyVersion: version.version }, now);
      return version;
    });
    this.policy.announce(published);
    return this.get(name);
  }

  /**
   * A zone that active entries, pending requests, devices or usable enrollment tokens still name
   * cannot go: deleting it would silently widen entries meant for it into nothing, leave a device
   * required in a zone that no longer exists, or make a rollout's token refuse every install.
   */
  async delete(name: string, actor = DEFAULT_ADMIN_ACTOR, now = new Date()): Promise<void> {
    const published = await this.database.transaction(async (sql) => {
      const before = await this.locked(sql, name);
      const count = async (statement: string) => Number((await sql.query<{ count: number | string }>(statement, [name]))[0]?.count ?? 0);
      const entries = await count("SELECT COUNT(*) AS count FROM whitelist_entries WHERE zone = ? AND status = 'active'");
      const requests = await count("SELECT COUNT(*) AS count FROM whitelist_requests WHERE zone = ? AND status = 'pending'");
      const agents = await count('SELECT COUNT(*) AS count FROM agents WHERE required_zone = ?');
      const tokenRows = await sql.query<{ count: number | string }>(
        'SELECT COUNT(*) AS count FROM enrollment_tokens WHERE zone = ? AND revoked_at IS NULL AND expires_at > ? AND (max_uses IS NULL OR uses < max_uses)',
        [name, now],
      );
      const tokens = Number(tokenRows[0]?.count ?? 0);
      if (entries + requests + agents + tokens > 0) {
        const bound = tokens > 0 ? `, ${tokens} usable enrollment tokens bound to it` : '';
        throw new ConflictException(
          `zone ${name} is still named by ${entries} active whitelist entries, ${requests} pending requests and ${agents} devices required in it${bound}: end or move them first`,
        );
      }
      await sql.run('DELETE FROM network_zones WHERE name = ?', [name]);
      await this.renumber(sql, (await this.ordered(sql)).map((zone) => zone.name), now);
      const version = await this.policy.publishWithin(sql, now);
      await recordStep(sql, { kind: 'zone.deleted', subjectId: name, actor, before, after: null, policyVersion: version.version }, now);
      return version;
    });
    this.policy.announce(published);
  }

  /**
   * Puts `name` at `position` (0 first; past the end means last) and numbers every zone 0..n-1 in
   * the resulting order, so positions always say exactly where a zone is tried.
   */
  private async move(sql: SqlExecutor, name: string, position: number, now: Date): Promise<void> {
    const others = (await this.ordered(sql)).map((zone) => zone.name).filter((other) => other !== name);
    others.splice(Math.min(position, others.length), 0, name);
    await this.renumber(sql, others, now);
  }

  private async ordered(sql: SqlExecutor): Promise<NetworkZoneRow[]> {
    return sql.query<NetworkZoneRow>('SELECT * FROM network_zones ORDER BY position, name');
  }

  /** Only zones whose position changes are written (their updated_at too). */
  private async renumber(sql: SqlExecutor, names: readonly string[], now: Date): Promise<void> {
    const current = new Map((await this.ordered(sql)).map((zone) => [zone.name, Number(zone.position)]));
    for (const [index, zone] of names.entries()) {
      if (current.get(zone) !== index) await sql.run('UPDATE network_zones SET position = ?, updated_at = ? WHERE name = ?', [index, now, zone]);
    }
  }

  /** The row, locked against a concurrent change on PostgreSQL (SQLite writes are serialised already). */
  private async locked(sql: SqlExecutor, name: string): Promise<NetworkZoneRecord> {
    const rows = await sql.query<NetworkZoneRow>(`SELECT * FROM network_zones WHERE name = ?${sql.kind === 'postgres' ? ' FOR UPDATE' : ''}`, [name]);
    if (rows.length === 0) throw new NotFoundException(`zone ${name} does not exist`);
    return zoneRecord(rows[0]);
  }
}
