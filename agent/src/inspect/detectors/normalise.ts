/**
 * Japanese documents write numbers with full-width digits (０-９), full-width hyphens and the
 * long-vowel mark or other dashes between digit groups. NFKC folds the full-width forms to ASCII;
 * the dashes that NFKC leaves alone are folded to "-" when they stand between two digits.
 */
const DASH_BETWEEN_DIGITS = /(?<=\d)[\u2010-\u2015\u2212\u30fc\uff70](?=\d)/g;
const NOT_ASCII = /[^\x00-\x7f]/;

export function normaliseText(text: string): string {
  if (!NOT_ASCII.test(text)) return text;
  return text.normalize('NFKC').replace(DASH_BETWEEN_DIGITS, '-');
}

/** True when every character is the same (000000000000): placeholders, not data. */
export function allSameDigit(digits: string): boolean {
  for (let i = 1; i < digits.length; i++) if (digits[i] !== digits[0]) return false;
  return true;
}
