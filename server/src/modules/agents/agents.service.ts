import { Injectable, NotFoundException } from '@nestjs/common';
import { Observable, Subject } from 'rxjs';
import { DatabaseService } from '../../database/database.service';
import { AuditService } from '../audit/audit.service';
import { snapshotRow } from '../audit/audit-snapshot';
import type { HostIdentity } from '../../generated/mamori/v1/common';
import type { HeartbeatRequest, PostureSummary } from '../../generated/mamori/v1/telemetry';
import { AgentEntity } from './agent.entity';
import { AgentAuthenticator } from './agent-authenticator';

/** Host facts as stored on the agent row, trimmed to sane sizes. */
export function hostFacts(host: HostIdentity | undefined): Pick<
  AgentEntity,
  'hostname' | 'osFamily' | 'osVersion' | 'agentVersion' | 'architecture' | 'machineId' | 'loggedInUsers' | 'networkInterfaces' | 'hardwareSerial' | 'hardwareModel' | 'hardwareVendor'
> {
  const clip = (value: unknown, max = 256) => (typeof value === 'string' ? value.slice(0, max) : '');
  return {
    hostname: clip(host?.hostname),
    osFamily: clip(host?.osFamily, 32),
    osVersion: clip(host?.osVersion),
    agentVersion: clip(host?.agentVersion, 64),
    architecture: clip(host?.architecture, 32),
    machineId: clip(host?.machineId, 128),
    hardwareSerial: clip(host?.hardwareSerial, 128),
    hardwareModel: clip(host?.hardwareModel),
    hardwareVendor: clip(host?.hardwareVendor),
    loggedInUsers: (host?.loggedInUsers ?? []).slice(0, 64).map((user) => clip(user)),
    networkInterfaces: (host?.networkInterfaces ?? []).slice(0, 64).map((nic) => ({
      name: clip(nic.name, 128),
      macAddress: clip(nic.macAddress, 64),
      addresses: (nic.addresses ?? []).slice(0, 64).map((address) => clip(address, 64)),
    })),
  };
}

/** One posture check as people read it: a check that has not run is not a failure. */
export type PostureCheckOutcome = 'passed' | 'failed' | 'not_checked';

export interface AgentPosture {
  fixedDisksEncrypted: PostureCheckOutcome;
  systemVolumeEncrypted: PostureCheckOutcome;
  usbStorageDevicesAttached: number;
  unregisteredUsbStorageDevices: number;
  networkZone: string;
}

/** The posture summary as stored and shown over REST, from the heartbeat's protobuf form. */
export function agentPosture(posture: PostureSummary | undefined): AgentPosture | null {
  if (posture === undefined || posture === null) return null;
  const outcome = (check: unknown): PostureCheckOutcome =>
    check === 'POSTURE_CHECK_PASSED' ? 'passed' : check === 'POSTURE_CHECK_FAILED' ? 'failed' : 'not_checked';
  const count = (value: unknown) => (Number.isSafeInteger(value) && (value as number) >= 0 ? (value as number) : 0);
  return {
    fixedDisksEncrypted: outcome(posture.fixedDisksEncrypted),
    systemVolumeEncrypted: outcome(posture.systemVolumeEncrypted),
    usbStorageDevicesAttached: count(posture.usbStorageDevicesAttached),
    unregisteredUsbStorageDevices: count(posture.unregisteredUsbStorageDevices),
    networkZone: typeof posture.networkZone === 'string' ? posture.networkZone.slice(0, 128) : '',
  };
}

/** The agent registry: list, show, revoke, and the heartbeat facts. */
@Injectable()
export class AgentsService {
  private readonly revocations = new Subject<string>();

  constructor(
    private readonly database: DatabaseService,
    private readonly authenticator: AgentAuthenticator,
    private readonly audit: AuditService,
  ) {}

  /** Agent ids as they are revoked in this process, so open streams can end at once. */
  get revoked$(): Observable<string> {
    return this.revocations.asObservable();
  }

  list(): Promise<AgentEntity[]> {
    return this.database.dataSource.getRepository(AgentEntity).find({ order: { enrolledAt: 'DESC', id: 'DESC' } });
  }

  async get(id: string): Promise<AgentEntity> {
    const agent = await this.database.dataSource.getRepository(AgentEntity).findOneBy({ id });
    if (agent === null) throw new NotFoundException(`agent ${id} does not exist`);
    return agent;
  }

  async eventCount(id: string): Promise<number> {
    const rows = await this.database.query<{ count: string | number }>('SELECT COUNT(*) AS count FROM events WHERE agent_id = ?', [id]);
    return Number(rows[0].count);
  }

  /** Revoking twice is harmless; the first revocation time is kept. */
  async revoke(id: string, now = new Date()): Promise<AgentEntity> {
    await this.get(id);
    await this.database.transaction(async (sql) => {
      const before = await snapshotRow(sql, 'agents', id);
      if (before === null || before.status === 'revoked') return;
      await sql.run("UPDATE agents SET status = 'revoked', revoked_at = ? WHERE id = ? AND status <> 'revoked'", [now, id]);
      await this.audit.appendWithin(
        sql,
        { action: 'agent.revoked', subjectType: 'agent', subjectId: id, before: agentStateOf(before), after: agentStateOf(await snapshotRow(sql, 'agents', id)) },
        now,
      );
    });
    this.authenticator.revoked(id);
    this.revocations.next(id);
    return this.get(id);
  }

  /**
   * Stores what a heartbeat reports, and the CA facts of CA rotation: `issuerPin` (which trusted
   * CA issued the certificate it called with) and the CAs it says it trusts; an agent that
   * reports none keeps what was recorded at its enrollment or renewal.
   */
  async heartbeat(agentId: string, request: HeartbeatRequest, now = new Date(), issuerPin: string | null = null): Promise<void> {
    const facts = hostFacts(request.host);
    const policyVersion = Number(request.health?.policyVersion ?? 0);
    const held = reportedCaPins(request.trustedCaPins);
    await this.database.transaction((sql) =>
      sql.run(
        `UPDATE agents SET hostname = ?, os_family = ?, os_version = ?, agent_version = ?, architecture = ?, machine_id = ?,
           logged_in_users = ?, network_interfaces = ?, posture = ?, health = ?, last_seen_at = ?, policy_version = ?,
           hardware_serial = ?, hardware_model = ?, hardware_vendor = ?,
           cert_issuer_pin = COALESCE(?, cert_issuer_pin), trusted_ca_pins = COALESCE(?, trusted_ca_pins)
         WHERE id = ?`,
        [
          facts.hostname,
          facts.osFamily,
          facts.osVersion,
          facts.agentVersion,
          facts.architecture,
          facts.machineId,
          JSON.stringify(facts.loggedInUsers),
          JSON.stringify(facts.networkInterfaces),
          JSON.stringify(agentPosture(request.posture)),
          JSON.stringify(request.health ?? null),
          now,
          Number.isSafeInteger(policyVersion) ? policyVersion : 0,
          facts.hardwareSerial,
          facts.hardwareModel,
          facts.hardwareVendor,
          issuerPin,
          held.length === 0 ? null : JSON.stringify(held),
          agentId,
        ],
      ),
    );
  }
}

/** A CA pin as agents report it: unpadded base64url SHA-256 (43 characters). */
const CA_PIN = /^[A-Za-z0-9_-]{43}$/;

/** The CA pins a heartbeat reports, well-formed ones only, at most 16, without repeats. */
export function reportedCaPins(pins: readonly string[] | undefined): string[] {
  return [...new Set((pins ?? []).filter((pin) => typeof pin === 'string' && CA_PIN.test(pin)))].slice(0, 16);
}

/** An agent as its audit records show it: who it is and its standing, not its (large, ever-changing) posture. */
function agentStateOf(row: Record<string, unknown> | null): Record<string, unknown> | null {
  if (row === null) return null;
  return { id: row.id, hostname: row.hostname, status: row.status, revokedAt: row.revoked_at, hardwareSerial: row.hardware_serial, requiredZone: row.required_zone };
}
