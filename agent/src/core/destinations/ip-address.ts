import { DestinationSyntaxError } from './destination-syntax-error';

/**
 * IP addresses as the matcher holds them: IPv4 as one unsigned 32-bit word, IPv6 as four words
 * (most significant first). An IPv4-mapped IPv6 address (::ffff:10.0.0.1, also written
 * ::ffff:a00:1) IS the IPv4 address: a dual-stack socket reports IPv4 peers that way, and an entry
 * for 10.0.0.0/8 must cover them. Other IPv6 forms that embed IPv4 (the deprecated ::10.0.0.1) stay IPv6.
 */
export type IpFamily = 4 | 6;

export interface ParsedCidr {
  family: IpFamily;
  /** The block's first address as an integer of 32 (IPv4) or 128 (IPv6) bits. */
  bits: bigint;
  prefixLength: number;
  /** Canonical text: "10.0.0.0/8", "2001:db8::/32"; a single address without its /32 or /128 ("10.0.0.5"). */
  text: string;
}

const DOT = 0x2e;
const COLON = 0x3a;
const groups = new Array<number>(8).fill(0);

function decimalDigit(code: number): number {
  return code >= 0x30 && code <= 0x39 ? code - 0x30 : -1;
}

function hexDigit(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x61 && code <= 0x66) return code - 0x61 + 10;
  if (code >= 0x41 && code <= 0x46) return code - 0x41 + 10;
  return -1;
}

/**
 * Dotted-quad IPv4 in text[start, end) as an unsigned word, or -1. Strict like node:net's isIPv4:
 * four decimal parts of 0..255 without leading zeros (010 is octal to some parsers, decimal to others).
 */
function readIpv4(text: string, start: number, end: number): number {
  let value = 0;
  let parts = 0;
  let i = start;
  while (parts < 4) {
    let part = 0;
    let digits = 0;
    const partStart = i;
    while (i < end) {
      const d = decimalDigit(text.charCodeAt(i));
      if (d < 0) break;
      part = part * 10 + d;
      digits++;
      i++;
    }
    if (digits === 0 || digits > 3 || part > 255 || (digits > 1 && text.charCodeAt(partStart) === 0x30)) return -1;
    value = value * 256 + part;
    parts++;
    if (parts < 4) {
      if (i >= end || text.charCodeAt(i) !== DOT) return -1;
      i++;
    }
  }
  return i === end ? value : -1;
}

/** IPv6 in text[start, end) into the module's `groups` (eight 16-bit values); false when it is not one. */
function readIpv6Groups(text: string, start: number, end: number): boolean {
  if (end - start < 2) return false;
  let count = 0;
  let compressAt = -1;
  let i = start;
  if (text.charCodeAt(i) === COLON) {
    if (text.charCodeAt(i + 1) !== COLON) return false;
    compressAt = 0;
    i += 2;
  }
  while (i < end) {
    if (count === 8) return false;
    const groupStart = i;
    let value = 0;
    let digits = 0;
    while (i < end) {
      const h = hexDigit(text.charCodeAt(i));
      if (h < 0) break;
      value = value * 16 + h;
      digits++;
      i++;
    }
    if (i < end && text.charCodeAt(i) === DOT) {
      // An embedded IPv4 address ends the text and fills two groups.
      if (count > 6) return false;
      const v4 = readIpv4(text, groupStart, end);
      if (v4 < 0) return false;
      groups[count++] = Math.floor(v4 / 65536);
      groups[count++] = v4 % 65536;
      i = end;
      break;
    }
    if (digits === 0 || digits > 4) return false;
    groups[count++] = value;
    if (i === end) break;
    if (text.charCodeAt(i) !== COLON) return false;
    i++;
    if (i < end && text.charCodeAt(i) === COLON) {
      if (compressAt !== -1) return false;
      compressAt = count;
      i++;
    } else if (i === end) {
      return false;
    }
  }
  if (compressAt === -1) return count === 8;
  // "::" stands for at least one group of zeros.
  if (count > 7) return false;
  const tail = count - compressAt;
  for (let k = 0; k < tail; k++) groups[7 - k] = groups[count - 1 - k]!;
  for (let k = compressAt; k < 8 - tail; k++) groups[k] = 0;
  return true;
}

/**
 * Reads an address into `into` (IPv4: into[0]; IPv6: into[0..3]) and answers its family, or 0 when
 * the text is not an address. IPv4-mapped IPv6 answers 4. With `allowZoneId` a zone ("%eth0") is
 * dropped, and so are the brackets of "[2001:db8::1]" (a proxy's CONNECT host); without it both are refused.
 */
export function readIpAddress(text: string, into: Uint32Array, allowZoneId: boolean): 0 | IpFamily {
  let start = 0;
  let end = text.length;
  if (end === 0) return 0;
  if (allowZoneId && text.charCodeAt(0) === 0x5b && text.charCodeAt(end - 1) === 0x5d) {
    start = 1;
    end -= 1;
  }
  const v4 = readIpv4(text, start, end);
  if (v4 >= 0) {
    into[0] = v4;
    return 4;
  }
  const percent = text.indexOf('%', start);
  if (percent !== -1 && percent < end) {
    if (!allowZoneId || percent === end - 1) return 0;
    end = percent;
  }
  if (!readIpv6Groups(text, start, end)) return 0;
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
    into[0] = groups[6]! * 65536 + groups[7]!;
    return 4;
  }
  for (let w = 0; w < 4; w++) into[w] = groups[2 * w]! * 65536 + groups[2 * w + 1]!;
  return 6;
}

/** Canonical text of an address held in words: dotted quad, or RFC 5952 IPv6 (lower case, longest zero run as "::"). */
export function formatIpAddress(family: IpFamily, words: ArrayLike<number>): string {
  const w0 = words[0]! >>> 0;
  if (family === 4) return `${w0 >>> 24}.${(w0 >>> 16) & 255}.${(w0 >>> 8) & 255}.${w0 & 255}`;
  const g: number[] = [];
  for (let w = 0; w < 4; w++) g.push((words[w]! >>> 16) & 0xffff, words[w]! & 0xffff);
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) => g.slice(from, to).map((x) => x.toString(16)).join(':');
  if (bestStart === -1) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
}

/**
 * The canonical text of an IP address, or null when `text` is not one: "::ffff:10.0.0.1" and
 * "::ffff:a00:1" give "10.0.0.1", "2001:DB8:0:0::1%eth0" gives "2001:db8::1" (the zone is dropped),
 * "[::1]" gives "::1".
 */
export function normalizeIpAddress(text: string): string | null {
  const words = new Uint32Array(4);
  const family = readIpAddress(text.trim(), words, true);
  return family === 0 ? null : formatIpAddress(family, words);
}

function wordsToBigInt(family: IpFamily, words: ArrayLike<number>): bigint {
  if (family === 4) return BigInt(words[0]! >>> 0);
  let value = 0n;
  for (let w = 0; w < 4; w++) value = (value << 32n) | BigInt(words[w]! >>> 0);
  return value;
}

/** The words of `words` with every bit from `prefixLength` on cleared. */
function maskWords(family: IpFamily, words: Uint32Array, prefixLength: number): Uint32Array {
  const masked = new Uint32Array(words);
  const wordCount = family === 4 ? 1 : 4;
  for (let w = 0; w < wordCount; w++) {
    const keep = Math.max(0, Math.min(32, prefixLength - 32 * w));
    masked[w] = keep === 0 ? 0 : keep === 32 ? masked[w]! : (masked[w]! & (0xffffffff << (32 - keep))) >>> 0;
  }
  return masked;
}

/** A parsed block with the words the tries walk (internal to the matcher and the zone classifier). */
export interface CidrBlock extends ParsedCidr {
  words: Uint32Array;
}

function cidrError(text: string, message: string): never {
  throw new DestinationSyntaxError('cidr', `"${text}" ${message}`);
}

/**
 * Parses an address block, "10.0.0.0/8", "2001:db8::/32", or a single address ("10.0.0.5" is
 * 10.0.0.5/32). IPv4-mapped IPv6 is IPv4: "::ffff:10.0.0.0/104" is 10.0.0.0/8 and a mapped block
 * shorter than /96 stays IPv6 (it covers IPv6 addresses, which IPv4 queries are never compared with).
 * A block with host bits set ("10.0.0.5/8") is refused, naming the block it may have meant: taking
 * it as 10.0.0.0/8 would quietly open 16 million addresses when 10.0.0.5/32 was the likelier intent.
 * Zone ids and brackets are refused too (an entry is the same on every host). Throws
 * DestinationSyntaxError with field "cidr".
 */
export function parseCidrBlock(text: string): CidrBlock {
  const trimmed = text.trim();
  if (trimmed === '') cidrError(text, 'is empty: give an address or a block such as 10.0.0.0/8');
  const slash = trimmed.indexOf('/');
  const addressText = slash === -1 ? trimmed : trimmed.slice(0, slash);
  const words = new Uint32Array(4);
  const written = readIpAddress(addressText, words, false);
  if (written === 0) cidrError(text, `is not an IPv4 or IPv6 address${addressText.includes('%') ? ' (zone ids such as %eth0 cannot be used in an entry)' : ''}`);
  const writtenAsMapped = written === 4 && addressText.includes(':');
  const writtenBits = written === 4 && !writtenAsMapped ? 32 : 128;
  let prefixLength = writtenBits;
  if (slash !== -1) {
    const lengthText = trimmed.slice(slash + 1);
    if (!/^(?:0|[1-9][0-9]{0,2})$/.test(lengthText) || Number(lengthText) > writtenBits) {
      cidrError(text, `has prefix length "${lengthText}": it must be a whole number from 0 to ${writtenBits}`);
    }
    prefixLength = Number(lengthText);
  }
  let family: IpFamily = written;
  if (writtenAsMapped) {
    if (prefixLength >= 96) {
      prefixLength -= 96;
    } else {
      // Keep the block as written: IPv6 ::ffff:0:0/95 and wider.
      family = 6;
      // ::ffff:a.b.c.d as four words.
      words.set([0, 0, 0x0000ffff, words[0]!]);
    }
  }
  const masked = maskWords(family, words, prefixLength);
  const width = family === 4 ? 32 : 128;
  for (let w = 0; w < (family === 4 ? 1 : 4); w++) {
    if (masked[w] !== words[w]) {
      cidrError(text, `has host bits set: the block with prefix /${prefixLength} starts at ${formatIpAddress(family, masked)}/${prefixLength}; write that, or ${formatIpAddress(family, words)} alone for one address`);
    }
  }
  const address = formatIpAddress(family, masked);
  return { family, bits: wordsToBigInt(family, masked), prefixLength, text: prefixLength === width ? address : `${address}/${prefixLength}`, words: masked };
}

/** The contract's view of parseCidrBlock (without the words). */
export function parseCidr(text: string): ParsedCidr {
  const { family, bits, prefixLength, text: canonical } = parseCidrBlock(text);
  return { family, bits, prefixLength, text: canonical };
}

/** True when the address in `words` (of `family`) lies inside `block`. */
export function blockContains(block: CidrBlock, family: IpFamily, words: ArrayLike<number>): boolean {
  if (block.family !== family) return false;
  let remaining = block.prefixLength;
  for (let w = 0; remaining > 0; w++, remaining -= 32) {
    const keep = Math.min(32, remaining);
    const mask = keep === 32 ? 0xffffffff : (0xffffffff << (32 - keep)) >>> 0;
    if (((words[w]! & mask) >>> 0) !== block.words[w]) return false;
  }
  return true;
}
