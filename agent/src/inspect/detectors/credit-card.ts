/** The Luhn (mod 10) check of ISO/IEC 7812 over a string of digits. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

interface Issuer {
  name: string;
  matches(digits: string): boolean;
  lengths: readonly number[];
}

const between = (digits: string, width: number, low: number, high: number) => {
  const prefix = Number(digits.slice(0, width));
  return prefix >= low && prefix <= high;
};

/** Issuer identification ranges of the brands common in Japan; an unknown prefix is not a card. */
export const ISSUERS: readonly Issuer[] = [
  { name: 'Visa', matches: (d) => d.startsWith('4'), lengths: [13, 16, 19] },
  { name: 'Mastercard', matches: (d) => between(d, 2, 51, 55) || between(d, 4, 2221, 2720), lengths: [16] },
  { name: 'American Express', matches: (d) => d.startsWith('34') || d.startsWith('37'), lengths: [15] },
  { name: 'JCB', matches: (d) => between(d, 4, 3528, 3589), lengths: [16, 17, 18, 19] },
  { name: 'Diners Club', matches: (d) => d.startsWith('36') || between(d, 3, 300, 305), lengths: [14, 15, 16, 17, 18, 19] },
  { name: 'Discover', matches: (d) => d.startsWith('6011') || d.startsWith('65') || between(d, 3, 644, 649), lengths: [16, 17, 18, 19] },
];

export function cardIssuer(digits: string): string | null {
  if (!/^\d{13,19}$/.test(digits) || !luhnValid(digits)) return null;
  return ISSUERS.find((i) => i.matches(digits) && i.lengths.includes(digits.length))?.name ?? null;
}

const PLAIN = /(?<![\d.,]|\d-)\d{13,19}(?![\d]|[.,]\d|-\d)/g;
// 4-4-4-4 (and up to 3 more digits, for 17-19-digit cards), Amex 4-6-5, Diners 4-6-4; one separator throughout.
const GROUPED = /(?<!\d|\d[- ])(?:\d{4}([- ])\d{4}\1\d{4}\1\d{4}(?:\1\d{1,3})?|\d{4}([- ])\d{6}\2\d{4,5})(?!\d|[- ]\d)/g;

/** Counts payment card numbers: 13-19 digits, a known issuer prefix and length, and the Luhn check. */
export function countCreditCards(text: string): number {
  let count = 0;
  for (const m of text.matchAll(PLAIN)) if (cardIssuer(m[0]) !== null) count++;
  for (const m of text.matchAll(GROUPED)) if (cardIssuer(m[0].replace(/[- ]/g, '')) !== null) count++;
  return count;
}
