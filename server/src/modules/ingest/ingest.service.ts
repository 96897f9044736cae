import { Injectable } from '@nestjs/common';
import { status } from '@grpc/grpc-js';
import { RpcException } from '@nestjs/microservices';
import { randomUUID } from 'node:crypto';
import { invalidArgument } from '../../common/grpc-errors';
import { DatabaseService, SqlExecutor } from '../../database/database.service';
import type { UploadEventsResponse } from '../../generated/mamori/v1/telemetry';
import { JsonLogger } from '../../logging/json-logger';
import { MetricsService } from '../metrics/metrics.service';
import { LedgerPostureService } from '../ledger/ledger-posture.service';
import { DestinationIngestService } from '../network/destination-ingest.service';
import { TransferIngestService } from '../transfers/transfer-ingest.service';
import { policyDocumentFrom } from '../policy/policy-document';
import {
  choosePolicyVersion,
  evaluateUsbEvent,
  evaluatorPolicy,
  reportedExceptionId,
  reportedPolicyOf,
  USB_RULE_EVENT_KINDS,
  ViolationDraft,
} from '../violations/usb-device.rules';
import { BatchValidationError, validateUploadBatch, ValidatedEvent } from './event-validation';
import { collectorLineageWithin, exceptionsHeldSince, policyDocumentsFor } from './policy-at-event';

export const INVALID_EVENT_INDEX_TRAILER = 'mamori-invalid-event-index';
/** Rows per INSERT: 500 × 9 parameters stays far below SQLite's and PostgreSQL's parameter limits. */
const EVENT_ROWS_PER_STATEMENT = 500;
const VIOLATION_ROWS_PER_STATEMENT = 500;

/**
 * Stores a batch of events exactly once per (agent, event id) and evaluates rules on the
 * events this call stored, all in one transaction: either the batch and its violations are
 * stored, or nothing is. Uses raw multi-row INSERT … ON CONFLICT DO NOTHING RETURNING,
 * because the ORM's insert path is several times slower for the sizes agents send.
 */
@Injectable()
export class IngestService {
  constructor(
    private readonly database: DatabaseService,
    private readonly logger: JsonLogger,
    private readonly ledger: LedgerPostureService,
    private readonly transfers: TransferIngestService,
    private readonly destinations: DestinationIngestService,
    private readonly metrics: MetricsService,
  ) {}

  async upload(agentId: string, request: unknown, now = new Date()): Promise<UploadEventsResponse> {
    const stopTimer = this.metrics.ingestBatches.startTimer();
    let outcome = 'failed';
    try {
      const response = await this.store(agentId, request, now);
      outcome = 'stored';
      return response;
    } catch (error) {
      if (error instanceof RpcException && (error.getError() as { code?: unknown }).code === status.INVALID_ARGUMENT) outcome = 'refused';
      throw error;
    } finally {
      stopTimer({ outcome });
    }
  }

  private async store(agentId: string, request: unknown, now: Date): Promise<UploadEventsResponse> {
    let batch: ReturnType<typeof validateUploadBatch>;
    try {
      batch = validateUploadBatch(request);
    } catch (error) {
      if (!(error instanceof BatchValidationError)) throw error;
      this.logger.emitFields('warn', 'batch refused', { agentId, problem: error.message, eventIndex: error.eventIndex });
      throw invalidArgument(error.message, error.eventIndex === null ? undefined : { [INVALID_EVENT_INDEX_TRAILER]: String(error.eventIndex) });
    }

    const { stored, violations, storedKinds } = await this.database.transaction(async (sql) => {
      const inserted = await this.insertEvents(sql, agentId, batch.batchId, batch.events, now);
      const fresh = firstOfEach(batch.events).filter((event) => inserted.has(event.eventId));
      const { drafts, hostname } = await this.evaluateRules(sql, agentId, fresh);
      // File transfers go to the transfer log in the same transaction; their per-file and per-plug violations share the store below.
      const transfers = await this.transfers.ingest(sql, agentId, fresh, now);
      // Refused or audited connections fold into destination.not_whitelisted, one unresolved violation per destination.
      const destinationsRaised = await this.destinations.ingest(sql, agentId, fresh, now);
      const created =
        (await this.insertViolations(sql, agentId, hostname || transfers.hostname, [...drafts, ...transfers.drafts], now)) + transfers.dailyVolumeRaised + destinationsRaised;
      // Disk-encryption reports update the machine's posture and its disk.unencrypted violation in the same transaction.
      await this.ledger.diskEncryptionEvents(sql, agentId, fresh, now);
      await sql.run('UPDATE agents SET last_seen_at = ? WHERE id = ?', [now, agentId]);
      return { stored: inserted.size, violations: created, storedKinds: fresh.map((event) => event.kind) };
    });

    for (const [kind, count] of countBy(storedKinds)) this.metrics.eventsIngested.inc({ kind }, count);
    this.metrics.duplicateEvents.inc(batch.events.length - stored);
    this.metrics.violationsRaised.inc(violations);

    if (violations > 0) this.logger.emitFields('info', 'violations detected', { agentId, batchId: batch.batchId, violations });
    this.logger.emitFields('debug', 'batch stored', { agentId, batchId: batch.batchId, stored, duplicates: batch.events.length - stored });
    return { batchId: batch.batchId, storedCount: stored, duplicateCount: batch.events.length - stored };
  }

  private async insertEvents(sql: SqlExecutor, agentId: string, batchId: string, events: ValidatedEvent[], now: Date): Promise<Set<string>> {
    const inserted = new Set<string>();
    for (let start = 0; start < events.length; start += EVENT_ROWS_PER_STATEMENT) {
      const chunk = events.slice(start, start + EVENT_ROWS_PER_STATEMENT);
      const params: unknown[] = [];
      for (const event of chunk) {
        params.push(agentId, event.eventId, BigInt(event.sequence), event.kind, event.occurredAtMs, now, event.userName, batchId, JSON.stringify(event.payload));
      }
      const rows = await sql.query<{ event_id: string }>(
        `INSERT INTO events (agent_id, event_id, sequence, kind, occurred_at, received_at, user_name, batch_id, payload)
         VALUES ${rowsOf(chunk.length, 9)}
         ON CONFLICT (agent_id, event_id) DO NOTHING
         RETURNING event_id`,
        params,
      );
      for (const row of rows) inserted.add(row.event_id);
    }
    return inserted;
  }

  /**
   * Judges the USB events this call stored against the policy the agent decided under (the
   * version its decision names, read inside the transaction; the newest when that version is
   * unknown here, which the violation records) and the exceptions of this agent as they held at
   * each event's own time. Records every use of an exception: the one the collector's verdict
   * relied on, and the one the agent says it applied.
   */
  private async evaluateRules(sql: SqlExecutor, agentId: string, fresh: ValidatedEvent[]): Promise<{ drafts: ViolationDraft[]; hostname: string }> {
    const candidates = fresh.filter((event) => USB_RULE_EVENT_KINDS.includes(event.kind));
    if (candidates.length === 0) return { drafts: [], hostname: '' };
    const collectorLineage = await collectorLineageWithin(sql);
    const documents = await policyDocumentsFor(sql, candidates.map(reportedPolicyOf), collectorLineage);
    const earliest = Math.min(...candidates.map((event) => event.occurredAtMs));
    const exceptions = await exceptionsHeldSince(sql, agentId, earliest);
    const agent = await sql.query<{ hostname: string }>('SELECT hostname FROM agents WHERE id = ?', [agentId]);
    const hostname = agent[0]?.hostname ?? '';
    const drafts: ViolationDraft[] = [];
    for (const event of candidates) {
      const choice = choosePolicyVersion(reportedPolicyOf(event), collectorLineage, (version) => documents.has(version));
      const version = choice.version ?? documents.newest;
      const usb = evaluatorPolicy(documents.get(version) ?? policyDocumentFrom(null), exceptions);
      const judgedUnder = { policyVersion: version, source: choice.version === null ? ('newest' as const) : ('decision' as const), note: choice.note };
      const outcome = evaluateUsbEvent(event, { agentId, hostname }, usb, judgedUnder);
      drafts.push(...outcome.drafts);
      if (event.kind === 'usb_storage_volumes') continue;
      const used = new Set([outcome.exceptionId ?? '', reportedExceptionId(event)].filter((id) => id !== ''));
      for (const exceptionId of used) {
        // Only this agent's own exceptions: an id the agent names for another agent is not a use of it.
        await sql.run(
          `INSERT INTO usb_exception_uses (exception_id, agent_id, event_id, occurred_at)
           SELECT id, agent_id, ?, ? FROM usb_exceptions WHERE id = ? AND agent_id = ?
           ON CONFLICT (exception_id, agent_id, event_id) DO NOTHING`,
          [event.eventId, event.occurredAtMs, exceptionId, agentId],
        );
      }
    }
    return { drafts, hostname };
  }

  /**
   * Stores the drafts, at most one unresolved (open or acknowledged) violation per agent, plug and
   * rule: a rule this plug already has unresolved, from an earlier batch or earlier in this one,
   * is not raised again. A plug whose violation was resolved or dismissed may raise it anew.
   */
  private async insertViolations(sql: SqlExecutor, agentId: string, hostname: string, all: ViolationDraft[], now: Date): Promise<number> {
    if (all.length === 0) return 0;
    const plugs = [...new Set(all.map((draft) => draft.plugId))];
    const taken = new Set<string>();
    for (let start = 0; start < plugs.length; start += VIOLATION_ROWS_PER_STATEMENT) {
      const chunk = plugs.slice(start, start + VIOLATION_ROWS_PER_STATEMENT);
      const rows = await sql.query<{ plug_id: string; rule: string }>(
        `SELECT plug_id, rule FROM violations WHERE agent_id = ? AND status IN ('open', 'acknowledged') AND plug_id IN (${chunk.map(() => '?').join(', ')})`,
        [agentId, ...chunk],
      );
      for (const row of rows) taken.add(`${row.plug_id} ${row.rule}`);
    }
    const drafts = all.filter((draft) => {
      const key = `${draft.plugId} ${draft.rule}`;
      if (taken.has(key)) return false;
      taken.add(key);
      return true;
    });
    let created = 0;
    for (let start = 0; start < drafts.length; start += VIOLATION_ROWS_PER_STATEMENT) {
      const chunk = drafts.slice(start, start + VIOLATION_ROWS_PER_STATEMENT);
      const params: unknown[] = [];
      for (const draft of chunk) {
        params.push(
          randomUUID(),
          draft.rule,
          draft.severity,
          'open',
          agentId,
          draft.eventId,
          hostname,
          draft.userName,
          JSON.stringify(draft.device),
          draft.enforcement === null ? null : JSON.stringify(draft.enforcement),
          draft.occurredAtMs,
          now,
          draft.summary,
          null,
          now,
          draft.plugId,
          JSON.stringify(draft.judgedUnder),
        );
      }
      const rows = await sql.query<{ id: string }>(
        `INSERT INTO violations (id, rule, severity, status, agent_id, event_id, hostname, user_name, device, enforcement, occurred_at, detected_at, summary, note, updated_at, plug_id, judged_under)
         VALUES ${rowsOf(chunk.length, 17)}
         ON CONFLICT (agent_id, event_id, rule) DO NOTHING
         RETURNING id`,
        params,
      );
      created += rows.length;
    }
    return created;
  }
}

function rowsOf(rows: number, columns: number): string {
  const row = `(${new Array(columns).fill('?').join(', ')})`;
  return new Array(rows).fill(row).join(', ');
}

/** A batch may carry the same event twice; the first copy is the one stored. */
function firstOfEach(events: ValidatedEvent[]): ValidatedEvent[] {
  const seen = new Set<string>();
  return events.filter((event) => (seen.has(event.eventId) ? false : (seen.add(event.eventId), true)));
}

function countBy(values: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return counts;
}
