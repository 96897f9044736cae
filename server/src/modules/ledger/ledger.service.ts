import { BadRequestException, ConflictException, Inject, Injectable, NotFoundException } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { cursorIdFits, CursorPosition, decodeCursor, pageOf } from '../../common/pagination-cursor';
import type { CollectorConfig } from '../../config/collector-config';
import { COLLECTOR_CONFIG } from '../../config/collector-config.token';
import { DatabaseService, SqlExecutor } from '../../database/database.service';
import { AuditService } from '../audit/audit.service';
import { JsonLogger } from '../../logging/json-logger';
import { ENCRYPTED_FILTER_STATES, ListLedgerDevicesQuery } from './dto/ledger-device.dto';
import { LedgerCsvProblem, LedgerCsvRow, ledgerCsv, parseLedgerCsv } from './ledger-csv';
import { LEDGER_DEVICE_SELECT, ledgerDeviceRecord, LedgerDeviceRecord, type LedgerLoanFields } from './ledger-device.record';
import { LedgerReconciler } from './ledger-reconciler';
import { hostnameKey, isOverdue, LedgerStatus, localDate, parseLedgerDate, serialKey } from './ledger.rules';

/** The loan fields a person edits; undefined leaves a field as it is. */
export interface LedgerFieldsChange {
  assetTag?: string | null;
  hardwareSerial?: string | null;
  hostname?: string | null;
  department?: string | null;
  holder?: string | null;
  loanedSince?: string | null;
  dueBack?: string | null;
  status?: string | null;
  note?: string | null;
  agentId?: string | null;
}

export interface LedgerImportResult {
  rows: number;
  created: number;
  updated: number;
  unchanged: number;
  /** Machines of the file that are matched to an enrolled agent after the import. */
  enrolled: number;
}

export interface DepartmentSummary {
  /** null: enrolled machines that are not in the ledger (they have no department yet). */
  department: string | null;
  machines: number;
  enrolled: number;
  encrypted: number;
  notEncrypted: number;
  encryptionUnknown: number;
  silent: number;
  overdue: number;
  byStatus: Record<LedgerStatus | 'not_in_ledger', number>;
}

/** A 400 whose body lists every bad row of an import. */
export class LedgerImportRejected extends BadRequestException {
  constructor(readonly problems: LedgerCsvProblem[]) {
    super({
      statusCode: 400,
      error: 'Bad Request',
      message: `the ledger file has ${problems.length} problem${problems.length === 1 ? '' : 's'}; nothing was imported. ${problems
        .slice(0, 5)
        .map((p) => `line ${p.line}${p.column === undefined ? '' : ` (${p.column})`}: ${p.message}`)
        .join('; ')}${problems.length > 5 ? '; …' : ''}`,
      problems,
    });
  }
}

interface StoredRow extends LedgerLoanFields {
  id: string;
}

const EDITABLE = ['assetTag', 'hardwareSerial', 'hostname', 'department', 'holder', 'loanedSince', 'dueBack', 'status', 'note'] as const;

/** The ledger for people: list, show, create, edit, import, export, summarise. */
@Injectable()
export class LedgerService {
  constructor(
    private readonly database: DatabaseService,
    private readonly reconciler: LedgerReconciler,
    private readonly logger: JsonLogger,
    @Inject(COLLECTOR_CONFIG) private readonly config: CollectorConfig,
    private readonly audit: AuditService,
  ) {}

  /** Whether the agent is past the silent limit at `now`. */
  isSilent(record: LedgerDeviceRecord, now: Date): boolean {
    const agent = record.agent;
    if (agent === null || agent.status !== 'enrolled') return false;
    return (agent.lastSeenAt ?? agent.enrolledAt).getTime() < now.getTime() - this.config.agentSilentAfterSeconds * 1000;
  }

  isOverdue(record: LedgerDeviceRecord, now: Date): boolean {
    return isOverdue(record, localDate(now));
  }

  /** In the order machines were added (created_at, id), keyset-paginated. */
  async list(query: ListLedgerDevicesQuery, now = new Date()): Promise<{ items: LedgerDeviceRecord[]; nextCursor: string | null }> {
    const where: string[] = [];
    const params: unknown[] = [];
    const filter = (clause: string, ...values: unknown[]) => {
      where.push(clause);
      params.push(...values);
    };
    const silentLimit = now.getTime() - this.config.agentSilentAfterSeconds * 1000;
    const today = localDate(now);
    const silent = `(a.status = 'enrolled' AND COALESCE(a.last_seen_at, a.enrolled_at) < ?)`;
    const overdue = `(d.status = 'on_loan' AND d.due_back IS NOT NULL AND d.due_back < ?)`;
    if (query.department !== undefined) filter('d.department = ?', query.department);
    if (query.holder !== undefined) filter('d.holder = ?', query.holder);
    if (query.status === 'not_in_ledger') filter('d.status IS NULL');
    else if (query.status !== undefined) filter('d.status = ?', query.status);
    if (query.encrypted !== undefined) filter(`COALESCE(a.disk_encryption_state, 'unknown') = ?`, ENCRYPTED_FILTER_STATES[query.encrypted]);
    if (query.silent !== undefined) filter(query.silent === 'true' ? silent : `NOT COALESCE(${silent}, FALSE)`, silentLimit);
    if (query.overdue !== undefined) filter(query.overdue === 'true' ? overdue : `NOT COALESCE(${overdue}, FALSE)`, today);
    if (query.enrolled !== undefined) filter(query.enrolled === 'true' ? `a.status = 'enrolled'` : `(a.id IS NULL OR a.status <> 'enrolled')`);
    const after = this.cursor(query.cursor);
    if (after !== null) filter('(d.created_at > ? OR (d.created_at = ? AND d.id > ?))', after.at, after.at, after.id);
    const limit = query.limit ?? 50;
    const rows = await this.database.query(
      `${LEDGER_DEVICE_SELECT} ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`} ORDER BY d.created_at, d.id LIMIT ${limit + 1}`,
      params,
    );
    return pageOf(rows.map(ledgerDeviceRecord), limit, (record) => ({ at: record.createdAt.getTime(), id: record.id }));
  }

  private cursor(text: string | undefined): CursorPosition | null {
    if (text === undefined) return null;
    const position = decodeCursor(text);
    if (position === null || !cursorIdFits(position.id, 'uuid')) throw new BadRequestException('cursor is not a cursor this list returned');
    return position;
  }

  async get(id: string): Promise<LedgerDeviceRecord> {
    const rows = await this.database.query(`${LEDGER_DEVICE_SELECT} WHERE d.id = ?`, [id]);
    if (rows.length === 0) throw new NotFoundException(`ledger device ${id} does not exist`);
    return ledgerDeviceRecord(rows[0]);
  }

  async create(input: LedgerFieldsChange, now = new Date()): Promise<LedgerDeviceRecord> {
    const id = randomUUID();
    await this.database.transaction(async (sql) => {
      const row = this.checked(
        { id, assetTag: null, hardwareSerial: '', hostname: '', department: '', holder: '', loanedSince: null, dueBack: null, status: null, note: '' },
        input,
      );
      await this.ensureUnique(sql, row);
      await this.insert(sql, row, now);
      await this.afterLedgerChange(sql, now);
      await this.recordChange(sql, 'ledger.device.created', id, null, now);
    });
    return this.get(id);
  }

  async update(id: string, change: LedgerFieldsChange, now = new Date()): Promise<LedgerDeviceRecord> {
    if (EDITABLE.every((field) => change[field] === undefined) && change.agentId === undefined) {
      throw new BadRequestException(`give at least one of ${[...EDITABLE, 'agentId'].join(', ')}`);
    }
    await this.database.transaction(async (sql) => {
      const current = await this.reconciler.record(sql, id);
      if (current === null) throw new NotFoundException(`ledger device ${id} does not exist`);
      if (current.status === null && change.status === undefined) {
        throw new BadRequestException('this machine is not in the ledger yet: give its status, assetTag and department to add it');
      }
      const row = this.checked(current, change);
      await this.ensureUnique(sql, row);
      await sql.run(
        `UPDATE ledger_devices SET asset_tag = ?, hardware_serial = ?, serial_key = ?, hostname = ?, hostname_key = ?, department = ?, holder = ?,
           loaned_since = ?, due_back = ?, status = ?, note = ?, updated_at = ? WHERE id = ?`,
        [...this.columns(row), now, id],
      );
      if (change.agentId !== undefined) await this.linkByHand(sql, row, change.agentId, now);
      await this.afterLedgerChange(sql, now);
      await this.recordChange(sql, 'ledger.device.updated', id, current, now);
    });
    return this.get(id);
  }

  /** A person says which agent this machine is. Its discovered row, if it had one, merges into this one. */
  private async linkByHand(sql: SqlExecutor, row: StoredRow, agentId: string | null, now: Date): Promise<void> {
    if (agentId === null) {
      await sql.run('UPDATE ledger_devices SET agent_id = NULL, matched_by = NULL, updated_at = ? WHERE id = ?', [now, row.id]);
      return;
    }
    const agents = await sql.query<{ status: string }>('SELECT status FROM agents WHERE id = ?', [agentId]);
    if (agents.length === 0) throw new BadRequestException(`agentId: agent ${agentId} does not exist`);
    if (agents[0].status !== 'enrolled') throw new BadRequestException(`agentId: agent ${agentId} is revoked`);
    const holder = await this.reconciler.recordOfAgent(sql, agentId);
    if (holder !== null && holder.id !== row.id) {
      if (holder.status !== null) throw new ConflictException(`agent ${agentId} is already matched to asset tag ${holder.assetTag}`);
      await sql.run('DELETE FROM ledger_devices WHERE id = ?', [holder.id]);
    }
    await sql.run(`UPDATE ledger_devices SET agent_id = ?, matched_by = 'manual', updated_at = ? WHERE id = ?`, [agentId, now, row.id]);
  }

  /**
   * Imports a CSV file of the ledger (see ledger-csv.ts for the columns). Rows are keyed by
   * asset tag: a known tag updates that machine (columns the file lacks are left as they are),
   * a new one adds a machine; machines the file does not mention are left alone, so a department
   * can import its own sheet. Every row is checked first; any problem rejects the whole file and
   * nothing is written.
   */
  async importCsv(text: string, now = new Date()): Promise<LedgerImportResult> {
    const parsed = parseLedgerCsv(text);
    if (parsed.problems.length > 0) throw new LedgerImportRejected(parsed.problems);
    const result = await this.database.transaction(async (sql) => {
      const existing = new Map<string, StoredRow>();
      for (const row of await sql.query(`${LEDGER_DEVICE_SELECT} WHERE d.status IS NOT NULL`)) {
        const record = ledgerDeviceRecord(row);
        existing.set(record.assetTag as string, record);
      }
      const problems: LedgerCsvProblem[] = [];
      const planned: Array<{ row: StoredRow; line: number; kind: 'created' | 'updated' | 'unchanged' }> = [];
      for (const input of parsed.rows) {
        const before = existing.get(input.assetTag);
        try {
          const row = this.checked(
            before ?? { id: randomUUID(), assetTag: null, hardwareSerial: '', hostname: '', department: '', holder: '', loanedSince: null, dueBack: null, status: null, note: '' },
            csvChange(input),
          );
          const kind = before === undefined ? 'created' : EDITABLE.every((field) => before[field] === row[field]) ? 'unchanged' : 'updated';
          planned.push({ row, line: input.line, kind });
        } catch (error) {
          if (!(error instanceof BadRequestException)) throw error;
          problems.push({ line: input.line, message: String((error.getResponse() as { message?: unknown }).message ?? error.message) });
        }
      }
      // Serials must stay unique across the whole ledger as it will be after the import.
      const finalRows = new Map<string, { row: StoredRow; line: number | null }>();
      for (const row of existing.values()) finalRows.set(row.id, { row, line: null });
      for (const plan of planned) finalRows.set(plan.row.id, { row: plan.row, line: plan.line });
      const serials = new Map<string, { row: StoredRow; line: number | null }>();
      for (const entry of finalRows.values()) {
        const key = serialKey(entry.row.hardwareSerial);
        if (key === '') continue;
        const other = serials.get(key);
        if (other === undefined) {
          serials.set(key, entry);
          continue;
        }
        const [fileEntry, otherEntry] = entry.line !== null ? [entry, other] : [other, entry];
        problems.push({
          line: fileEntry.line ?? 0,
          column: 'hardware_serial',
          message: `hardware serial ${entry.row.hardwareSerial} is already the serial of asset tag ${otherEntry.row.assetTag}${otherEntry.line === null ? '' : ` (line ${otherEntry.line})`}`,
        });
      }
      if (problems.length > 0) throw new LedgerImportRejected(problems.sort((a, b) => a.line - b.line));
      for (const plan of planned) {
        if (plan.kind === 'created') await this.insert(sql, plan.row, now);
        else if (plan.kind === 'updated') {
          await sql.run(
            `UPDATE ledger_devices SET asset_tag = ?, hardware_serial = ?, serial_key = ?, hostname = ?, hostname_key = ?, department = ?, holder = ?,
               loaned_since = ?, due_back = ?, status = ?, note = ?, updated_at = ? WHERE id = ?`,
            [...this.columns(plan.row), now, plan.row.id],
          );
        }
      }
      await this.afterLedgerChange(sql, now);
      // One record per machine the file added or changed, so each keeps its own before and after.
      for (const plan of planned) {
        if (plan.kind === 'unchanged') continue;
        const before = plan.kind === 'created' ? null : (existing.get(plan.row.assetTag as string) ?? null);
        await this.recordChange(sql, plan.kind === 'created' ? 'ledger.device.imported' : 'ledger.device.import_updated', plan.row.id, before, now);
      }
      const tags = new Set(planned.map((plan) => plan.row.assetTag));
      const enrolled = (await sql.query<{ asset_tag: string }>(
        `SELECT d.asset_tag FROM ledger_devices d JOIN agents a ON a.id = d.agent_id WHERE d.status IS NOT NULL AND a.status = 'enrolled'`,
      )).filter((row) => tags.has(row.asset_tag)).length;
      const count = (kind: string) => planned.filter((plan) => plan.kind === kind).length;
      return { rows: planned.length, created: count('created'), updated: count('updated'), unchanged: count('unchanged'), enrolled };
    });
    this.logger.emitFields('info', 'ledger imported', { ...result });
    return result;
  }

  /** The ledger (machines with a status) as CSV, by department and asset tag. */
  async exportCsv(department?: string): Promise<string> {
    const rows = await this.database.query(
      `${LEDGER_DEVICE_SELECT} WHERE d.status IS NOT NULL ${department === undefined ? '' : 'AND d.department = ?'} ORDER BY d.department, d.asset_tag`,
      department === undefined ? [] : [department],
    );
    return ledgerCsv(rows.map(ledgerDeviceRecord));
  }

  /** Per department: machines, enrolled, encryption verdicts, silent, overdue, and how many in each status. */
  async summary(department?: string, now = new Date()): Promise<DepartmentSummary[]> {
    const rows = (
      await this.database.query(`${LEDGER_DEVICE_SELECT} ${department === undefined ? '' : 'WHERE d.department = ? AND d.status IS NOT NULL'}`, department === undefined ? [] : [department])
    ).map(ledgerDeviceRecord);
    const byDepartment = new Map<string | null, DepartmentSummary>();
    for (const record of rows) {
      // A revoked agent's discovered row is history, not a machine of the company.
      if (record.status === null && record.agent?.status !== 'enrolled') continue;
      const name = record.status === null ? null : record.department;
      let summary = byDepartment.get(name);
      if (summary === undefined) {
        summary = {
          department: name,
          machines: 0,
          enrolled: 0,
          encrypted: 0,
          notEncrypted: 0,
          encryptionUnknown: 0,
          silent: 0,
          overdue: 0,
          byStatus: { in_stock: 0, on_loan: 0, lost: 0, retired: 0, not_in_ledger: 0 },
        };
        byDepartment.set(name, summary);
      }
      summary.machines++;
      summary.byStatus[record.status ?? 'not_in_ledger']++;
      const enrolled = record.agent?.status === 'enrolled';
      if (enrolled) summary.enrolled++;
      const state = record.agent?.diskEncryptionState ?? 'unknown';
      if (state === 'encrypted') summary.encrypted++;
      else if (state === 'not_encrypted') summary.notEncrypted++;
      else summary.encryptionUnknown++;
      if (this.isSilent(record, now)) summary.silent++;
      if (this.isOverdue(record, now)) summary.overdue++;
    }
    return [...byDepartment.values()].sort((a, b) => (a.department === null ? 1 : b.department === null ? -1 : a.department.localeCompare(b.department)));
  }

  /** Applies a change to a row and checks the result as a whole; 400 naming the field. */
  private checked(current: StoredRow, change: LedgerFieldsChange): StoredRow {
    const text = (field: (typeof EDITABLE)[number], value: string | null | undefined, fallback: string): string => {
      if (value === undefined) return fallback;
      if (value === null) throw new BadRequestException(`${field} cannot be null`);
      return value.trim();
    };
    const date = (field: 'loanedSince' | 'dueBack', value: string | null | undefined, fallback: string | null): string | null => {
      if (value === undefined) return fallback;
      if (value === null || value.trim() === '') return null;
      const parsed = parseLedgerDate(value);
      if (parsed === null) throw new BadRequestException(`${field} "${value}" is not a real date (yyyy-mm-dd or yyyy/mm/dd)`);
      return parsed;
    };
    const row: StoredRow = {
      id: current.id,
      assetTag: change.assetTag === undefined ? current.assetTag : text('assetTag', change.assetTag, ''),
      hardwareSerial: text('hardwareSerial', change.hardwareSerial, current.hardwareSerial),
      hostname: text('hostname', change.hostname, current.hostname),
      department: text('department', change.department, current.department),
      holder: text('holder', change.holder, current.holder),
      loanedSince: date('loanedSince', change.loanedSince, current.loanedSince),
      dueBack: date('dueBack', change.dueBack, current.dueBack),
      status: change.status === undefined ? current.status : (text('status', change.status, '') as LedgerStatus),
      note: text('note', change.note, current.note),
    };
    if (row.status === null) return row;
    if (row.assetTag === null || row.assetTag === '') throw new BadRequestException('assetTag is required for a machine in the ledger');
    if (row.department === '') throw new BadRequestException('department is required for a machine in the ledger');
    if (row.status === 'on_loan' && row.holder === '') throw new BadRequestException('holder is required for a machine on loan');
    if (row.hardwareSerial !== '' && serialKey(row.hardwareSerial) === '') {
      throw new BadRequestException(`hardwareSerial "${row.hardwareSerial}" is a firmware placeholder, not a serial; leave it empty`);
    }
    if (row.loanedSince !== null && row.dueBack !== null && row.dueBack < row.loanedSince) {
      throw new BadRequestException(`dueBack ${row.dueBack} is before loanedSince ${row.loanedSince}`);
    }
    return row;
  }

  private async ensureUnique(sql: SqlExecutor, row: StoredRow): Promise<void> {
    if (row.status === null) return;
    const tag = await sql.query<{ id: string }>('SELECT id FROM ledger_devices WHERE asset_tag = ? AND id <> ?', [row.assetTag, row.id]);
    if (tag.length > 0) throw new ConflictException(`asset tag ${row.assetTag} is already in the ledger`);
    const key = serialKey(row.hardwareSerial);
    if (key === '') return;
    const serial = await sql.query<{ asset_tag: string }>('SELECT asset_tag FROM ledger_devices WHERE serial_key = ? AND status IS NOT NULL AND id <> ?', [key, row.id]);
    if (serial.length > 0) throw new ConflictException(`hardware serial ${row.hardwareSerial} is already the serial of asset tag ${serial[0].asset_tag}`);
  }

  private columns(row: StoredRow): unknown[] {
    return [
      row.assetTag,
      row.hardwareSerial,
      serialKey(row.hardwareSerial),
      row.hostname,
      hostnameKey(row.hostname),
      row.department,
      row.holder,
      row.loanedSince,
      row.dueBack,
      row.status,
      row.note,
    ];
  }

  private async insert(sql: SqlExecutor, row: StoredRow, now: Date): Promise<void> {
    await sql.run(
      `INSERT INTO ledger_devices (asset_tag, hardware_serial, serial_key, hostname, hostname_key, department, holder, loaned_since, due_back, status, note,
         id, agent_id, matched_by, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?)`,
      [...this.columns(row), row.id, now, now],
    );
  }

  /** Machines found outside the ledger may now be in it; the ledger's violations follow the change at once. */
  /** The audit record of a change to one machine, after everything the change set off (the transaction's last step). */
  private async recordChange(sql: SqlExecutor, action: string, id: string, before: StoredRow | null, now: Date): Promise<void> {
    const after = await this.reconciler.record(sql, id);
    await this.audit.appendWithin(sql, { action, subjectType: 'ledger_device', subjectId: id, before, after }, now);
  }

  private async afterLedgerChange(sql: SqlExecutor, now: Date): Promise<void> {
    await this.reconciler.rematchDiscovered(sql, now);
    await this.reconciler.evaluateUnknownDevices(sql, now);
    await this.reconciler.evaluateOverdue(sql, now);
  }
}

function csvChange(row: LedgerCsvRow): LedgerFieldsChange {
  return {
    assetTag: row.assetTag,
    department: row.department,
    status: row.status,
    hardwareSerial: row.hardwareSerial,
    hostname: row.hostname,
    holder: row.holder,
    loanedSince: row.loanedSince,
    dueBack: row.dueBack,
    note: row.note,
  };
}
