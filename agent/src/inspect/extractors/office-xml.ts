import { ProseScanner, TableScanner } from '../detectors/text-scanner';
import type { FindingTally } from '../findings';
import { attribute, type XmlHandler } from './xml-tokens';

const MAX_LINE = 64 * 1024;

/**
 * Text of WordprocessingML and DrawingML parts (docx bodies, headers, footnotes, comments; pptx
 * slides and notes): the content of w:t / a:t runs and deleted text, one line per paragraph, table
 * cells joined by tabs on one line per row (so "氏名 | 山田太郎" reads as a labelled line).
 * mc:Fallback repeats content already read in mc:Choice and is skipped.
 */
export class OfficeTextCollector implements XmlHandler {
  private line = '';
  private textDepth = 0;
  private fallbackDepth = 0;
  private cellDepth = 0;
  private readonly prose: ProseScanner;

  constructor(tally: FindingTally) {
    this.prose = new ProseScanner(tally);
  }

  open(name: string, _attributes: string, selfClosing: boolean): void {
    if (name === 'Fallback') this.fallbackDepth++;
    if (this.fallbackDepth > 0) return;
    if (name === 't' || name === 'delText') this.textDepth++;
    else if (name === 'tab') this.line += '\t';
    else if ((name === 'br' || name === 'cr') && selfClosing) this.flush();
    else if (name === 'tc') this.cellDepth++;
  }

  close(name: string): void {
    if (name === 'Fallback') {
      this.fallbackDepth--;
      return;
    }
    if (this.fallbackDepth > 0) return;
    if (name === 't' || name === 'delText') this.textDepth--;
    else if (name === 'p') {
      if (this.cellDepth > 0) this.line += ' ';
      else this.flush();
    } else if (name === 'tc') {
      this.cellDepth--;
      this.line += '\t';
    } else if (name === 'tr') this.flush();
  }

  text(text: string): void {
    if (this.textDepth <= 0 || this.fallbackDepth > 0) return;
    this.line += text;
    if (this.line.length > MAX_LINE) this.flush();
  }

  end(): void {
    this.flush();
  }

  private flush(): void {
    if (this.line !== '') this.prose.line(this.line);
    this.line = '';
  }
}

/** xl/sharedStrings.xml: the strings cells refer to by index; phonetic readings (rPh) are left out. */
export class SharedStringsCollector implements XmlHandler {
  readonly strings: string[] = [];
  private current: string | null = null;
  private textDepth = 0;
  private phoneticDepth = 0;

  open(name: string): void {
    if (name === 'si') this.current = '';
    else if (name === 'rPh') this.phoneticDepth++;
    else if (name === 't') this.textDepth++;
  }

  close(name: string): void {
    if (name === 'si' && this.current !== null) {
      this.strings.push(this.current);
      this.current = null;
    } else if (name === 'rPh') this.phoneticDepth--;
    else if (name === 't') this.textDepth--;
  }

  text(text: string): void {
    if (this.current !== null && this.textDepth > 0 && this.phoneticDepth === 0 && this.current.length < MAX_LINE) this.current += text;
  }
}

/** Column index of a cell reference: A1 → 0, AA7 → 26. */
export function columnIndex(reference: string): number | null {
  const letters = /^([A-Z]{1,3})\d*$/.exec(reference.toUpperCase());
  if (letters === null) return null;
  let index = 0;
  for (const c of letters[1]!) index = index * 26 + (c.charCodeAt(0) - 64);
  return index - 1;
}

const MAX_COLUMNS = 16384;

/**
 * One worksheet (xl/worksheets/sheetN.xml): rows of cells handed to a table scanner, so the first
 * row's headers (氏名, 住所, …) give the columns below their meaning. Shared strings are resolved;
 * booleans and errors are not text.
 */
export class WorksheetCollector implements XmlHandler {
  private cells: string[] = [];
  private nextColumn = 0;
  private column = -1;
  private type = '';
  private value = '';
  private inValue = 0;
  private inInlineText = 0;
  private phoneticDepth = 0;
  private readonly table: TableScanner;

  constructor(tally: FindingTally, private readonly sharedStrings: readonly string[]) {
    this.table = new TableScanner(tally);
  }

  open(name: string, attributes: string): void {
    if (name === 'row') {
      this.cells = [];
      this.nextColumn = 0;
    } else if (name === 'c') {
      const reference = attribute(attributes, 'r');
      const index = reference === undefined ? null : columnIndex(reference);
      this.column = index ?? this.nextColumn;
      this.type = attribute(attributes, 't') ?? 'n';
      this.value = '';
    } else if (name === 'v') this.inValue++;
    else if (name === 't') this.inInlineText++;
    else if (name === 'rPh') this.phoneticDepth++;
  }

  close(name: string): void {
    if (name === 'v') this.inValue--;
    else if (name === 't') this.inInlineText--;
    else if (name === 'rPh') this.phoneticDepth--;
    else if (name === 'c') {
      if (this.column >= 0 && this.column < MAX_COLUMNS) this.cells[this.column] = this.cellText();
      this.nextColumn = this.column + 1;
      this.column = -1;
    } else if (name === 'row') {
      const row = Array.from({ length: this.cells.length }, (_, i) => this.cells[i] ?? '');
      this.table.row(row);
      this.cells = [];
    }
  }

  text(text: string): void {
    if (this.column < 0 || this.phoneticDepth > 0) return;
    if ((this.inValue > 0 || this.inInlineText > 0) && this.value.length < MAX_LINE) this.value += text;
  }

  private cellText(): string {
    switch (this.type) {
      case 's': {
        const index = Number.parseInt(this.value, 10);
        return Number.isInteger(index) ? (this.sharedStrings[index] ?? '') : '';
      }
      case 'b':
      case 'e':
        return '';
      default:
        return this.value;
    }
  }
}
