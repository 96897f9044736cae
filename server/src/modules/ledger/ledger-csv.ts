import { CsvSyntaxError, parseCsv, writeCsv } from './csv';
import { LEDGER_STATUSES, LedgerStatus, parseLedgerDate, parseLedgerStatus, serialKey } from './ledger.rules';
import type { LedgerLoanFields } from './ledger-device.record';

/**
 * The ledger's CSV format, the one the departments' spreadsheets keep:
 * a header row naming the columns (any order, case and blanks forgiven), then one machine per row.
 */
export const LEDGER_CSV_COLUMNS = ['asset_tag', 'hardware_serial', 'hostname', 'department', 'holder', 'loaned_since', 'due_back', 'status', 'note'] as const;
export type LedgerCsvColumn = (typeof LEDGER_CSV_COLUMNS)[number];
/** Columns a file must have; the others may be left out (their values are then left as they are). */
export const REQUIRED_LEDGER_CSV_COLUMNS: readonly LedgerCsvColumn[] = ['asset_tag', 'department', 'status'];
export const MAX_LEDGER_CSV_ROWS = 20_000;

const LIMITS: Record<LedgerCsvColumn, number> = {
  asset_tag: 64,
  hardware_serial: 128,
  hostname: 253,
  department: 256,
  holder: 256,
  loaned_since: 10,
  due_back: 10,
  status: 16,
  note: 4096,
};

/** One valid row of an imported file. A column the file does not have is undefined (left unchanged on update). */
export interface LedgerCsvRow {
  line: number;
  assetTag: string;
  hardwareSerial?: string;
  hostname?: string;
  department: string;
  holder?: string;
  loanedSince?: string | null;
  dueBack?: string | null;
  status: LedgerStatus;
  note?: string;
}

export interface LedgerCsvProblem {
  /** The 1-based line in the file where the bad row starts (1 is the header). */
  line: number;
  column?: string;
  message: string;
}

export type LedgerCsvParse = { rows: LedgerCsvRow[]; problems: [] } | { rows: []; problems: LedgerCsvProblem[] };

/** Checks a whole file and reports every bad row, not only the first. */
export function parseLedgerCsv(text: string): LedgerCsvParse {
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  let records;
  try {
    records = parseCsv(body);
  } catch (error) {
    if (error instanceof CsvSyntaxError) return { rows: [], problems: [{ line: error.line, message: error.message.replace(/^line \d+: /, '') }] };
    throw error;
  }
  const blank = (fields: string[]) => fields.every((field) => field.trim() === '');
  const nonBlank = records.filter((record) => !blank(record.fields));
  if (nonBlank.length === 0) return { rows: [], problems: [{ line: 1, message: `the file is empty; the first row must name the columns (${LEDGER_CSV_COLUMNS.join(',')})` }] };

  const [headerRecord, ...dataRecords] = nonBlank;
  const header = headerRecord.fields.map((name) => name.trim().toLowerCase().replace(/[\s-]+/g, '_'));
  const problems: LedgerCsvProblem[] = [];
  const columnIndex = new Map<LedgerCsvColumn, number>();
  header.forEach((name, index) => {
    if (name === '') return;
    if (!(LEDGER_CSV_COLUMNS as readonly string[]).includes(name)) {
      problems.push({ line: headerRecord.line, column: headerRecord.fields[index], message: `unknown column "${headerRecord.fields[index]}"; the columns are ${LEDGER_CSV_COLUMNS.join(', ')}` });
    } else if (columnIndex.has(name as LedgerCsvColumn)) {
      problems.push({ line: headerRecord.line, column: name, message: `column ${name} appears twice` });
    } else {
      columnIndex.set(name as LedgerCsvColumn, index);
    }
  });
  const missing = REQUIRED_LEDGER_CSV_COLUMNS.filter((column) => !columnIndex.has(column));
  if (missing.length > 0) {
    problems.push({
      line: headerRecord.line,
      message: `the header row lacks ${missing.join(', ')}; the first row must name the columns (required: ${REQUIRED_LEDGER_CSV_COLUMNS.join(', ')}; optional: ${LEDGER_CSV_COLUMNS.filter((c) => !REQUIRED_LEDGER_CSV_COLUMNS.includes(c)).join(', ')})`,
    });
  }
  if (problems.length > 0) return { rows: [], problems };
  if (dataRecords.length > MAX_LEDGER_CSV_ROWS) {
    return { rows: [], problems: [{ line: dataRecords[MAX_LEDGER_CSV_ROWS].line, message: `at most ${MAX_LEDGER_CSV_ROWS} machines in one file` }] };
  }

  const rows: LedgerCsvRow[] = [];
  const assetTagLines = new Map<string, number>();
  const serialLines = new Map<string, number>();
  for (const record of dataRecords) {
    const rowProblems: LedgerCsvProblem[] = [];
    const problem = (column: LedgerCsvColumn | undefined, message: string) => rowProblems.push({ line: record.line, ...(column === undefined ? {} : { column }), message });
    if (record.fields.length > header.length && record.fields.slice(header.length).some((field) => field.trim() !== '')) {
      problem(undefined, `${record.fields.length} fields, but the header names ${header.length} columns`);
    }
    const cell = (column: LedgerCsvColumn): string | undefined => {
      const index = columnIndex.get(column);
      if (index === undefined) return undefined;
      const value = (record.fields[index] ?? '').trim();
      if (value.length > LIMITS[column]) {
        problem(column, `${column} is ${value.length} characters long; at most ${LIMITS[column]}`);
        return value.slice(0, LIMITS[column]);
      }
      return value;
    };
    const date = (column: 'loaned_since' | 'due_back'): string | null | undefined => {
      const value = cell(column);
      if (value === undefined) return undefined;
      if (value === '') return null;
      const parsed = parseLedgerDate(value);
      if (parsed === null) problem(column, `${column} "${value}" is not a date; write yyyy-mm-dd or yyyy/mm/dd, e.g. 2025-04-01`);
      return parsed;
    };

    const assetTag = cell('asset_tag') ?? '';
    if (assetTag === '') problem('asset_tag', 'asset_tag is empty; every machine in the ledger needs its asset tag');
    else if (assetTagLines.has(assetTag)) problem('asset_tag', `asset tag ${assetTag} is already on line ${assetTagLines.get(assetTag)}`);
    else assetTagLines.set(assetTag, record.line);

    const hardwareSerial = cell('hardware_serial');
    if (hardwareSerial !== undefined && hardwareSerial !== '') {
      const key = serialKey(hardwareSerial);
      if (key === '') problem('hardware_serial', `hardware serial "${hardwareSerial}" is a firmware placeholder, not a serial; leave it empty`);
      else if (serialLines.has(key)) problem('hardware_serial', `hardware serial ${hardwareSerial} is already on line ${serialLines.get(key)}`);
      else serialLines.set(key, record.line);
    }

    const department = cell('department') ?? '';
    if (department === '') problem('department', 'department is empty');
    const statusText = cell('status') ?? '';
    const status = parseLedgerStatus(statusText);
    if (status === null) problem('status', statusText === '' ? `status is empty; use one of ${LEDGER_STATUSES.join(', ')}` : `status "${statusText}" is not one of ${LEDGER_STATUSES.join(', ')}`);
    const holder = cell('holder');
    const loanedSince = date('loaned_since');
    const dueBack = date('due_back');
    if (status === 'on_loan' && (holder === undefined || holder === '')) problem('holder', 'a machine on loan needs its holder');
    if (typeof loanedSince === 'string' && typeof dueBack === 'string' && dueBack < loanedSince) {
      problem('due_back', `due_back ${dueBack} is before loaned_since ${loanedSince}`);
    }
    const row: LedgerCsvRow = {
      line: record.line,
      assetTag,
      department,
      status: status ?? 'in_stock',
      hardwareSerial,
      hostname: cell('hostname'),
      holder,
      loanedSince,
      dueBack,
      note: cell('note'),
    };
    if (rowProblems.length > 0) problems.push(...rowProblems);
    else rows.push(row);
  }
  return problems.length > 0 ? { rows: [], problems } : { rows, problems: [] };
}

/** What the export writes of a row: its loan fields (the status as text). */
export type LedgerCsvExportRow = Omit<LedgerLoanFields, 'status'> & { status: string | null };

export function ledgerCsv(rows: LedgerCsvExportRow[]): string {
  return writeCsv(
    LEDGER_CSV_COLUMNS,
    rows.map((row) => [row.assetTag ?? '', row.hardwareSerial, row.hostname, row.department, row.holder, row.loanedSince ?? '', row.dueBack ?? '', row.status ?? '', row.note]),
  );
}
