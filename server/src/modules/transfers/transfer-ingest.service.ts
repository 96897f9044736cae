import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { SqlExecutor } from '../../database/database.service';
import type { ValidatedEvent } from '../ingest/event-validation';
import { collectorLineageWithin, exceptionsHeldSince, policyDocumentsFor } from '../ingest/policy-at-event';
import { policyDocumentFrom } from '../policy/policy-document';
import { transferSettingsWithin } from '../policy/transfer-settings';
import { choosePolicyVersion, evaluatorPolicy, reportedPolicyOf, type ReportedPolicy, type RuleEvent, type ViolationDraft } from '../violations/usb-device.rules';
import type { ViolationJudgement } from '../violations/violation.entity';
import {
  breaksPersonalDataRule,
  dailyVolumeKey,
  dailyVolumeSummary,
  exceedsDailyLimits,
  isWrite,
  mediaStanding,
  personalDataDraft,
  TRANSFER_DAILY_VOLUME_RULE,
  transferRowOf,
  unregisteredMediaDraft,
  type DailyLimits,
  type DailyVolume,
  type TransferRow,
} from './transfers.rules';

/** 200 rows × 31 parameters stays far below SQLite's (32,766) and PostgreSQL's (65,535) parameter limits. */
const TRANSFER_ROWS_PER_STATEMENT = 200;
const TRANSFER_COLUMNS = [
  'id',
  'agent_id',
  'event_id',
  'occurred_at',
  'received_at',
  'local_day',
  'user_name',
  'channel',
  'operation',
  'path',
  'previous_path',
  'size_bytes',
  'sha256',
  'destination',
  'device_vendor_id',
  'device_product_id',
  'device_serial',
  'device',
  'attached_event_id',
  'plug_id',
  'device_node',
  'destination_encrypted',
  'has_personal_data',
  'findings',
  'inspection_complete',
  'inspection_note',
  'format',
  'encrypted_entries',
  'problem',
  'process_name',
  'process_id',
] as const;

/** What storing a batch's transfers gave: violations for the ingest store to insert (it keeps one unresolved per plug and rule), and how many daily-volume violations were raised. */
export interface TransferIngestOutcome {
  stored: number;
  drafts: ViolationDraft[];
  hostname: string;
  dailyVolumeRaised: number;
}

/**
 * The transfer log's part of ingest, run inside the ingest transaction on the events that call
 * stored (never twice for one event): writes one transfers row per FileTransfer with multi-row
 * INSERTs, judges the personal-data and unregistered-media rules, and keeps each user's daily
 * volume violation up to date.
 */
@Injectable()
export class TransferIngestService {
  async ingest(sql: SqlExecutor, agentId: string, fresh: readonly ValidatedEvent[], now: Date): Promise<TransferIngestOutcome> {
    const events = fresh.filter((event) => event.kind === 'file_transfer');
    if (events.length === 0) return { stored: 0, drafts: [], hostname: '', dailyVolumeRaised: 0 };
    const rows = events.map((event) => transferRowOf(event, agentId, randomUUID(), now));
    await insertRows(sql, rows);
    const agent = await sql.query<{ hostname: string }>('SELECT hostname FROM agents WHERE id = ?', [agentId]);
    const hostname = agent[0]?.hostname ?? '';

    const drafts: ViolationDraft[] = [];
    const personal = rows.filter(breaksPersonalDataRule);
    if (personal.length > 0) {
      const newest = await sql.query<{ version: string | number | null }>('SELECT MAX(version) AS version FROM policy_versions');
      const judgedUnder: ViolationJudgement = {
        policyVersion: Number(newest[0]?.version ?? 0),
        source: 'newest',
        note: 'transfer.personal_data_unencrypted is not configurable; the newest policy version at detection is recorded',
      };
      for (const row of personal) drafts.push(personalDataDraft(row, hostname, judgedUnder));
    }
    drafts.push(...(await this.unregisteredMedia(sql, agentId, hostname, rows)));
    const dailyVolumeRaised = await this.dailyVolume(sql, agentId, hostname, rows, now);
    return { stored: rows.length, drafts, hostname, dailyVolumeRaised };
  }

  /**
   * transfer.to_unregistered_media, once per plug: each written file is judged by the policy the
   * agent's decision about its plug was made under (the plug's attach, or a later re-evaluation
   * before the file), chosen like the usb.* rules choose (choosePolicyVersion); the newest version
   * judges when that decision is not stored here, and the violation says so.
   */
  private async unregisteredMedia(sql: SqlExecutor, agentId: string, hostname: string, rows: TransferRow[]): Promise<ViolationDraft[]> {
    const byPlug = new Map<string, TransferRow[]>();
    for (const row of rows) {
      if (row.device === null || row.plugId === null || !isWrite(row)) continue;
      byPlug.set(row.plugId, [...(byPlug.get(row.plugId) ?? []), row]);
    }
    if (byPlug.size === 0) return [];
    const lineage = await collectorLineageWithin(sql);
    const decided = new Map<TransferRow, ReportedPolicy | null>();
    for (const plugRows of byPlug.values()) {
      plugRows.sort((a, b) => a.occurredAtMs - b.occurredAtMs);
      const attached = plugRows[0].attachedEventId;
      const decisions = attached === null ? [] : await plugDecisions(sql, agentId, attached, plugRows[plugRows.length - 1].occurredAtMs);
      for (const row of plugRows) {
        const before = decisions.filter((decision) => decision.occurredAtMs <= row.occurredAtMs);
        const decision = before.length > 0 ? before[before.length - 1] : (decisions[0] ?? null);
        decided.set(row, decision === null ? null : reportedPolicyOf(decision));
      }
    }
    const reported = [...decided.values()].filter((policy): policy is ReportedPolicy => policy !== null);
    const documents = await policyDocumentsFor(sql, reported, lineage);
    const earliest = Math.min(...[...decided.keys()].map((row) => row.occurredAtMs));
    const exceptions = await exceptionsHeldSince(sql, agentId, earliest);
    const drafts: ViolationDraft[] = [];
    for (const plugRows of byPlug.values()) {
      for (const row of plugRows) {
        const policy = decided.get(row) ?? null;
        const choice =
          policy === null
            ? { version: null, note: "the plug's attach event is not stored here (or the agent named no plug), so the newest version judged it" }
            : choosePolicyVersion(policy, lineage, (version) => documents.has(version));
        const version = choice.version ?? documents.newest;
        const usb = evaluatorPolicy(documents.get(version) ?? policyDocumentFrom(null), exceptions);
        const standing = mediaStanding(row.device!, usb, { agentId, userName: row.userName, at: new Date(row.occurredAtMs) });
        if (!standing.unregistered) continue;
        const judgedUnder: ViolationJudgement = { policyVersion: version, source: choice.version === null ? 'newest' : 'decision', note: choice.note };
        drafts.push(unregisteredMediaDraft(row, hostname, judgedUnder, standing.verdict.reason));
        break;
      }
    }
    return drafts;
  }

  /**
   * transfer.daily_volume: after this batch's rows are stored, each (user, day) it wrote to removable
   * media is counted from the log (so uploads in any order and from several machines add up) and,
   * when over a limit, its one violation is raised or its counts brought up to date. The violation
   * for a day stays one violation whatever its status: triaging it does not make the next file
   * of the same day raise another.
   */
  private async dailyVolume(sql: SqlExecutor, agentId: string, hostname: string, rows: TransferRow[], now: Date): Promise<number> {
    const writes = rows.filter((row) => row.channel === 'removable_media' && isWrite(row));
    if (writes.length === 0) return 0;
    const settings = await transferSettingsWithin(sql);
    const limits: DailyLimits = { dailyFileLimit: settings.dailyFileLimit, dailyByteLimit: settings.dailyByteLimit };
    if (limits.dailyFileLimit === 0 && limits.dailyByteLimit === 0) return 0;
    const groups = new Map<string, TransferRow>();
    for (const row of writes) {
      const key = dailyVolumeKey(row.userName, agentId, row.localDay);
      const last = groups.get(key);
      if (last === undefined || row.occurredAtMs >= last.occurredAtMs) groups.set(key, row);
    }
    let raised = 0;
    for (const [key, last] of [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      // Two collectors (or two uploads) storing the same user's day at once count one after the
      // other, so neither writes a count that misses the other's files. In key order: no deadlock.
      // SQLite writers are serialised already.
      if (sql.kind === 'postgres') await sql.query('SELECT pg_advisory_xact_lock(hashtext(?))', [key]);
      const nobody = last.userName === '';
      const totals = await sql.query<{ files: string | number; bytes: string | number | null }>(
        `SELECT COUNT(*) AS files, SUM(size_bytes) AS bytes FROM transfers
         WHERE user_name = ? AND local_day = ? AND channel = 'removable_media' AND operation = 'written'${nobody ? ' AND agent_id = ?' : ''}`,
        nobody ? [last.userName, last.localDay, agentId] : [last.userName, last.localDay],
      );
      const volume: DailyVolume = { userName: last.userName, day: last.localDay, files: Number(totals[0]?.files ?? 0), bytes: Number(totals[0]?.bytes ?? 0) };
      if (!exceedsDailyLimits(volume, limits)) continue;
      const subject = JSON.stringify({ kind: 'user_day', userName: volume.userName, day: volume.day, files: volume.files, bytes: volume.bytes, ...limits });
      const summary = dailyVolumeSummary(volume, limits);
      const updated = await sql.run('UPDATE violations SET device = ?, summary = ?, updated_at = ? WHERE condition_key = ?', [subject, summary, now, key]);
      if (updated > 0) continue;
      const inserted = await sql.query<{ id: string }>(
        `INSERT INTO violations (id, rule, severity, status, agent_id, event_id, hostname, user_name, device, enforcement, occurred_at, detected_at,
           summary, note, updated_at, condition_key, cleared_at, ledger_device_id, plug_id, judged_under)
         VALUES (?, ?, 'medium', 'open', ?, ?, ?, ?, ?, NULL, ?, ?, ?, NULL, ?, ?, NULL, NULL, NULL, NULL)
         ON CONFLICT (condition_key) WHERE condition_key IS NOT NULL AND cleared_at IS NULL AND status <> 'resolved'
         DO UPDATE SET device = excluded.device, summary = excluded.summary, updated_at = excluded.updated_at
         RETURNING id`,
        [randomUUID(), TRANSFER_DAILY_VOLUME_RULE, agentId, last.eventId, hostname, volume.userName, subject, last.occurredAtMs, now, summary, now, key],
      );
      raised += inserted.length;
    }
    return raised;
  }
}

async function insertRows(sql: SqlExecutor, rows: TransferRow[]): Promise<void> {
  for (let start = 0; start < rows.length; start += TRANSFER_ROWS_PER_STATEMENT) {
    const chunk = rows.slice(start, start + TRANSFER_ROWS_PER_STATEMENT);
    const params: unknown[] = [];
    for (const row of chunk) {
      params.push(
        row.id,
        row.agentId,
        row.eventId,
        row.occurredAtMs,
        row.receivedAt,
        row.localDay,
        row.userName,
        row.channel,
        row.operation,
        row.path,
        row.previousPath,
        row.sizeBytes,
        row.sha256,
        row.destination,
        row.device?.vendorId ?? null,
        row.device?.productId ?? null,
        row.device?.serial ?? null,
        row.device === null ? null : JSON.stringify(row.device),
        row.attachedEventId,
        row.plugId,
        row.deviceNode,
        row.destinationEncrypted,
        row.hasPersonalData,
        JSON.stringify(row.findings),
        row.inspectionComplete,
        row.inspectionNote,
        row.format,
        row.encryptedEntries,
        row.problem,
        row.processName,
        row.processId,
      );
    }
    const row = `(${TRANSFER_COLUMNS.map(() => '?').join(', ')})`;
    await sql.run(
      `INSERT INTO transfers (${TRANSFER_COLUMNS.join(', ')}) VALUES ${new Array(chunk.length).fill(row).join(', ')}
       ON CONFLICT (agent_id, event_id) DO NOTHING`,
      params,
    );
  }
}

/**
 * The agent's decisions about one plug up to `untilMs`, oldest first: its attach, and the
 * re-evaluations (and a restarted agent's continuing attach) that name it. Only events from the
 * attach on are read, through the (agent, time) index.
 */
async function plugDecisions(sql: SqlExecutor, agentId: string, plugId: string, untilMs: number): Promise<RuleEvent[]> {
  const attach = await sql.query<{ occurred_at: string | number; payload: string }>(
    `SELECT occurred_at, payload FROM events WHERE agent_id = ? AND event_id = ? AND kind = 'usb_device_attached'`,
    [agentId, plugId],
  );
  if (attach.length === 0) return [];
  const from = Number(attach[0].occurred_at);
  const later = await sql.query<{ event_id: string; kind: string; occurred_at: string | number; payload: string }>(
    `SELECT event_id, kind, occurred_at, payload FROM events
     WHERE agent_id = ? AND occurred_at >= ? AND occurred_at <= ? AND kind IN ('usb_device_reevaluated', 'usb_device_attached') AND event_id <> ? AND payload LIKE ?
     ORDER BY occurred_at`,
    [agentId, from, Math.max(from, untilMs), plugId, `%"${plugId}"%`],
  );
  const event = (eventId: string, kind: string, at: string | number, payload: string): RuleEvent => ({
    eventId,
    kind,
    occurredAtMs: Number(at),
    userName: '',
    payload: JSON.parse(payload) as Record<string, unknown>,
  });
  return [event(plugId, 'usb_device_attached', attach[0].occurred_at, attach[0].payload), ...later.map((row) => event(row.event_id, row.kind, row.occurred_at, row.payload))];
}
