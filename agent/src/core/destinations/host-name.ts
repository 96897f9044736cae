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

function isAsciiLdhOrDot(code: number): boolean {
  return isLowerLdh(code) || (code >= 0x41 && code <= 0x5a) || code === DOT;
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
      labelStart = i + 1;
    } else if (!isLowerLdh(code)) {
      return `host name "${shown}" contains "${name[i]}": only letters, digits, hyphens and dots are allowed`;
    }
  }
  const last = name.slice(name.lastIndexOf('.') + 1);
  if (/^(?:[0-9]+|0x[0-9a-f]*)$/.test(last)) return `host name "${shown}" ends in a number ("${last}"), which clients read as an IPv4 address; put addresses in cidr`;
  return null;
}

function fail(message: string): never {
  throw new DestinationSyntaxError('host', message);
}

/**
 * The canonical form of a host name: lower case, without its one trailing dot (the DNS root),
 * internationalized labels in punycode (UTS #46 through WHATWG's domainToASCII, as browsers do:
 * "例え.JP." becomes "xn--r8jz45g.jp"). Throws DestinationSyntaxError (field "host") naming what is
 * wrong: an empty name or label, a label over 63 or a name over 253 characters, a character outside
 * letters/digits/hyphen after conversion, an invalid punycode label, or an IP address.
 */
export function normalizeHostName(name: string): string {
  let text = name;
  if (text.length > 0 && text.charCodeAt(text.length - 1) === DOT) text = text.slice(0, -1);
  if (text.length === 0) fail(name.length === 0 ? 'a host name is empty' : `host name "${name}" is only the root (".")`);
  let plainLowerAscii = true;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80 && !isAsciiLdhOrDot(code)) {
      // Before domainToASCII: it would percent-decode ("a%2eb" → "a.b") or read URL syntax.
      fail(`host name "${name}" contains "${text[i]}": only letters, digits, hyphens and dots are allowed`);
    }
    if (!isLowerLdh(code) && code !== DOT) plainLowerAscii = false;
  }
  if (text.charCodeAt(text.length - 1) === DOT) fail(`host name "${name}" has an empty label (two dots at the end)`);
  // The common case (already canonical, no punycode to verify) avoids the URL machinery: queries take this path.
  let ascii = text;
  if (!plainLowerAscii || text.includes('xn--')) {
    if (isIP(text) !== 0) fail(`"${name}" is an IP address, not a host name; put addresses in cidr`);
    const firstProblem = ldhProblem(text.toLowerCase(), name);
    // An empty label or an over-long one is reported as such; domainToASCII would only say "invalid".
    if (firstProblem !== null && /empty label/.test(firstProblem)) fail(firstProblem);
    ascii = domainToASCII(text);
    if (ascii === '') fail(`host name "${name}" is not a valid internationalized name (invalid punycode, a disallowed character, or a numeric last label)`);
  }
  if (isIP(ascii) !== 0) fail(`"${name}" is an IP address, not a host name; put addresses in cidr`);
  const problem = ldhProblem(ascii, name);
  if (problem !== null) fail(problem);
  return ascii;
}

/** normalizeHostName that answers null instead of throwing (for names seen in traffic, not written by people). */
export function normalizeHostNameOrNull(name: string): string | null {
  try {
    return normalizeHostName(name);
  } catch (error) {
    if (error instanceof DestinationSyntaxError) return null;
    throw error;
  }
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
