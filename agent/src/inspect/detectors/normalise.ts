/**
 * Japanese documents write numbers with full-width digits (０-９), full-width hyphens and the
 * long-vowel mark or other dashes between digit groups. NFKC folds the full-width forms to ASCII;
 * the dashes that NFKC leaves alone are folded to "-" when they stand between two digits.
 */
const DASH_BETWEEN_DIGITS = /(?<=\d)[\u2010-\u2015\u2212\u30fc\uff70](?=\d)/g;
const DASH = /[\u2010-\u2015\u2212\u30fc\uff70]/;
// Full-width and half-width forms: the only compatibility characters the detectors care about.
const WIDTH_FORMS = /[\uff00-\uffef]/;
const NOT_ASCII = /[^\x00-\x7f]/;

export function normaliseText(text: string): string {
  if (!NOT_ASCII.test(text)) return text;
  // NFKC is the costly step; most Japanese lines have no full-width forms and skip it.
  const folded = WIDTH_FORMS.test(text) ? text.normalize('NFKC') : text;
  return DASH.test(folded) ? folded.replace(DASH_BETWEEN_DIGITS, '-') : folded;
}

/** True when every character is the same (000000000000): placeholders, not data. */
export function allSameDigit(digits: string): boolean {
  for (let i = 1; i < digits.length; i++) if (digits[i] !== digits[0]) return false;
  return true;
}
