import { domainToASCII } from 'node:url';
import { isIP } from 'node:net';
import { DestinationSyntaxError } from './destination-syntax-error';

/** RFC 1035: a name is at most 253 characters written without its trailing dot, a label at most 63. */
export const MAX_HOST_NAME_LENGTH = 253;
export const MAX_LABEL_LENGTH = 63;

export type HostPatternKind = 'exact' | 'subdomains' | 'domain-and-subdomains';

/** A parsed host pattern: `name` is the normalized base name (without `*.` or the leading dot). */
export interface HostPattern {
  kind: HostPatternKind;
  name: string;
}

const DOT = 0x2e;
const HYPHEN = 0x2d;

function isLowerLdh(code: number): boolean {
  return (code >= 0x61 && code <= 0x7a) || (code >= 0x30 && code <= 0x39) || code === HYPHEN;
}

/** True when `label` is digits only, or "0x" and hex digits: WHATWG URL parsing reads a name ending so as IPv4. */
function isNumericLabel(name: string, start: number, end: number): boolean {
  let i = start;
  let hex = false;
  if (end - start >= 2 && name.charCodeAt(start) === 0x30 && name.charCodeAt(start + 1) === 0x78) {
    hex = true;
    i += 2;
  }
  for (; i < end; i++) {
    const code = name.charCodeAt(i);
    const digit = code >= 0x30 && code <= 0x39;
    if (!digit && !(hex && code >= 0x61 && code <= 0x66)) return false;
  }
  return true;
}

/**
 * The problem with an ASCII name that should be lower-case LDH labels joined by dots, or null when
 * there is none. The last label may not be numeric: WHATWG URL parsing (and so every browser and
 * proxy client) reads such a name as an IPv4 address, which belongs in an entry's cidr instead.
 */
function ldhProblem(name: string, shown: string): string | null {
  if (name.length === 0) return 'a host name is empty';
  if (name.length > MAX_HOST_NAME_LENGTH) return `host name "${shown}" is ${name.length} characters long after conversion (at most ${MAX_HOST_NAME_LENGTH})`;
  let labelStart = 0;
  for (let i = 0; i <= name.length; i++) {
    const code = i === name.length ? DOT : name.charCodeAt(i);
    if (code === DOT) {
      const length = i - labelStart;
      if (length === 0) return `host name "${shown}" has an empty label (two dots in a row, or a dot at the start)`;
      if (length > MAX_LABEL_LENGTH) return `host name "${shown}" has a label of ${length} characters ("${name.slice(labelStart, labelStart + 12)}…"; at most ${MAX_LABEL_LENGTH})`;
      if (name.charCodeAt(labelStart) === HYPHEN || name.charCodeAt(i - 1) === HYPHEN) return `host name "${shown}" has a label that starts or ends with a hyphen ("${name.slice(labelStart, i)}")`;
      if (i === name.length && isNumericLabel(name, labelStart, i)) {
        if (isIP(name) !== 0) return `"${shown}" is an IP address, not a host name; put addresses in cidr`;
        return `host name "${shown}" ends in a number ("${name.slice(labelStart)}"), which clients read as an IPv4 address; put addresses in cidr`;
      }
      labelStart = i + 1;
    } else if (!isLowerLdh(code)) {
      return `host name "${shown}" contains "${name[i]}": only letters, digits, hyphens and dots are allowed`;
    }
  }
  return null;
}

/** Why the last canonicalHostName call answered null (a module variable: throwing costs microseconds per query). */
let lastProblem = '';

/**
 * True when `text` (without a trailing dot) is already canonical: lower-case LDH labels of 1..63
 * characters, no hyphen at either end of a label, no punycode label (those need verifying), at
 * most 253 characters, and a last label that is not numeric. One pass and no allocation: every
 * decision on a name goes through here, and almost every name seen in traffic passes.
 */
function isCanonicalLdh(text: string): boolean {
  const length = text.length;
  if (length === 0 || length > MAX_HOST_NAME_LENGTH) return false;
  let labelStart = 0;
  let numeric = true;
  for (let i = 0; i <= length; i++) {
    const code = i === length ? DOT : text.charCodeAt(i);
    if (code === DOT) {
      const labelLength = i - labelStart;
      if (labelLength === 0 || labelLength > MAX_LABEL_LENGTH || text.charCodeAt(i - 1) === HYPHEN) return false;
      // A last label like "0x1f" is numeric to WHATWG parsers; the slow path explains the refusal.
      if (i === length && (numeric || (text.charCodeAt(labelStart) === 0x30 && text.charCodeAt(labelStart + 1) === 0x78))) return false;
      labelStart = i + 1;
      numeric = true;
    } else if ((code >= 0x61 && code <= 0x7a) || code === HYPHEN) {
      numeric = false;
      if (code === HYPHEN && (i === labelStart || (i === labelStart + 2 && text.charCodeAt(labelStart) === 0x78 && text.charCodeAt(labelStart + 1) === 0x6e && text.charCodeAt(i + 1) === HYPHEN))) return false;
    } else if (code < 0x30 || code > 0x39) {
      return false;
    }
  }
  return true;
}

/** The canonical name, or null with the reason in lastProblem. */
function canonicalHostName(name: string): string | null {
  let text = name;
  if (text.length > 0 && text.charCodeAt(text.length - 1) === DOT) text = text.slice(0, -1);
  if (isCanonicalLdh(text)) return text;
  if (text.length === 0) {
    lastProblem = name.length === 0 ? 'a host name is empty' : `host name "${name}" is only the root (".")`;
    return null;
  }
  let upper = false;
  let nonAscii = false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0x80) nonAscii = true;
    else if (code >= 0x41 && code <= 0x5a) upper = true;
    else if (!isLowerLdh(code) && code !== DOT) {
      // Refused before domainToASCII, which would percent-decode ("a%2eb" → "a.b") or read URL syntax.
      lastProblem = `host name "${name}" contains "${text[i]}": only letters, digits, hyphens and dots are allowed`;
      return null;
    }
  }
  let ascii = upper ? text.toLowerCase() : text;
  // Plain ASCII without punycode is canonical once lower-cased; the URL machinery (about 1 µs) is
  // only needed to convert Unicode and to verify punycode labels.
  if (nonAscii || ascii.includes('xn--')) {
    const early = ldhProblem(ascii, name);
    // An empty label is reported as such; domainToASCII would only say "invalid".
    if (early !== null && early.includes('empty label')) {
      lastProblem = early;
      return null;
    }
    ascii = domainToASCII(text);
    if (ascii === '') {
      lastProblem = `host name "${name}" is not a valid internationalized name (invalid punycode, a disallowed character, or a numeric last label)`;
      return null;
    }
  }
  const problem = ldhProblem(ascii, name);
  if (problem !== null) {
    lastProblem = problem;
    return null;
  }
  return ascii;
}

/**
 * The canonical form of a host name: lower case, without its one trailing dot (the DNS root),
 * internationalized labels in punycode (UTS #46 through WHATWG's domainToASCII, as browsers do:
 * "例え.JP." becomes "xn--r8jz45g.jp"). Throws DestinationSyntaxError (field "host") naming what is
 * wrong: an empty name or label, a label over 63 or a name over 253 characters, a character outside
 * letters/digits/hyphen after conversion, a label starting or ending with a hyphen, an invalid
 * punycode label, or an IP address (or a name ending in a number, which clients read as one).
 */
export function normalizeHostName(name: string): string {
  const canonical = canonicalHostName(name);
  if (canonical === null) throw new DestinationSyntaxError('host', lastProblem);
  return canonical;
}

/** normalizeHostName that answers null instead of throwing (for names seen in traffic, not written by people). */
export function normalizeHostNameOrNull(name: string): string | null {
  return canonicalHostName(name);
}

/**
 * Parses a whitelist host pattern:
 * - "git.example.com": exactly that name;
 * - "*.example.com": its subdomains (a.example.com, a.b.example.com), NOT example.com itself;
 * - ".example.com": example.com and its subdomains.
 * The base name is normalized as by normalizeHostName. Rejected, with a DestinationSyntaxError
 * (field "hostPattern"): a `*` anywhere but a whole first label ("git.*.com", "*git.example.com",
 * "*.*.example.com"), "*" alone, and a wildcard or leading-dot pattern over a single label
 * ("*.com", ".com", ".local"): those would open a whole top-level domain. Multi-label public
 * suffixes ("*.co.jp") cannot be told from company domains without a public-suffix list and are accepted.
 */
export function parseHostPattern(pattern: string): HostPattern {
  const trimmed = pattern.trim();
  let kind: HostPatternKind = 'exact';
  let base = trimmed;
  if (trimmed === '*' || trimmed === '*.' || trimmed === '.') throw new DestinationSyntaxError('hostPattern', `host pattern "${pattern}" would allow every destination; name a domain`);
  if (trimmed.startsWith('*.')) {
    kind = 'subdomains';
    base = trimmed.slice(2);
  } else if (trimmed.startsWith('.')) {
    kind = 'domain-and-subdomains';
    base = trimmed.slice(1);
  }
  if (base.includes('*')) throw new DestinationSyntaxError('hostPattern', `host pattern "${pattern}" has a "*" that is not the whole first label; only "*.example.com" is a wildcard`);
  let name: string;
  try {
    name = normalizeHostName(base);
  } catch (error) {
    if (error instanceof DestinationSyntaxError) throw new DestinationSyntaxError('hostPattern', `host pattern "${pattern}": ${error.message}`);
    throw error;
  }
  if (kind !== 'exact' && !name.includes('.')) {
    throw new DestinationSyntaxError('hostPattern', `host pattern "${pattern}" would allow the whole top-level domain "${name}"; name a domain with at least two labels`);
  }
  return { kind, name };
}

/** The canonical text of a parsed pattern ("*.example.com", ".example.com", "git.example.com"). */
export function formatHostPattern(pattern: HostPattern): string {
  if (pattern.kind === 'subdomains') return `*.${pattern.name}`;
  if (pattern.kind === 'domain-and-subdomains') return `.${pattern.name}`;
  return pattern.name;
}

/** True when `name` (normalized) is `suffix` or ends in "." + `suffix` (a label boundary). */
export function isAtOrBelow(name: string, suffix: string): boolean {
  if (name.length === suffix.length) return name === suffix;
  return name.length > suffix.length && name.endsWith(suffix) && name.charCodeAt(name.length - suffix.length - 1) === DOT;
}
