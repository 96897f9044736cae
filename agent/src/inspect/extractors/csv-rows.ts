/**
 * A streaming reader of delimited text (RFC 4180: quoted fields with doubled quotes, line breaks
 * inside quotes, CRLF or LF). A field longer than `maxField` characters is cut there, so a file
 * without a closing quote cannot hold everything in memory.
 */
export class CsvRows {
  private field = '';
  private row: string[] = [];
  private quoted = false;
  private quoteSeen = false;
  private fieldStarted = false;
  private lastWasCr = false;

  constructor(
    private readonly delimiter: string,
    private readonly onRow: (cells: string[]) => void,
    private readonly maxField = 1024 * 1024,
  ) {}

  write(text: string): void {
    for (let i = 0; i < text.length; i++) {
      const c = text[i]!;
      if (this.quoted) {
        if (this.quoteSeen) {
          this.quoteSeen = false;
          if (c === '"') {
            this.append('"');
            continue;
          }
          this.quoted = false;
          // fall through: c ends the quoted part
        } else if (c === '"') {
          this.quoteSeen = true;
          continue;
        } else {
          this.append(c);
          continue;
        }
      }
      if (c === '\n' && this.lastWasCr) {
        this.lastWasCr = false;
        continue;
      }
      this.lastWasCr = c === '\r';
      if (c === this.delimiter) this.endField();
      else if (c === '\n' || c === '\r') this.endRow();
      else if (c === '"' && !this.fieldStarted) {
        this.quoted = true;
        this.fieldStarted = true;
      } else this.append(c);
    }
  }

  /** The end of the text: a last row without a line break is still a row. */
  end(): void {
    if (this.quoted && this.quoteSeen) this.quoted = false;
    if (this.fieldStarted || this.row.length > 0) this.endRow();
  }

  private append(c: string): void {
    this.fieldStarted = true;
    if (this.field.length < this.maxField) this.field += c;
  }

  private endField(): void {
    this.row.push(this.field);
    this.field = '';
    this.fieldStarted = false;
  }

  private endRow(): void {
    this.endField();
    const row = this.row;
    this.row = [];
    if (row.length === 1 && row[0] === '') return;
    this.onRow(row);
  }
}
