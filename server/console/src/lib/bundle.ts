/**
 * Message bundles: each page keeps `export const messages = { en: {...}, ja: {...} }` in its own
 * messages.ts. A message is a string or a function returning one. Pure (no DOM, no React) so the
 * root test suite can check bundles.
 */
export const LANGUAGES = ['en', 'ja'] as const;
export type Lang = (typeof LANGUAGES)[number];

export type MessageValue = string | ((...args: never[]) => string) | { readonly [key: string]: MessageValue };
export type Dict = { readonly [key: string]: MessageValue };
export interface Bundle<D extends Dict = Dict> {
  readonly en: D;
  readonly ja: D;
}

/** Every problem with a bundle: keys present in one language and not the other, or of different kind, or empty. */
export function bundleProblems(bundle: Bundle, prefix = ''): string[] {
  return compare(bundle.en as Dict, bundle.ja as Dict, prefix);
}

function compare(en: Dict, ja: Dict, prefix: string): string[] {
  const problems: string[] = [];
  const keys = new Set([...Object.keys(en), ...Object.keys(ja)]);
  for (const key of [...keys].sort()) {
    const name = prefix ? `${prefix}.${key}` : key;
    const a = en[key];
    const b = ja[key];
    if (a === undefined) {
      problems.push(`${name}: missing in en`);
      continue;
    }
    if (b === undefined) {
      problems.push(`${name}: missing in ja`);
      continue;
    }
    if (typeof a !== typeof b) {
      problems.push(`${name}: en is a ${typeof a}, ja is a ${typeof b}`);
      continue;
    }
    if (typeof a === 'string' && (a.trim() === '' || (b as string).trim() === '')) {
      problems.push(`${name}: empty text`);
    } else if (typeof a === 'function' && a.length !== (b as (...args: never[]) => string).length) {
      problems.push(`${name}: en takes ${a.length} arguments, ja takes ${(b as (...args: never[]) => string).length}`);
    } else if (typeof a === 'object') {
      problems.push(...compare(a as Dict, b as Dict, name));
    }
  }
  return problems;
}

/** Picks the language from what the browser prefers: the first of its languages that is ja or en. */
export function preferredLanguage(browserLanguages: readonly string[], stored: string | null): Lang {
  if (stored === 'en' || stored === 'ja') return stored;
  for (const tag of browserLanguages) {
    const base = tag.toLowerCase().split('-')[0];
    if (base === 'ja' || base === 'en') return base;
  }
  return 'en';
}
