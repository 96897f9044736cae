import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { CollectorConfig } from '../../config/collector-config';
import { COLLECTOR_CONFIG } from '../../config/collector-config.token';
import type { SqlExecutor } from '../../database/database.service';
import { clearCondition, conditionKey, raiseCondition, unclearedKeys } from './condition-violations';
import { LEDGER_DEVICE_SELECT, ledgerDeviceRecord, LedgerDeviceRecord, violationSubject } from './ledger-device.record';
import { DiskPosture, hostnameKey, isOverdue, judgeDiskPosture, localDate, matchLedgerRow, serialKey } from './ledger.rules';

/** How many violations an evaluation created and cleared, for logs and tests. */
export interface ConditionChanges {
  raised: number;
  cleared: number;
}

const none = (): ConditionChanges => ({ raised: 0, cleared: 0 });
const add = (total: ConditionChanges, more: ConditionChanges) => {
  total.raised += more.raised;
  total.cleared += more.cleared;
  return total;
};

/**
 * Keeps the ledger and its violations true to the facts. Every method works inside the
 * caller's transaction, so a heartbeat, an event batch or an import and the violations they
 * cause are committed together.
 */
@Injectable()
export class LedgerReconciler {
  constructor(@Inject(COLLECTOR_CONFIG) private readonly config: CollectorConfig) {}

  async record(sql: SqlExecutor, id: string): Promise<LedgerDeviceRecord | null> {
    const rows = await sql.query(`${LEDGER_DEVICE_SELECT} WHERE d.id = ?`, [id]);
    return rows.length === 0 ? null : ledgerDeviceRecord(rows[0]);
  }

  async recordOfAgent(sql: SqlExecutor, agentId: string): Promise<LedgerDeviceRecord | null> {
    const rows = await sql.query(`${LEDGER_DEVICE_SELECT} WHERE d.agent_id = ?`, [agentId]);
    return rows.length === 0 ? null : ledgerDeviceRecord(rows[0]);
  }

  /**
   * Gives an enrolled agent its ledger row: the one already matched to it, else the one its
   * hardware serial or host name finds among the rows no enrolled agent holds (see
   * matchLedgerRow), else a new row without a status: a machine outside the ledger.
   */
  async linkAgent(sql: SqlExecutor, agentId: string, now: Date): Promise<LedgerDeviceRecord | null> {
    const linked = await this.recordOfAgent(sql, agentId);
    if (linked !== null) return linked;
    const agents = await sql.query<{ status: string; hostname: string; hardware_serial: string }>('SELECT status, hostname, hardware_serial FROM agents WHERE id = ?', [agentId]);
    const agent = agents[0];
    if (agent === undefined || agent.status !== 'enrolled') return null;
    const candidates = await this.unlinkedLedgerRows(sql);
    const match = matchLedgerRow({ serialKey: serialKey(agent.hardware_serial), hostnameKey: hostnameKey(agent.hostname) }, candidates);
    if (match !== null) {
      await sql.run('UPDATE ledger_devices SET agent_id = ?, matched_by = ?, updated_at = ? WHERE id = ?', [agentId, match.matchedBy, now, match.id]);
      return this.record(sql, match.id);
    }
    const id = randomUUID();
    // A firmware placeholder ("To Be Filled By O.E.M.") is no serial: the row records none.
    const serial = serialKey(agent.hardware_serial) === '' ? '' : agent.hardware_serial;
    await sql.run(
      `INSERT INTO ledger_devices (id, asset_tag, hardware_serial, serial_key, hostname, hostname_key, department, holder, loaned_since, due_back,
         status, note, agent_id, matched_by, created_at, updated_at)
       VALUES (?, NULL, ?, ?, ?, ?, '', '', NULL, NULL, NULL, '', ?, 'discovered', ?, ?)`,
      [id, serial, serialKey(serial), agent.hostname, hostnameKey(agent.hostname), agentId, now, now],
    );
    return this.record(sql, id);
  }

  /** Ledger rows that no enrolled agent holds: never matched, or matched to an agent since revoked (a re-enrolled machine takes its row back). */
  private async unlinkedLedgerRows(sql: SqlExecutor) {
    const rows = await sql.query<{ id: string; serial_key: string; hostname_key: string }>(
      `SELECT d.id, d.serial_key, d.hostname_key FROM ledger_devices d LEFT JOIN agents a ON a.id = d.agent_id
       WHERE d.status IS NOT NULL AND (d.agent_id IS NULL OR a.status <> 'enrolled')`,
    );
    return rows.map((row) => ({ id: row.id, serialKey: row.serial_key, hostnameKey: row.hostname_key }));
  }

  /**
   * After ledger rows were added or changed: every machine discovered outside the ledger is
   * matched again, and one that now finds its row moves there (the discovered row goes away).
   */
  async rematchDiscovered(sql: SqlExecutor, now: Date): Promise<number> {
    const discovered = await sql.query<{ id: string; agent_id: string; hostname: string; hardware_serial: string }>(
      `SELECT d.id, d.agent_id, a.hostname, a.hardware_serial FROM ledger_devices d JOIN agents a ON a.id = d.agent_id
       WHERE d.status IS NULL AND a.status = 'enrolled' ORDER BY d.created_at, d.id`,
    );
    let moved = 0;
    for (const row of discovered) {
      const match = matchLedgerRow({ serialKey: serialKey(row.hardware_serial), hostnameKey: hostnameKey(row.hostname) }, await this.unlinkedLedgerRows(sql));
      if (match === null) continue;
      await sql.run('DELETE FROM ledger_devices WHERE id = ?', [row.id]);
      await sql.run('UPDATE ledger_devices SET agent_id = ?, matched_by = ?, updated_at = ? WHERE id = ?', [row.agent_id, match.matchedBy, now, match.id]);
      moved++;
    }
    return moved;
  }

  /**
   * Stores a disk-encryption report on the agent and raises or clears disk.unencrypted. A report
   * whose checks did not run leaves an open violation open: only a report that shows the disks
   * encrypted clears it.
   */
  async applyDiskPosture(
    sql: SqlExecutor,
    agentId: string,
    posture: DiskPosture | null,
    source: { kind: 'heartbeat' | 'event'; eventId?: string; occurredAt: Date; userName?: string },
    now: Date,
  ): Promise<ConditionChanges> {
    const changes = none();
    if (source.kind === 'event') {
      // A spooled event that arrives after a newer report must not overwrite it.
      const stored = await sql.query<{ disk_encryption_at: string | number | null }>('SELECT disk_encryption_at FROM agents WHERE id = ?', [agentId]);
      const at = stored[0]?.disk_encryption_at;
      if (at !== null && at !== undefined && Number(at) > source.occurredAt.getTime()) return changes;
    }
    const verdict = judgeDiskPosture(posture);
    await sql.run('UPDATE agents SET disk_encryption = ?, disk_encryption_state = ?, disk_encryption_at = ? WHERE id = ?', [
      posture === null ? null : JSON.stringify({ ...posture, findings: verdict.findings, source: source.kind }),
      verdict.state,
      source.occurredAt,
      agentId,
    ]);
    const key = conditionKey.diskUnencrypted(agentId);
    if (verdict.state === 'encrypted') {
      changes.cleared += await clearCondition(sql, key, `the agent reported every fixed disk encrypted (${source.kind === 'event' ? `event ${source.eventId}` : 'heartbeat'})`, now);
    } else if (verdict.state === 'not_encrypted') {
      const record = await this.recordOfAgent(sql, agentId);
      const agent = await this.agentFacts(sql, agentId);
      const failing = (posture?.volumes ?? []).filter((v) => !v.removable);
      const raised = await raiseCondition(
        sql,
        {
          key,
          rule: 'disk.unencrypted',
          severity: 'high',
          agentId,
          ledgerDeviceId: record?.status === null ? null : (record?.id ?? null),
          eventId: source.eventId,
          hostname: agent?.hostname ?? '',
          userName: source.userName ?? agent?.lastUser ?? '',
          subject: { ...violationSubject(record, agent), findings: verdict.findings, volumes: failing },
          summary: `Disk not encrypted on ${agent?.hostname || 'the machine'}: ${verdict.findings.join('; ')}`.slice(0, 2000),
          occurredAt: source.occurredAt,
        },
        now,
      );
      if (raised) changes.raised++;
    }
    return changes;
  }

  private async agentFacts(sql: SqlExecutor, agentId: string): Promise<{ hostname: string; hardwareSerial: string; lastUser: string } | null> {
    const rows = await sql.query<{ hostname: string; hardware_serial: string; logged_in_users: string }>(
      'SELECT hostname, hardware_serial, logged_in_users FROM agents WHERE id = ?',
      [agentId],
    );
    if (rows.length === 0) return null;
    const users = JSON.parse(rows[0].logged_in_users) as string[];
    return { hostname: rows[0].hostname, hardwareSerial: rows[0].hardware_serial, lastUser: users[0] ?? '' };
  }

  /** The agent was heard: a silent violation about it ends. */
  async heard(sql: SqlExecutor, agentId: string, now: Date): Promise<ConditionChanges> {
    return { raised: 0, cleared: await clearCondition(sql, conditionKey.agentSilent(agentId), `the agent was heard again at ${now.toISOString()}`, now) };
  }

  /**
   * Brings ledger.unknown_device, ledger.overdue and agent.silent in line with the current
   * ledger and agents: raises what holds and is not live yet, clears what no longer holds.
   */
  async evaluateAll(sql: SqlExecutor, now: Date): Promise<ConditionChanges> {
    const total = none();
    add(total, await this.evaluateUnknownDevices(sql, now));
    add(total, await this.evaluateOverdue(sql, now));
    add(total, await this.evaluateSilent(sql, now));
    return total;
  }

  /** ledger.unknown_device for one agent's row: raised while the row is outside the ledger, cleared once it is in. */
  async evaluateUnknownDevice(sql: SqlExecutor, record: LedgerDeviceRecord, now: Date): Promise<ConditionChanges> {
    const agent = record.agent;
    if (agent === null || agent.status !== 'enrolled') return none();
    const key = conditionKey.unknownDevice(agent.id);
    if (record.status !== null) {
      return { raised: 0, cleared: await clearCondition(sql, key, `the machine is in the ledger as asset tag ${record.assetTag}`, now) };
    }
    const raised = await raiseCondition(
      sql,
      {
        key,
        rule: 'ledger.unknown_device',
        severity: 'high',
        agentId: agent.id,
        ledgerDeviceId: null,
        hostname: agent.hostname,
        userName: agent.loggedInUsers[0] ?? '',
        subject: { ...violationSubject(null, agent), hardwareModel: agent.hardwareModel, hardwareVendor: agent.hardwareVendor },
        summary: `Enrolled machine ${agent.hostname || agent.id} (serial ${agent.hardwareSerial || 'unknown'}) is not in the ledger`,
        occurredAt: now,
      },
      now,
    );
    return { raised: raised ? 1 : 0, cleared: 0 };
  }

  async evaluateUnknownDevices(sql: SqlExecutor, now: Date): Promise<ConditionChanges> {
    const changes = none();
    const rows = (await sql.query(`${LEDGER_DEVICE_SELECT} WHERE d.status IS NULL AND a.status = 'enrolled'`)).map(ledgerDeviceRecord);
    const current = new Set<string>();
    for (const record of rows) {
      current.add(conditionKey.unknownDevice(record.agent!.id));
      add(changes, await this.evaluateUnknownDevice(sql, record, now));
    }
    for (const key of await unclearedKeys(sql, 'ledger.unknown_device')) {
      if (current.has(key)) continue;
      const agentId = key.slice('ledger.unknown_device:agent:'.length);
      const record = await this.recordOfAgent(sql, agentId);
      const reason =
        record?.agent?.status === 'revoked'
          ? 'the agent was revoked'
          : record !== null && record.status !== null
            ? `the machine is in the ledger as asset tag ${record.assetTag}`
            : 'the machine is no longer enrolled';
      changes.cleared += await clearCondition(sql, key, reason, now);
    }
    return changes;
  }

  async evaluateOverdue(sql: SqlExecutor, now: Date): Promise<ConditionChanges> {
    const changes = none();
    const today = localDate(now);
    const rows = (await sql.query(`${LEDGER_DEVICE_SELECT} WHERE d.status = 'on_loan' AND d.due_back IS NOT NULL AND d.due_back < ?`, [today])).map(ledgerDeviceRecord);
    const current = new Set<string>();
    for (const record of rows) {
      if (!isOverdue(record, today)) continue;
      const key = conditionKey.overdue(record.id);
      current.add(key);
      const raised = await raiseCondition(
        sql,
        {
          key,
          rule: 'ledger.overdue',
          severity: 'low',
          agentId: record.agent?.id ?? null,
          ledgerDeviceId: record.id,
          hostname: record.agent?.hostname || record.hostname,
          userName: record.holder,
          subject: { ...violationSubject(record, record.agent), loanedSince: record.loanedSince, dueBack: record.dueBack },
          summary: `Loan of ${record.assetTag} to ${record.holder} (${record.department}) was due back on ${record.dueBack}`,
          occurredAt: now,
        },
        now,
      );
      if (raised) changes.raised++;
    }
    for (const key of await unclearedKeys(sql, 'ledger.overdue')) {
      if (current.has(key)) continue;
      const record = await this.record(sql, key.slice('ledger.overdue:ledger:'.length));
      const reason =
        record === null
          ? 'the machine was removed from the ledger'
          : record.status !== 'on_loan'
            ? `its ledger status is now ${record.status ?? 'none'}`
            : `it is now due back on ${record.dueBack ?? '(no date)'}`;
      changes.cleared += await clearCondition(sql, key, reason, now);
    }
    return changes;
  }

  /**
   * agent.silent: an enrolled agent unheard (no heartbeat, no upload) for
   * MAMORI_AGENT_SILENT_AFTER_SECONDS, counted from enrollment for one never heard. Machines the
   * ledger already calls lost or retired are not reported again.
   */
  async evaluateSilent(sql: SqlExecutor, now: Date): Promise<ConditionChanges> {
    const changes = none();
    const limit = now.getTime() - this.config.agentSilentAfterSeconds * 1000;
    const rows = await sql.query<{ id: string; hostname: string; hardware_serial: string; logged_in_users: string; last_heard: string | number; ledger_id: string | null }>(
      `SELECT a.id, a.hostname, a.hardware_serial, a.logged_in_users, COALESCE(a.last_seen_at, a.enrolled_at) AS last_heard, d.id AS ledger_id
       FROM agents a LEFT JOIN ledger_devices d ON d.agent_id = a.id
       WHERE a.status = 'enrolled' AND COALESCE(a.last_seen_at, a.enrolled_at) < ? AND (d.status IS NULL OR d.status NOT IN ('lost', 'retired'))`,
      [limit],
    );
    const current = new Set<string>();
    for (const row of rows) {
      const key = conditionKey.agentSilent(row.id);
      current.add(key);
      const record = row.ledger_id === null ? null : await this.record(sql, row.ledger_id);
      const lastHeard = new Date(Number(row.last_heard));
      const raised = await raiseCondition(
        sql,
        {
          key,
          rule: 'agent.silent',
          severity: 'medium',
          agentId: row.id,
          ledgerDeviceId: record?.status === null ? null : (record?.id ?? null),
          hostname: row.hostname,
          userName: (JSON.parse(row.logged_in_users) as string[])[0] ?? '',
          subject: { ...violationSubject(record, { hostname: row.hostname, hardwareSerial: row.hardware_serial }), lastHeardAt: lastHeard.toISOString() },
          summary: `Agent on ${row.hostname || row.id} has not reported since ${lastHeard.toISOString()} (limit ${this.config.agentSilentAfterSeconds} s): the machine may be lost or the agent removed`,
          occurredAt: new Date(Number(row.last_heard) + this.config.agentSilentAfterSeconds * 1000),
        },
        now,
      );
      if (raised) changes.raised++;
    }
    for (const key of await unclearedKeys(sql, 'agent.silent')) {
      if (current.has(key)) continue;
      const agentId = key.slice('agent.silent:agent:'.length);
      const rows = await sql.query<{ status: string; last_seen_at: string | number | null }>('SELECT status, last_seen_at FROM agents WHERE id = ?', [agentId]);
      const record = await this.recordOfAgent(sql, agentId);
      const reason =
        rows[0]?.status !== 'enrolled'
          ? 'the agent was revoked'
          : record?.status === 'lost' || record?.status === 'retired'
            ? `the ledger marks the machine ${record.status}`
            : `the agent was heard again at ${rows[0].last_seen_at === null ? 'an unknown time' : new Date(Number(rows[0].last_seen_at)).toISOString()}`;
      changes.cleared += await clearCondition(sql, key, reason, now);
    }
    return changes;
  }
}
