import { TextDecoder } from 'node:util';
import { columnRole } from './detectors/labels';
/**
 * What a file is, judged by its first bytes, not by its name: zip (and so Office Open XML), PDF,
 * OLE compound files (legacy Office, password-protected Office), text in an encoding, or binary.
 */
export type Sniffed =
  | { kind: 'zip' }
  | { kind: 'pdf' }
  | { kind: 'ole'; encryptedOffice: boolean }
  | { kind: 'text'; encoding: TextEncoding; bomBytes: number }
  | { kind: 'empty' }
  | { kind: 'binary' };

export type TextEncoding = 'utf-8' | 'utf-16le' | 'utf-16be' | 'shift_jis' | 'euc-jp';

export const SNIFF_BYTES = 64 * 1024;

const OLE = Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]);
// The stream a password-protected docx/xlsx/pptx keeps its content in (MS-OFFCRYPTO), named in UTF-16LE in the directory.
const ENCRYPTED_PACKAGE = Buffer.from('EncryptedPackage', 'utf16le');

export function sniffContent(head: Buffer): Sniffed {
  if (head.length === 0) return { kind: 'empty' };
  if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && ((head[2] === 3 && head[3] === 4) || (head[2] === 5 && head[3] === 6))) return { kind: 'zip' };
  // ISO 32000 allows bytes before the header; readers look in the first kilobyte.
  if (head.subarray(0, 1024).includes('%PDF-')) return { kind: 'pdf' };
  if (head.subarray(0, 8).equals(OLE)) return { kind: 'ole', encryptedOffice: head.includes(ENCRYPTED_PACKAGE) };
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) return { kind: 'text', encoding: 'utf-8', bomBytes: 3 };
  if (head[0] === 0xff && head[1] === 0xfe) return { kind: 'text', encoding: 'utf-16le', bomBytes: 2 };
  if (head[0] === 0xfe && head[1] === 0xff) return { kind: 'text', encoding: 'utf-16be', bomBytes: 2 };
  const encoding = textEncoding(head);
  return encoding === null ? { kind: 'binary' } : { kind: 'text', encoding, bomBytes: 0 };
}

/** The encoding of BOM-less text, or null for binary content. */
export function textEncoding(head: Buffer): TextEncoding | null {
  const sixteen = utf16WithoutBom(head);
  if (sixteen !== null) return sixteen;
  let control = 0;
  let high = false;
  for (let i = 0; i < head.length; i++) {
    const byte = head[i]!;
    if (byte === 0) return null;
    // Tab, line breaks, form feed and ESC (ISO-2022-JP) are text; other C0 controls are not.
    if ((byte < 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d && byte !== 0x0c && byte !== 0x1b) || byte === 0x7f) control++;
    if (byte >= 0x80) high = true;
  }
  if (control > head.length / 100) return null;
  if (!high || decodes('utf-8', head)) return 'utf-8';
  const sjis = decodes('shift_jis', head);
  const euc = decodes('euc-jp', head);
  if (sjis && euc) return japaneseScore('shift_jis', head) >= japaneseScore('euc-jp', head) ? 'shift_jis' : 'euc-jp';
  if (sjis) return 'shift_jis';
  if (euc) return 'euc-jp';
  return null;
}

function decodes(encoding: TextEncoding, head: Buffer): boolean {
  try {
    // stream: true lets the last character be cut by the end of the head without counting as an error.
    new TextDecoder(encoding, { fatal: true }).decode(head, { stream: true });
    return true;
  } catch {
    return false;
  }
}

/** Kana and kanji read as themselves score; half-width katakana (what EUC-JP looks like through Shift_JIS) does not. */
function japaneseScore(encoding: TextEncoding, head: Buffer): number {
  const text = new TextDecoder(encoding).decode(head, { stream: true });
  let score = 0;
  for (const c of text) {
    const code = c.codePointAt(0)!;
    if ((code >= 0x3040 && code <= 0x30ff) || (code >= 0x4e00 && code <= 0x9fff)) score++;
    else if (code >= 0xff61 && code <= 0xff9f) score--;
  }
  return score;
}

/** UTF-16 without a BOM: mostly ASCII text has a zero in every other byte. */
function utf16WithoutBom(head: Buffer): TextEncoding | null {
  const pairs = Math.floor(Math.min(head.length, 4096) / 2);
  if (pairs < 8) return null;
  let evenZero = 0;
  let oddZero = 0;
  for (let i = 0; i < pairs; i++) {
    if (head[2 * i] === 0) evenZero++;
    if (head[2 * i + 1] === 0) oddZero++;
  }
  if (oddZero > pairs * 0.6 && evenZero < pairs * 0.05) return 'utf-16le';
  if (evenZero > pairs * 0.6 && oddZero < pairs * 0.05) return 'utf-16be';
  return null;
}

/**
 * Comma- or tab-separated values, judged by the first lines: the same number (one or more) of
 * delimiters outside quotes in each. A .csv/.tsv name settles it when the content is text.
 */
export function csvDelimiter(sample: string, fileName: string): string | null {
  const lower = fileName.toLowerCase();
  const lines = sample.split(/\r\n|\n|\r/).slice(0, 11);
  // The last line of the sample may be cut short.
  if (lines.length > 1) lines.pop();
  const nonEmpty = lines.filter((l) => l.trim() !== '');
  for (const delimiter of [',', '\t', ';']) {
    const counts = nonEmpty.map((l) => delimitersOutsideQuotes(l, delimiter));
    const consistent = nonEmpty.length >= 2 && counts[0]! >= 1 && counts.filter((c) => c === counts[0]).length >= Math.ceil(nonEmpty.length * 0.8);
    // One comma a line is also prose ("4,980円"); two columns count as a table only under a header we know.
    if (consistent && (counts[0]! >= 2 || nonEmpty[0]!.split(delimiter).some((cell) => columnRole(cell.replace(/"/g, '')) !== null))) return delimiter;
  }
  if (lower.endsWith('.tsv') || lower.endsWith('.tab')) return '\t';
  if (lower.endsWith('.csv')) return nonEmpty.length > 0 && delimitersOutsideQuotes(nonEmpty[0]!, '\t') > delimitersOutsideQuotes(nonEmpty[0]!, ',') ? '\t' : ',';
  return null;
}

function delimitersOutsideQuotes(line: string, delimiter: string): number {
  let quoted = false;
  let count = 0;
  for (const c of line) {
    if (c === '"') quoted = !quoted;
    else if (c === delimiter && !quoted) count++;
  }
  return count;
}
