import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { invalidArgument } from '../../common/grpc-errors';
import { DatabaseService, SqlExecutor } from '../../database/database.service';
import type { UploadEventsResponse } from '../../generated/mamori/v1/telemetry';
import { JsonLogger } from '../../logging/json-logger';
import { attachedMassStorageDevice, evaluateUnregisteredDevice, registerKey, ViolationDraft } from '../violations/usb-unregistered-device.rules';
import { BatchValidationError, validateUploadBatch, ValidatedEvent } from './event-validation';

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
  ) {}

  async upload(agentId: string, request: unknown, now = new Date()): Promise<UploadEventsResponse> {
    let batch: ReturnType<typeof validateUploadBatch>;
    try {
      batch = validateUploadBatch(request);
    } catch (error) {
      if (!(error instanceof BatchValidationError)) throw error;
      this.logger.emitFields('warn', 'batch refused', { agentId, problem: error.message, eventIndex: error.eventIndex });
      throw invalidArgument(error.message, error.eventIndex === null ? undefined : { [INVALID_EVENT_INDEX_TRAILER]: String(error.eventIndex) });
    }

    const { stored, violations } = await this.database.transaction(async (sql) => {
      const inserted = await this.insertEvents(sql, agentId, batch.batchId, batch.events, now);
      const fresh = firstOfEach(batch.events).filter((event) => inserted.has(event.eventId));
      const { drafts, hostname } = await this.evaluateRules(sql, agentId, fresh);
      const created = await this.insertViolations(sql, agentId, hostname, drafts, now);
      await sql.run('UPDATE agents SET last_seen_at = ? WHERE id = ?', [now, agentId]);
      return { stored: inserted.size, violations: created };
    });

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

  private async evaluateRules(sql: SqlExecutor, agentId: string, fresh: ValidatedEvent[]): Promise<{ drafts: ViolationDraft[]; hostname: string }> {
    const candidates = fresh.filter((event) => attachedMassStorageDevice(event) !== null);
    if (candidates.length === 0) return { drafts: [], hostname: '' };
    const register = await sql.query<{ vendor_id: number; product_id: number; serial: string }>(
      'SELECT vendor_id, product_id, serial FROM usb_register_entries',
    );
    const registered = new Set(register.map((entry) => registerKey(Number(entry.vendor_id), Number(entry.product_id), entry.serial)));
    const agent = await sql.query<{ hostname: string }>('SELECT hostname FROM agents WHERE id = ?', [agentId]);
    const hostname = agent[0]?.hostname ?? '';
    const drafts = candidates
      .map((event) => evaluateUnregisteredDevice(event, hostname, (key) => registered.has(key)))
      .filter((draft): draft is ViolationDraft => draft !== null);
    return { drafts, hostname };
  }

  private async insertViolations(sql: SqlExecutor, agentId: string, hostname: string, drafts: ViolationDraft[], now: Date): Promise<number> {
    if (drafts.length === 0) return 0;
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
          draft.occurredAtMs,
          now,
          draft.summary,
          null,
          now,
        );
      }
      const rows = await sql.query<{ id: string }>(
        `INSERT INTO violations (id, rule, severity, status, agent_id, event_id, hostname, user_name, device, occurred_at, detected_at, summary, note, updated_at)
         VALUES ${rowsOf(chunk.length, 14)}
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
