import { PersonalDataKind as K } from '../../generated/mamori/v1/events';
import type { FindingTally } from '../findings';
import { countCorporateNumbers, isValidCorporateNumber } from './corporate-number';
import { countCreditCards } from './credit-card';
import { countEmailAddresses } from './email-address';
import { columnRole, hasContent, labelledLine, type ColumnRole } from './labels';
import { countMyNumbers } from './my-number';
import { normaliseText } from './normalise';
import { countPhoneNumbers } from './phone-number';
import { countPostalCodes, isPostalCodeCell } from './postal-code';

// Every numeric pattern (phone, postal code, My Number, corporate number, card) has a group of at
// least four digits; a line without one skips the numeric detectors.
const FOUR_DIGITS = /\d{4}/;

/** Runs every pattern detector over one piece of normalised text. `label` is what labels it (header, line before). */
function scanPatterns(text: string, label: string, tally: FindingTally): void {
  tally.add(K.PERSONAL_DATA_KIND_EMAIL_ADDRESS, countEmailAddresses(text));
  if (!FOUR_DIGITS.test(text)) return;
  tally.add(K.PERSONAL_DATA_KIND_MY_NUMBER, countMyNumbers(text));
  tally.add(K.PERSONAL_DATA_KIND_CORPORATE_NUMBER, countCorporateNumbers(text, label));
  tally.add(K.PERSONAL_DATA_KIND_CREDIT_CARD, countCreditCards(text));
  tally.add(K.PERSONAL_DATA_KIND_PHONE_NUMBER, countPhoneNumbers(text));
  tally.add(K.PERSONAL_DATA_KIND_POSTAL_CODE, countPostalCodes(text));
}

/**
 * Scans running text line by line (plain text, Word paragraphs and table rows, slides, PDF pages):
 * the patterns, and names/addresses after a label at the start of a line. The line before is kept
 * as context for labels written above their value.
 */
export class ProseScanner {
  private previous = '';
  constructor(private readonly tally: FindingTally) {}

  line(raw: string): void {
    const line = normaliseText(raw);
    if (line.trim() === '') return;
    scanPatterns(line, this.previous, this.tally);
    const labelled = labelledLine(line);
    if (labelled === 'name') this.tally.add(K.PERSONAL_DATA_KIND_PERSON_NAME);
    if (labelled === 'address') this.tally.add(K.PERSONAL_DATA_KIND_POSTAL_ADDRESS);
    this.previous = line.length > 200 ? line.slice(-200) : line;
  }
}

/**
 * Scans a table (CSV rows, worksheet rows): the first non-empty row is the header and gives each
 * column a role; the patterns run on every cell with its header as context. A record counts once
 * per name and once per address even when the name is split over 姓 and 名 columns.
 */
export class TableScanner {
  private headers: string[] | null = null;
  private roles: Array<ColumnRole | null> = [];
  constructor(private readonly tally: FindingTally) {}

  row(cells: readonly string[]): void {
    const normalised = cells.map(normaliseText);
    if (this.headers === null) {
      if (!normalised.some(hasContent)) return;
      this.headers = normalised;
      this.roles = normalised.map(columnRole);
      // A header row may itself hold data when there is no header (a list of addresses): scan it too.
      if (this.roles.every((r) => r === null)) normalised.forEach((cell) => scanPatterns(cell, '', this.tally));
      return;
    }
    let name = false;
    let address = false;
    normalised.forEach((cell, column) => {
      const role = this.roles[column] ?? null;
      const header = this.headers![column] ?? '';
      if (role === 'postal-code' && isPostalCodeCell(cell)) this.tally.add(K.PERSONAL_DATA_KIND_POSTAL_CODE);
      else if (role === 'corporate-number' && isValidCorporateNumber(cell.trim().replace(/^T/, ''))) this.tally.add(K.PERSONAL_DATA_KIND_CORPORATE_NUMBER);
      else {
        if (role === 'name' && hasContent(cell)) name = true;
        if (role === 'address' && hasContent(cell)) address = true;
        scanPatterns(cell, header, this.tally);
      }
    });
    if (name) this.tally.add(K.PERSONAL_DATA_KIND_PERSON_NAME);
    if (address) this.tally.add(K.PERSONAL_DATA_KIND_POSTAL_ADDRESS);
  }
}
