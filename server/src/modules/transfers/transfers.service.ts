import { Injectable, NotFoundException } from '@nestjs/common';
import { matchesRegisterEntry } from '../../../../agent/src/core/usb-policy';
import type { UsbDevice as EvaluatorDevice } from '../../../../agent/src/generated/mamori/v1/common';
import { CursorPosition, pageOf } from '../../common/pagination-cursor';
import { DatabaseService } from '../../database/database.service';
import type { PolicyRegisterEntry } from '../policy/policy-document';
import { PolicyService } from '../policy/policy.service';
import { ViolationEntity } from '../violations/violation.entity';
import { TRANSFER_SELECT, transferRecord, type TransferRecord } from './transfer.record';
import { dailyVolumeKey, TRANSFER_UNREGISTERED_MEDIA_RULE } from './transfers.rules';

export interface TransferFilter {
  userName?: string;
  deviceSerial?: string;
  agentId?: string;
  since?: Date;
  until?: Date;
  sha256?: string;
  hasPersonalData?: boolean;
  channel?: string;
  operation?: string;
}

/** A transfer with what it links to: its device's register standing and plug, and the violations it raised or counts toward. */
export interface TransferDetail {
  transfer: TransferRecord;
  /** The register entry (as the register holds it now) the device matches; null when none, or no USB device. */
  registerEntry: PolicyRegisterEntry | null;
  /** Whether the plug's attach event is stored here. */
  attachEventStored: boolean;
  violations: ViolationEntity[];
}

/** Rows per page of the CSV export. */
const EXPORT_PAGE = 1000;

/** Reading the transfer log: search, one transfer with its links, and a period in time order for the export. */
@Injectable()
export class TransfersService {
  constructor(
    private readonly database: DatabaseService,
    private readonly policy: PolicyService,
  ) {}

  /** Newest first (occurred_at desc, id desc), keyset-paginated. */
  async list(filter: TransferFilter, limit: number, after: CursorPosition | null): Promise<{ items: TransferRecord[]; nextCursor: string | null }> {
    const { where, params } = whereOf(filter);
    if (after !== null) {
      where.push('(t.occurred_at < ? OR (t.occurred_at = ? AND t.id < ?))');
      params.push(after.at, after.at, after.id);
    }
    const rows = await this.database.query<Record<string, unknown>>(
      `${TRANSFER_SELECT} ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`} ORDER BY t.occurred_at DESC, t.id DESC LIMIT ?`,
      [...params, limit + 1],
    );
    return pageOf(rows.map(transferRecord), limit, (record) => ({ at: record.occurredAt.getTime(), id: record.id }));
  }

  async get(id: string): Promise<TransferDetail> {
    const rows = await this.database.query<Record<string, unknown>>(`${TRANSFER_SELECT} WHERE t.id = ?`, [id]);
    if (rows.length === 0) throw new NotFoundException(`transfer ${id} does not exist`);
    const transfer = transferRecord(rows[0]);
    const device = transfer.device;
    const registerEntry =
      device === null ? null : (this.policy.current().document.usb.registeredDevices.find((entry) => matchesRegisterEntry(device as unknown as EvaluatorDevice, entry)) ?? null);
    const attach =
      transfer.attachedEventId === null
        ? []
        : await this.database.query('SELECT event_id FROM events WHERE agent_id = ? AND event_id = ?', [transfer.agentId, transfer.attachedEventId]);
    return { transfer, registerEntry, attachEventStored: attach.length > 0, violations: await this.violationsOf([transfer]).then((map) => map.get(transfer.id) ?? []) };
  }

  /**
   * The violations each transfer raised or counts toward: those of its own event
   * (transfer.personal_data_unencrypted, and the plug's transfer.to_unregistered_media when this
   * file was the first), the to_unregistered_media violation of its plug, and the
   * transfer.daily_volume violation of its user and day.
   */
  async violationsOf(transfers: TransferRecord[]): Promise<Map<string, ViolationEntity[]>> {
    const result = new Map<string, ViolationEntity[]>(transfers.map((transfer) => [transfer.id, []]));
    if (transfers.length === 0) return result;
    const keyOf = (transfer: TransferRecord) =>
      transfer.channel === 'removable_media' && transfer.operation === 'written' ? dailyVolumeKey(transfer.userName, transfer.agentId, transfer.localDay) : null;
    const eventIds = [...new Set(transfers.map((transfer) => transfer.eventId))];
    const plugIds = [...new Set(transfers.map((transfer) => transfer.plugId).filter((plug): plug is string => plug !== null))];
    const keys = [...new Set(transfers.map(keyOf).filter((key): key is string => key !== null))];
    const query = this.database.dataSource.getRepository(ViolationEntity).createQueryBuilder('v').where('v.event_id IN (:...eventIds)', { eventIds });
    if (plugIds.length > 0) query.orWhere('(v.plug_id IN (:...plugIds) AND v.rule = :plugRule)', { plugIds, plugRule: TRANSFER_UNREGISTERED_MEDIA_RULE });
    if (keys.length > 0) query.orWhere('v.condition_key IN (:...keys)', { keys });
    const violations = await query.orderBy('v.occurred_at', 'ASC').addOrderBy('v.id', 'ASC').getMany();
    const conditionKeys = await this.conditionKeysOf(violations);
    for (const transfer of transfers) {
      const key = keyOf(transfer);
      result.set(
        transfer.id,
        violations.filter(
          (violation) =>
            (violation.agentId === transfer.agentId && violation.eventId === transfer.eventId) ||
            (violation.agentId === transfer.agentId && transfer.plugId !== null && violation.plugId === transfer.plugId && violation.rule === TRANSFER_UNREGISTERED_MEDIA_RULE) ||
            (key !== null && conditionKeys.get(violation.id) === key),
        ),
      );
    }
    return result;
  }

  /** Transfers with occurred_at in [since, until), oldest first, a page at a time. */
  async *period(since: Date, until: Date): AsyncGenerator<TransferRecord[]> {
    let after: { at: number; id: string } | null = null;
    for (;;) {
      const params: unknown[] = [since.getTime(), until.getTime()];
      let keyset = '';
      if (after !== null) {
        keyset = ' AND (t.occurred_at > ? OR (t.occurred_at = ? AND t.id > ?))';
        params.push(after.at, after.at, after.id);
      }
      const rows = await this.database.query<Record<string, unknown>>(
        `${TRANSFER_SELECT} WHERE t.occurred_at >= ? AND t.occurred_at < ?${keyset} ORDER BY t.occurred_at ASC, t.id ASC LIMIT ?`,
        [...params, EXPORT_PAGE],
      );
      if (rows.length === 0) return;
      const records = rows.map(transferRecord);
      yield records;
      if (rows.length < EXPORT_PAGE) return;
      const last = records[records.length - 1];
      after = { at: last.occurredAt.getTime(), id: last.id };
    }
  }

  /** The entity does not map condition_key (owned by the violations module); read it for the violations that have one. */
  private async conditionKeysOf(violations: ViolationEntity[]): Promise<Map<string, string>> {
    const ids = violations.map((violation) => violation.id);
    if (ids.length === 0) return new Map();
    const rows = await this.database.query<{ id: string; condition_key: string | null }>(
      `SELECT id, condition_key FROM violations WHERE condition_key IS NOT NULL AND id IN (${ids.map(() => '?').join(', ')})`,
      ids,
    );
    return new Map(rows.filter((row) => row.condition_key !== null).map((row) => [row.id, row.condition_key as string]));
  }
}

function whereOf(filter: TransferFilter): { where: string[]; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (clause: string, value: unknown) => {
    where.push(clause);
    params.push(value);
  };
  if (filter.userName !== undefined) add('t.user_name = ?', filter.userName);
  if (filter.deviceSerial !== undefined) add('t.device_serial = ?', filter.deviceSerial);
  if (filter.agentId !== undefined) add('t.agent_id = ?', filter.agentId.toLowerCase());
  if (filter.since !== undefined) add('t.occurred_at >= ?', filter.since.getTime());
  if (filter.until !== undefined) add('t.occurred_at < ?', filter.until.getTime());
  if (filter.sha256 !== undefined) add('t.sha256 = ?', filter.sha256.toLowerCase());
  if (filter.hasPersonalData !== undefined) add('t.has_personal_data = ?', filter.hasPersonalData);
  if (filter.channel !== undefined) add('t.channel = ?', filter.channel);
  if (filter.operation !== undefined) add('t.operation = ?', filter.operation);
  return { where, params };
}
