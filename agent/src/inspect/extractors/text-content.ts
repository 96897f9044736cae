import { TextDecoder } from 'node:util';
import type { TextEncoding } from '../content-sniffer';
import { ProseScanner, TableScanner } from '../detectors/text-scanner';
import type { FindingTally } from '../findings';
import { CsvRows } from './csv-rows';

/** Lines longer than this are scanned in pieces cut at a space, so a file without line breaks stays bounded. */
const MAX_LINE = 64 * 1024;

/** Splits decoded text into lines (LF, CRLF, CR) across chunk boundaries. */
export class LineSplitter {
  private carry = '';
  constructor(private readonly onLine: (line: string) => void) {}

  write(text: string): void {
    const all = this.carry + text;
    const parts = all.split(/\r\n|\n|\r/);
    // A CRLF cut between chunks yields one empty line more, which scanners skip.
    this.carry = parts.pop()!;
    for (const line of parts) this.onLine(line);
    while (this.carry.length > MAX_LINE) {
      const cut = this.carry.lastIndexOf(' ', MAX_LINE);
      const at = cut > MAX_LINE / 2 ? cut : MAX_LINE;
      this.onLine(this.carry.slice(0, at));
      this.carry = this.carry.slice(at);
    }
  }

  end(): void {
    if (this.carry !== '') this.onLine(this.carry);
    this.carry = '';
  }
}

/**
 * Inspects text as it streams by: decodes it (UTF-8, UTF-16, Shift_JIS, EUC-JP) and hands lines to
 * the prose scanner, or rows to the table scanner when the text is CSV/TSV. The caller meters the
 * bytes before they come here.
 */
export class TextContentInspector {
  private readonly decoder: TextDecoder;
  private readonly sink: { write(text: string): void; end(): void };

  constructor(encoding: TextEncoding, delimiter: string | null, tally: FindingTally) {
    // ignoreBOM: false strips a leading BOM of the encoding.
    this.decoder = new TextDecoder(encoding, { ignoreBOM: false });
    if (delimiter === null) {
      const prose = new ProseScanner(tally);
      this.sink = new LineSplitter((line) => prose.line(line));
    } else {
      const table = new TableScanner(tally);
      this.sink = new CsvRows(delimiter, (cells) => table.row(cells));
    }
  }

  write(chunk: Buffer): void {
    this.sink.write(this.decoder.decode(chunk, { stream: true }));
  }

  end(): void {
    this.sink.write(this.decoder.decode());
    this.sink.end();
  }
}
