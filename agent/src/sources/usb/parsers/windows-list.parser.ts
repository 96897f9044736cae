/**
 * Pure readers for the text layouts Windows tools print: PowerShell's Format-List
 * ("Name : value" records), PowerShell's Format-Table (columns under a dashed rule) and
 * `wmic … get /FORMAT:list` ("Name=value" records, written as UTF-16LE with a BOM).
 *
 * They return property records keyed by the WMI/CIM property names, which are never
 * translated, so nothing here depends on the display language; only the values may be localized.
 * The agent's own backend asks PowerShell for JSON instead (windows.parser.ts); these readers
 * exist for the captured console outputs and for an administrator's pasted diagnostics.
 */

/** One object's properties as printed, names as given, values as text (trailing blanks removed). */
export type PropertyRecord = Record<string, string>;

/**
 * Decodes a captured command output: UTF-16LE (with or without its BOM, as `wmic /OUTPUT` and
 * PowerShell 5.1's `>` redirection write files) or UTF-8 (with or without a BOM).
 */
export function decodeWindowsText(bytes: Uint8Array): string {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buffer.length >= 2 && buffer[0] === 0xff && buffer[1] === 0xfe) return buffer.subarray(2).toString('utf16le');
  if (buffer.length >= 3 && buffer[0] === 0xef && buffer[1] === 0xbb && buffer[2] === 0xbf) return buffer.subarray(3).toString('utf8');
  // Without a BOM, ASCII-range UTF-16LE text has a zero in every odd byte.
  if (buffer.length >= 4 && buffer[1] === 0 && buffer[3] === 0 && buffer[0] !== 0) return buffer.toString('utf16le');
  return buffer.toString('utf8');
}

function lines(text: string): string[] {
  return text.split(/\r?\n|\r/);
}

/**
 * PowerShell Format-List output: records separated by blank lines, each line
 * "Name<padding>: value". A value wider than the console continues on following lines indented
 * to the value column; those lines are joined to the value. Property names contain no spaces, so
 * a line is a new property only when it starts with a name followed by padding and " : "/":".
 */
export function parseFormatList(text: string): PropertyRecord[] {
  const records: PropertyRecord[] = [];
  let current: PropertyRecord | null = null;
  let lastKey: string | null = null;
  let valueColumn = 0;
  for (const line of lines(text)) {
    if (line.trim() === '') {
      if (current !== null) records.push(current);
      current = null;
      lastKey = null;
      continue;
    }
    const match = /^(\S+?)(\s*): ?(.*)$/.exec(line);
    if (match && !/^\s/.test(line)) {
      current ??= {};
      lastKey = match[1];
      current[lastKey] = match[3].trimEnd();
      valueColumn = match[1].length + match[2].length + 2;
      continue;
    }
    if (current !== null && lastKey !== null && line.length > valueColumn && line.slice(0, valueColumn).trim() === '') {
      current[lastKey] += line.slice(valueColumn).trimEnd();
      continue;
    }
    throw new Error(`not a Format-List line: ${JSON.stringify(line.slice(0, 80))}`);
  }
  if (current !== null) records.push(current);
  return records;
}

/**
 * `wmic … get /FORMAT:list`: "Name=value" lines, records separated by blank lines. wmic's list
 * format escapes "&" as "&amp;" (and "<", ">" likewise), so values are unescaped here.
 */
export function parseWmicList(text: string): PropertyRecord[] {
  const records: PropertyRecord[] = [];
  let current: PropertyRecord | null = null;
  for (const line of lines(text)) {
    if (line.trim() === '') {
      if (current !== null) records.push(current);
      current = null;
      continue;
    }
    const equals = line.indexOf('=');
    if (equals <= 0) throw new Error(`not a wmic list line: ${JSON.stringify(line.slice(0, 80))}`);
    current ??= {};
    current[line.slice(0, equals)] = unescapeXml(line.slice(equals + 1).trimEnd());
  }
  if (current !== null) records.push(current);
  return records;
}

function unescapeXml(value: string): string {
  return value.replace(/&(amp|lt|gt|quot|apos);/g, (_, name: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" })[name]!);
}

/**
 * PowerShell Format-Table output: a header line, a rule of dashes under each header, then rows.
 * The rule is only as wide as the header, while cells may be wider: a left-aligned cell runs on
 * past the end of its rule ("Unspecified" under "---------") and a right-aligned number starts
 * before its rule. So each cell is its rule's span widened over the adjoining non-blank
 * characters, never beyond a neighbour's rule; the last column takes the rest of the line.
 */
export function parseFormatTable(text: string): PropertyRecord[] {
  const all = lines(text);
  const ruleIndex = all.findIndex((line) => /^\s*-+(\s+-+)*\s*$/.test(line));
  if (ruleIndex < 1) throw new Error('no Format-Table header rule (a line of dashes) found');
  const spans: { start: number; end: number }[] = [];
  for (const match of all[ruleIndex].matchAll(/-+/g)) spans.push({ start: match.index!, end: match.index! + match[0].length });
  const header = all[ruleIndex - 1];
  const names = spans.map((span) => header.slice(span.start, span.end).trim());
  const records: PropertyRecord[] = [];
  for (const line of all.slice(ruleIndex + 1)) {
    if (line.trim() === '') continue;
    const record: PropertyRecord = {};
    spans.forEach((span, i) => {
      const floor = i === 0 ? 0 : spans[i - 1].end;
      const ceiling = i === spans.length - 1 ? line.length : spans[i + 1].start;
      let from = i === 0 ? 0 : span.start;
      while (from > floor && line[from - 1] !== undefined && line[from - 1] !== ' ') from -= 1;
      let to = i === spans.length - 1 ? line.length : span.end;
      while (to < ceiling && line[to] !== undefined && line[to] !== ' ') to += 1;
      record[names[i]] = line.slice(from, to).trim();
    });
    records.push(record);
  }
  return records;
}
