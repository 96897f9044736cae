import { BadRequestException, Injectable, NotFoundException } from '@nestjs/common';
import { DatabaseService, SqlExecutor } from '../../database/database.service';
import { JsonLogger } from '../../logging/json-logger';
import { clearCondition, conditionKey, raiseCondition } from '../ledger/condition-violations';
import { LEDGER_DEVICE_SELECT, ledgerDeviceRecord, violationSubject } from '../ledger/ledger-device.record';
import { DEFAULT_ADMIN_ACTOR, zoneWithin } from './network-zones.service';
import { judgeZone, NETWORK_WRONG_ZONE_RULE } from './network.rules';
import { recordStep } from './whitelist-history';

/**
 * Devices that belong to a zone (a partner's machine kept on the development LAN): the required
 * zone on the agent's row, and network.wrong_zone, raised when a heartbeat reports the host in
 * another zone and cleared when it reports the required zone again (or the requirement goes).
 * A heartbeat that reports no zone says nothing either way.
 */
@Injectable()
export class AgentZoneService {
  constructor(
    private readonly database: DatabaseService,
    private readonly logger: JsonLogger,
  ) {}

  /** Sets or (null) removes the zone the device must be in, and judges its last reported zone at once. */
  async setRequiredZone(agentId: string, zone: string | null, actor = DEFAULT_ADMIN_ACTOR, now = new Date()): Promise<void> {
    await this.database.transaction(async (sql) => {
      const rows = await sql.query<{ required_zone: string | null }>(`SELECT required_zone FROM agents WHERE id = ?${sql.kind === 'postgres' ? ' FOR UPDATE' : ''}`, [agentId]);
      if (rows.length === 0) throw new NotFoundException(`agent ${agentId} does not exist`);
      if (zone !== null && (await zoneWithin(sql, zone)) === null) throw new BadRequestException(`zone ${zone} is not a defined zone (GET /api/v1/zones)`);
      await sql.run('UPDATE agents SET required_zone = ? WHERE id = ?', [zone, agentId]);
      await recordStep(sql, { kind: 'agent.required_zone', subjectId: agentId, actor, before: { requiredZone: rows[0].required_zone }, after: { requiredZone: zone } }, now);
      await this.judgeWithin(sql, agentId, now, 'the required zone changed');
    });
  }

  /**
   * After the heartbeat's posture is stored (AgentsService.heartbeat). Most devices have no
   * required zone and most heartbeats change nothing: those are answered by reads alone, so the
   * heartbeat path takes no extra write transaction (on SQLite, the process-wide write lock).
   */
  async heartbeat(agentId: string, now = new Date()): Promise<void> {
    const rows = await this.database.query<{ required_zone: string | null; posture: string | null; status: string }>(
      'SELECT required_zone, posture, status FROM agents WHERE id = ?',
      [agentId],
    );
    const agent = rows[0];
    // Removing the requirement clears at once (setRequiredZone), so a device without one has nothing to clear here.
    if (agent === undefined || agent.required_zone === null || agent.required_zone === '') return;
    const verdict = agent.status === 'enrolled' ? judgeZone(agent.required_zone, reportedZoneOf(agent.posture)) : 'clear';
    if (verdict === 'unknown') return;
    // Clearing concerns any uncleared violation; raising is needed only when none is live (open, acknowledged or dismissed).
    const live = await this.database.query(
      `SELECT id FROM violations WHERE condition_key = ? AND cleared_at IS NULL${verdict === 'raise' ? " AND status <> 'resolved'" : ''} LIMIT 1`,
      [conditionKey.wrongZone(agentId)],
    );
    if ((verdict === 'clear') === (live.length === 0)) return;
    await this.database.transaction((sql) => this.judgeWithin(sql, agentId, now, 'heartbeat'));
  }

  private async judgeWithin(sql: SqlExecutor, agentId: string, now: Date, source: string): Promise<void> {
    const rows = await sql.query<{ hostname: string; hardware_serial: string; logged_in_users: string; required_zone: string | null; posture: string | null; status: string }>(
      'SELECT hostname, hardware_serial, logged_in_users, required_zone, posture, status FROM agents WHERE id = ?',
      [agentId],
    );
    const agent = rows[0];
    if (agent === undefined) return;
    const reported = reportedZoneOf(agent.posture);
    const key = conditionKey.wrongZone(agentId);
    const verdict = agent.status === 'enrolled' ? judgeZone(agent.required_zone, reported) : 'clear';
    if (verdict === 'clear') {
      const reason =
        agent.required_zone === null || agent.required_zone === '' ? 'the device is no longer required in a zone' : `the agent reported zone ${reported} (${source})`;
      const cleared = await clearCondition(sql, key, reason, now);
      if (cleared > 0) this.logger.emitFields('info', 'network.wrong_zone cleared', { agentId, source });
      return;
    }
    if (verdict === 'unknown') return;
    const ledger = await sql.query(`${LEDGER_DEVICE_SELECT} WHERE d.agent_id = ?`, [agentId]);
    const record = ledger.length === 0 ? null : ledgerDeviceRecord(ledger[0]);
    const users = JSON.parse(agent.logged_in_users) as string[];
    const raised = await raiseCondition(
      sql,
      {
        key,
        rule: NETWORK_WRONG_ZONE_RULE,
        severity: 'high',
        agentId,
        ledgerDeviceId: record?.status === null ? null : (record?.id ?? null),
        hostname: agent.hostname,
        userName: users[0] ?? '',
        subject: { ...violationSubject(record, { hostname: agent.hostname, hardwareSerial: agent.hardware_serial }), requiredZone: agent.required_zone, reportedZone: reported },
        summary: `${agent.hostname || 'A device'} is required in zone ${agent.required_zone} but reported zone ${reported}`.slice(0, 2000),
        occurredAt: now,
      },
      now,
    );
    if (raised) this.logger.emitFields('info', 'network.wrong_zone raised', { agentId, requiredZone: agent.required_zone, reportedZone: reported });
  }
}

/** The zone the agent's stored posture (AgentsService.heartbeat's JSON) reports, '' when none. */
function reportedZoneOf(posture: string | null): string {
  const parsed = posture === null ? null : (JSON.parse(posture) as { networkZone?: unknown } | null);
  return typeof parsed?.networkZone === 'string' ? parsed.networkZone : '';
}
