/**
 * CSV as RFC 4180 defines it and as Excel writes it: fields separated by commas, records by
 * CRLF (LF and a lone CR are taken too), a field in double quotes may hold commas, quotes
 * (doubled) and line breaks. The parser is strict where Excel is: a quote inside an unquoted
 * field, or text after a closing quote, is an error naming its line, not a guess.
 */

export interface CsvRecord {
  /** The 1-based line of the file on which the record starts. */
  line: number;
  fields: string[];
}

export class CsvSyntaxError extends Error {
  override name = 'CsvSyntaxError';
  constructor(
    readonly line: number,
    problem: string,
  ) {
    super(`line ${line}: ${problem}`);
  }
}

export function parseCsv(text: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  let fields: string[] = [];
  let field = '';
  let line = 1;
  let recordLine = 1;
  let i = 0;
  let quoted = false;
  /** True once the current field began with a quote and the closing quote was read. */
  let closed = false;
  const endField = () => {
    fields.push(field);
    field = '';
    closed = false;
  };
  const endRecord = () => {
    endField();
    records.push({ line: recordLine, fields });
    fields = [];
  };
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        closed = true;
        i++;
        continue;
      }
      if (c === '\r' || c === '\n') {
        // A line break inside quotes belongs to the field; CRLF counts as one line.
        if (c === '\r' && text[i + 1] === '\n') {
          field += '\r\n';
          i += 2;
        } else {
          field += c;
          i++;
        }
        line++;
        continue;
      }
      field += c;
      i++;
      continue;
    }
    if (c === ',') {
      endField();
      i++;
      continue;
    }
    if (c === '\r' || c === '\n') {
      endRecord();
      i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
      line++;
      recordLine = line;
      continue;
    }
    if (closed) throw new CsvSyntaxError(line, `text after the closing quote of field ${fields.length + 1}; a quoted field must end at a comma or the end of the line`);
    if (c === '"') {
      if (field !== '') throw new CsvSyntaxError(line, `a quote inside unquoted field ${fields.length + 1}; put the whole field in quotes and double the quote ("")`);
      quoted = true;
      i++;
      continue;
    }
    field += c;
    i++;
  }
  if (quoted) throw new CsvSyntaxError(recordLine, `field ${fields.length + 1} opens a quote that is never closed`);
  // The last record needs no line break; a file ending in one has no empty record after it.
  if (field !== '' || fields.length > 0 || closed) endRecord();
  return records;
}

/**
 * Characters that make a spreadsheet read a cell as a formula. Such cells are written with a
 * leading apostrophe (OWASP's advice against CSV injection); Excel shows the text as typed and
 * saves it without the apostrophe, so a round trip through Excel is unchanged.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

export function csvField(value: string): string {
  const safe = FORMULA_START.test(value) ? `'${value}` : value;
  return /[",\r\n]|^\s|\s$/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** A whole file as Excel opens it without asking: UTF-8 with a byte-order mark, CRLF line ends. */
export function writeCsv(header: readonly string[], rows: string[][]): string {
  return '\uFEFF' + [header.map(csvField).join(','), ...rows.map((row) => row.map(csvField).join(','))].map((line) => `${line}\r\n`).join('');
}

/**
 * Decodes an uploaded file. UTF-8 with or without a byte-order mark is the format; Japanese
 * Excel's plain "CSV" is Shift_JIS (CP932), which is accepted when the upload says so
 * (`charset=shift_jis`) or when the bytes are not UTF-8 but are valid Shift_JIS.
 */
export function decodeCsvBytes(bytes: Buffer, charset: string | undefined): { text: string } | { error: string } {
  const label = charset?.trim().toLowerCase();
  const sjis = ['shift_jis', 'shift-jis', 'sjis', 'cp932', 'windows-31j', 'ms932', 'x-sjis'];
  const tryDecode = (encoding: string): string | null => {
    try {
      return new TextDecoder(encoding, { fatal: true, ignoreBOM: false }).decode(bytes);
    } catch {
      return null;
    }
  };
  if (label !== undefined && label !== '' && label !== 'utf-8' && label !== 'utf8') {
    if (!sjis.includes(label)) return { error: `charset ${charset} is not supported; send UTF-8 (with or without BOM) or Shift_JIS` };
    const text = tryDecode('shift_jis');
    return text === null ? { error: 'the file is not valid Shift_JIS text' } : { text };
  }
  const utf8 = tryDecode('utf-8');
  if (utf8 !== null) return { text: utf8 };
  if (label === undefined || label === '') {
    const text = tryDecode('shift_jis');
    if (text !== null) return { text };
  }
  return { error: 'the file is not UTF-8 text; save it from Excel as "CSV UTF-8 (comma delimited)" (or send charset=shift_jis for a Shift_JIS file)' };
}
