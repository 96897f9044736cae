/**
 * Japanese postal codes (NNN-NNNN) are counted only in context: after 〒 or 郵便番号 (or the
 * English "postal code", "zip"), or in a column whose header names them. Seven digits alone are
 * too common to mean anything.
 */
const IN_CONTEXT = /(?:〒|郵便番号|郵便|postal\s*code|post\s*code|zip\s*code|zip)\s*[:：]?\s*(\d{3})-?(\d{4})(?![\d-])/gi;
const WHOLE_CELL = /^\s*〒?\s*\d{3}-?\d{4}\s*$/;

export function countPostalCodes(text: string): number {
  let count = 0;
  for (const _ of text.matchAll(IN_CONTEXT)) count++;
  return count;
}

/** A cell of a postal-code column: the whole cell is one code. */
export function isPostalCodeCell(text: string): boolean {
  return WHOLE_CELL.test(text);
}
