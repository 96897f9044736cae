import { Injectable } from '@nestjs/common';
import { DatabaseService, SqlExecutor } from '../../database/database.service';
import { JsonLogger } from '../../logging/json-logger';
import { ConditionChanges, LedgerReconciler } from './ledger-reconciler';
import { diskPostureOfEvent, diskPostureOfHeartbeat } from './ledger.rules';

/** What ingest hands over: a stored event, as event-validation shaped it. */
export interface StoredEventView {
  eventId: string;
  occurredAtMs: number;
  userName: string;
  kind: string;
  payload: Record<string, unknown>;
}

/**
 * The ingest side of the ledger: a heartbeat links the agent to its ledger row, stores its disk
 * posture and judges it; a DiskEncryptionStatus event is judged the same way.
 */
@Injectable()
export class LedgerPostureService {
  constructor(
    private readonly database: DatabaseService,
    private readonly reconciler: LedgerReconciler,
    private readonly logger: JsonLogger,
  ) {}

  /** After the heartbeat's host facts are stored (AgentsService.heartbeat). */
  async heartbeat(agentId: string, posture: unknown, now = new Date()): Promise<ConditionChanges> {
    const changes = await this.database.transaction(async (sql) => {
      const record = await this.reconciler.linkAgent(sql, agentId, now);
      const total: ConditionChanges = { raised: 0, cleared: 0 };
      const count = (more: ConditionChanges) => {
        total.raised += more.raised;
        total.cleared += more.cleared;
      };
      count(await this.reconciler.heard(sql, agentId, now));
      if (record !== null) count(await this.reconciler.evaluateUnknownDevice(sql, record, now));
      count(await this.reconciler.applyDiskPosture(sql, agentId, diskPostureOfHeartbeat(posture), { kind: 'heartbeat', occurredAt: now }, now));
      return total;
    });
    this.log(agentId, 'heartbeat', changes);
    return changes;
  }

  /** Inside ingest's transaction: judges the DiskEncryptionStatus events this batch stored, oldest first. */
  async diskEncryptionEvents(sql: SqlExecutor, agentId: string, events: StoredEventView[], now: Date): Promise<ConditionChanges> {
    const total: ConditionChanges = { raised: 0, cleared: 0 };
    const reports = events.filter((event) => event.kind === 'disk_encryption_status').sort((a, b) => a.occurredAtMs - b.occurredAtMs);
    if (reports.length === 0) return total;
    // A report may come before the first heartbeat: the machine gets its ledger row now.
    const record = await this.reconciler.linkAgent(sql, agentId, now);
    if (record !== null) {
      const changes = await this.reconciler.evaluateUnknownDevice(sql, record, now);
      total.raised += changes.raised;
      total.cleared += changes.cleared;
    }
    for (const event of reports) {
      const changes = await this.reconciler.applyDiskPosture(
        sql,
        agentId,
        diskPostureOfEvent(event.payload),
        { kind: 'event', eventId: event.eventId, occurredAt: new Date(event.occurredAtMs), userName: event.userName },
        now,
      );
      total.raised += changes.raised;
      total.cleared += changes.cleared;
    }
    this.log(agentId, 'disk_encryption_status', total);
    return total;
  }

  private log(agentId: string, source: string, changes: ConditionChanges): void {
    if (changes.raised > 0 || changes.cleared > 0) this.logger.emitFields('info', 'ledger conditions changed', { agentId, source, ...changes });
  }
}
