import { allSameDigit } from './normalise';

/**
 * Japan's individual number (マイナンバー): 11 digits and a check digit. The check digit is defined
 * in 行政手続における特定の個人を識別するための番号の利用等に関する法律施行令 第八条 and
 * 総務省令第八十五号 第五条: with P(n) the n-th digit of the 11 counted from the right and
 * Q(n) = n + 1 for n ≤ 6, n − 5 for n ≥ 7, the remainder r = Σ P(n)·Q(n) mod 11 gives the check
 * digit 0 when r ≤ 1 and 11 − r otherwise.
 */
export function myNumberCheckDigit(first11: string): number {
  if (!/^\d{11}$/.test(first11)) throw new Error(`a My Number check digit needs 11 digits, got ${first11.length} characters`);
  let sum = 0;
  for (let n = 1; n <= 11; n++) {
    const p = first11.charCodeAt(11 - n) - 48;
    sum += p * (n <= 6 ? n + 1 : n - 5);
  }
  const r = sum % 11;
  return r <= 1 ? 0 : 11 - r;
}

export function isValidMyNumber(digits: string): boolean {
  return /^\d{12}$/.test(digits) && !allSameDigit(digits) && myNumberCheckDigit(digits.slice(0, 11)) === digits.charCodeAt(11) - 48;
}

// Twelve digits on their own: not inside a longer run, a decimal or a hyphenated code.
const PLAIN = /(?<![\d.,]|\d-)\d{12}(?![\d]|[.,]\d|-\d)/g;
// 4-4-4 with one separator used throughout; a fourth group would make it something else (a card).
const GROUPED = /(?<!\d|\d[- ])(\d{4})([- ])(\d{4})\2(\d{4})(?!\d|[- ]\d)/g;

/** Counts My Numbers in normalised text; a 12-digit number whose check digit fails is not one. */
export function countMyNumbers(text: string): number {
  let count = 0;
  for (const m of text.matchAll(PLAIN)) if (isValidMyNumber(m[0])) count++;
  for (const m of text.matchAll(GROUPED)) if (isValidMyNumber(m[1]! + m[3]! + m[4]!)) count++;
  return count;
}
