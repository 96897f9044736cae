/**
 * The policy version history and the diff between two versions, as GET /api/v1/policy/versions and
 * /policy/versions/:v/diff?against=N answer, and how the page lays them out. Pure (no DOM, no React).
 */

export interface PolicyVersionSummary {
  version: number;
  createdAt: string;
  /** What changed in this version, as the collector says it (text, or a list of texts). */
  summary: unknown;
}

export interface PolicyChange {
  path: string | Array<string | number>;
  kind: 'added' | 'removed' | 'changed' | string;
  before?: unknown;
  after?: unknown;
}

export interface PolicyDiff {
  from: number;
  to: number;
  changes: PolicyChange[];
}

/** The versions list, whether the collector answers {items}, {versions} or a bare array. */
export function versionsOf(answer: unknown): PolicyVersionSummary[] {
  const list = Array.isArray(answer)
    ? answer
    : answer !== null && typeof answer === 'object'
      ? ((answer as { items?: unknown; versions?: unknown }).items ?? (answer as { versions?: unknown }).versions)
      : undefined;
  if (!Array.isArray(list)) return [];
  return list
    .filter((item): item is Record<string, unknown> => item !== null && typeof item === 'object' && Number.isFinite(Number((item as Record<string, unknown>).version)))
    .map((item) => ({
      version: Number(item.version),
      createdAt: String(item.createdAt ?? item.publishedAt ?? ''),
      summary: item.summary ?? '',
    }));
}

/** The version to pass as before= for the next (older) page; null on the last page. */
export function nextBeforeOf(answer: unknown): number | null {
  if (answer === null || typeof answer !== 'object' || Array.isArray(answer)) return null;
  const value = (answer as { nextBefore?: unknown }).nextBefore;
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : null;
}

/** The summary as one line of text (a list joined by "; ", an object as its JSON). */
export function summaryText(summary: unknown): string {
  if (summary === null || summary === undefined) return '';
  if (typeof summary === 'string') return summary;
  if (Array.isArray(summary)) return summary.map(summaryText).filter((part) => part !== '').join('; ');
  if (typeof summary === 'object') {
    // {added: 1, removed: 0, changed: 2}-style counts read better as "added 1, changed 2".
    const entries = Object.entries(summary as Record<string, unknown>);
    if (entries.every(([, value]) => typeof value === 'number' || typeof value === 'string')) {
      return entries
        .filter(([, value]) => value !== 0 && value !== '')
        .map(([key, value]) => `${key} ${String(value)}`)
        .join(', ');
    }
    return JSON.stringify(summary);
  }
  return String(summary);
}

/** The path as people read it: "network.whitelist[2].ports". */
export function pathText(path: PolicyChange['path']): string {
  if (typeof path === 'string') return path;
  return path.reduce<string>((text, part) => (typeof part === 'number' ? `${text}[${part}]` : text === '' ? part : `${text}.${part}`), '');
}

/** The part of the policy a change is in: "usb", "network.whitelist", "network.zones", "transfer"… */
export function sectionOf(path: PolicyChange['path']): string {
  const text = pathText(path);
  const parts = text.split(/[.[\]]/).filter((part) => part !== '');
  if (parts.length === 0) return '';
  // network.whitelist, network.zones, usb.registeredDevices and usb.exceptions are lists with a
  // meaning of their own; plain settings (usb.unregisteredDeviceMode) stay under their top.
  if (parts.length > 2 && (parts[0] === 'network' || parts[0] === 'usb')) return `${parts[0]}.${parts[1]}`;
  return parts[0];
}

export interface ChangeGroup {
  section: string;
  changes: PolicyChange[];
}

/** Changes grouped by section, sections in the order they first appear, paths sorted within one. */
export function groupChanges(changes: readonly PolicyChange[]): ChangeGroup[] {
  const groups = new Map<string, PolicyChange[]>();
  for (const change of changes) {
    const section = sectionOf(change.path);
    const list = groups.get(section) ?? [];
    list.push(change);
    groups.set(section, list);
  }
  return [...groups.entries()].map(([section, list]) => ({
    section,
    changes: [...list].sort((a, b) => pathText(a.path).localeCompare(pathText(b.path), 'en', { numeric: true })),
  }));
}

/** Counts of each kind, for the diff's heading. */
export function countKinds(changes: readonly PolicyChange[]): { added: number; removed: number; changed: number } {
  const counts = { added: 0, removed: 0, changed: 0 };
  for (const change of changes) {
    if (change.kind === 'added') counts.added++;
    else if (change.kind === 'removed') counts.removed++;
    else counts.changed++;
  }
  return counts;
}

/**
 * A value of the diff as text: strings as they are, other values as indented JSON with keys in a
 * stable order, so two versions of one record line up. undefined (absent) is ''.
 */
export function valueText(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value === 'string') return value;
  return JSON.stringify(sortKeys(value), null, 2);
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value as Record<string, unknown>)
        .sort()
        .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
}

export interface LineDiff {
  kind: 'same' | 'removed' | 'added';
  text: string;
}

/**
 * A line-by-line diff of two texts (longest common subsequence), for changed records: the lines that
 * stayed, went and came. Values of a policy are small (an entry, a zone), so the quadratic table is
 * fine; past 400 lines a side it falls back to "all removed, all added".
 */
export function lineDiff(before: string, after: string): LineDiff[] {
  const a = before === '' ? [] : before.split('\n');
  const b = after === '' ? [] : after.split('\n');
  if (a.length > 400 || b.length > 400) {
    return [...a.map((text) => ({ kind: 'removed' as const, text })), ...b.map((text) => ({ kind: 'added' as const, text }))];
  }
  const table: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      table[i][j] = a[i] === b[j] ? table[i + 1][j + 1] + 1 : Math.max(table[i + 1][j], table[i][j + 1]);
    }
  }
  const out: LineDiff[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      out.push({ kind: 'same', text: a[i] });
      i++;
      j++;
    } else if (table[i + 1][j] >= table[i][j + 1]) {
      out.push({ kind: 'removed', text: a[i++] });
    } else {
      out.push({ kind: 'added', text: b[j++] });
    }
  }
  while (i < a.length) out.push({ kind: 'removed', text: a[i++] });
  while (j < b.length) out.push({ kind: 'added', text: b[j++] });
  return out;
}

/** The version to compare `version` against by default: the one before it, or null for the first. */
export function previousVersion(versions: readonly PolicyVersionSummary[], version: number): number | null {
  const older = versions.filter((item) => item.version < version).map((item) => item.version);
  if (older.length > 0) return Math.max(...older);
  return version > 1 ? version - 1 : null;
}
