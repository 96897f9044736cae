/**
 * Check digits computed for the tests independently of the agent's code, written from the
 * published formulas with weights read left to right, so a mistake in the agent's right-to-left
 * implementation cannot hide behind the same mistake here.
 */

/** マイナンバー (総務省令第八十五号 第五条): weights 6,5,4,3,2,7,6,5,4,3,2 over the first 11 digits, left to right. */
export function myNumberWithCheckDigit(first11: string): string {
  const weights = [6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
  const sum = [...first11].reduce((s, d, i) => s + Number(d) * weights[i]!, 0);
  const remainder = sum % 11;
  return first11 + String(remainder <= 1 ? 0 : 11 - remainder);
}

/** 法人番号 (国税庁): weights 2,1,2,1,… over the 12 base digits left to right; the check digit goes first. */
export function corporateNumberWithCheckDigit(base12: string): string {
  const sum = [...base12].reduce((s, d, i) => s + Number(d) * (i % 2 === 0 ? 2 : 1), 0);
  return String(9 - (sum % 9)) + base12;
}

/** A wrong check digit for the same body. */
export function withWrongLastDigit(valid: string): string {
  const last = Number(valid[valid.length - 1]);
  return valid.slice(0, -1) + String((last + 1) % 10);
}

/** A deterministic source of digits (xorshift), so failures repeat. */
export function digitSource(seed: number): (count: number) => string {
  let x = seed >>> 0 || 1;
  return (count) => {
    let out = '';
    for (let i = 0; i < count; i++) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      out += String(x % 10);
    }
    return out;
  };
}
