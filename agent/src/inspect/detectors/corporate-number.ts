import { allSameDigit } from './normalise';

/**
 * Japan's corporate number (法人番号): a check digit FIRST, then 12 digits. Per the National Tax
 * Agency's specification (法人番号の指定等に関する省令 第二条), with P(n) the n-th of the 12 digits
 * counted from the right and Q(n) = 1 for odd n, 2 for even n, the check digit is
 * 9 − (Σ P(n)·Q(n) mod 9).
 */
export function corporateNumberCheckDigit(base12: string): number {
  if (!/^\d{12}$/.test(base12)) throw new Error(`a corporate number check digit needs 12 digits, got ${base12.length} characters`);
  let sum = 0;
  for (let n = 1; n <= 12; n++) sum += (base12.charCodeAt(12 - n) - 48) * (n % 2 === 1 ? 1 : 2);
  return 9 - (sum % 9);
}

export function isValidCorporateNumber(digits: string): boolean {
  return /^\d{13}$/.test(digits) && !allSameDigit(digits) && corporateNumberCheckDigit(digits.slice(1)) === digits.charCodeAt(0) - 48;
}

/**
 * One in nine 13-digit numbers passes the check digit (order numbers, millisecond timestamps), so a
 * bare run counts only in context: the invoice registration form T + 13 digits, or a label naming it
 * on the same line, in the line before or in the column header.
 */
export const CORPORATE_NUMBER_LABEL = /法人番号|登録番号|適格請求書|インボイス|corporate\s*(?:number|no\b|id\b)|registration\s*(?:number|no\b)/i;
const RUN = /(?<![\d.,]|\d-)(T)?(\d{13})(?![\d]|[.,]\d|-\d)/g;

export function countCorporateNumbers(text: string, label: string): number {
  const inContext = CORPORATE_NUMBER_LABEL.test(text) || CORPORATE_NUMBER_LABEL.test(label);
  let count = 0;
  for (const m of text.matchAll(RUN)) {
    const invoiceForm = m[1] === 'T' && (m.index === 0 || !/[A-Za-z0-9]/.test(text[m.index - 1]!));
    if ((invoiceForm || inContext) && isValidCorporateNumber(m[2]!)) count++;
  }
  return count;
}
