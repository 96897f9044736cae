/**
 * Japanese telephone numbers (総務省 電気通信番号計画): mobiles and IP phones are 11 digits
 * 0X0-XXXX-XXXX (050, 070, 080, 090); fixed lines are 10 digits, an area code of 2-5 digits
 * starting with 0 and never 0X0, then the local number ending in 4 digits. Toll-free and
 * navigation numbers (0120, 0800, 0570, 0990) belong to businesses, not people, and are left out.
 * A bare run of digits counts only when its length and prefix fit exactly.
 */
export function isJapanesePhoneNumber(national: string): boolean {
  if (/^0[5789]0\d{8}$/.test(national)) return !national.startsWith('0800');
  if (/^0[1-9][1-9]\d{7}$/.test(national)) return !/^0(?:120|570|990)/.test(national);
  return false;
}

// With separators: 0AA-BBBB-CCCC, (0AA)BBBB-CCCC, 0AA(BBBB)CCCC; spaces or hyphens.
const DOMESTIC_GROUPED = /(?<![\w+\-.]|\d[- ])(?:\((0\d{1,4})\)[- ]?(\d{1,4})[- ]?(\d{4})|(0\d{1,4})\((\d{1,4})\)(\d{4})|(0\d{1,4})([- ])(\d{1,4})\8(\d{4}))(?![\w-]|[- ]\d)/g;
const DOMESTIC_PLAIN = /(?<![\w+\-.])0\d{9,10}(?![\w-]|[.,]\d)/g;
// +81 forms: +81 3-1234-5678, +81-90-1234-5678, +81 (0)3 1234 5678, +81312345678.
const INTERNATIONAL = /(?<![\w+])\+81[- ]?(?:\(0\)[- ]?)?(\d{1,4})([- ]?)(\d{1,4})\2(\d{4})(?![\w-]|[- ]\d)/g;

function groupsFit(area: string, middle: string, last: string): boolean {
  const national = area + middle + last;
  if (!isJapanesePhoneNumber(national)) return false;
  // A mobile is written 0X0-XXXX-XXXX; a fixed line's area code and local exchange make 6 digits.
  if (national.length === 11) return area.length === 3 && middle.length === 4;
  return area.length + middle.length === 6 && area.length >= 2;
}

export function countPhoneNumbers(text: string): number {
  let count = 0;
  for (const m of text.matchAll(DOMESTIC_GROUPED)) {
    const [area, middle, last] = m[1] !== undefined ? [m[1], m[2]!, m[3]!] : m[4] !== undefined ? [m[4], m[5]!, m[6]!] : [m[7]!, m[9]!, m[10]!];
    if (groupsFit(area, middle, last)) count++;
  }
  for (const m of text.matchAll(DOMESTIC_PLAIN)) if (isJapanesePhoneNumber(m[0])) count++;
  for (const m of text.matchAll(INTERNATIONAL)) {
    const national = `0${m[1]}${m[3]}${m[4]}`;
    if (m[2] === '' ? isJapanesePhoneNumber(national) : groupsFit(`0${m[1]}`, m[3]!, m[4]!)) count++;
  }
  return count;
}
