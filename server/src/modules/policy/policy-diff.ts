/**
 * A structural diff of two JSON documents (stored policy versions), pure. Objects are compared
 * key by key; lists whose items are objects that each carry a distinct identity (entryId,
 * exceptionId, id or name, in that order of preference) are matched by it, so an entry edited in
 * place shows as one change inside it (`network.whitelist[entryId=e1].ports`) rather than as a
 * removal and an addition, and a reordering of such a list shows as one change of the list's
 * order. Any other list (CIDRs, folders, port ranges) is compared as one value.
 */

export type PolicyChangeKind = 'added' | 'removed' | 'changed';

export interface PolicyChange {
  /** Dotted path from the document root; list items matched by identity as `[key=value]`. */
  path: string;
  kind: PolicyChangeKind;
  /** Absent (undefined) for an addition. */
  before?: unknown;
  /** Absent (undefined) for a removal. */
  after?: unknown;
}

const IDENTITY_KEYS = ['entryId', 'exceptionId', 'id', 'name'] as const;

export function diffDocuments(before: unknown, after: unknown): PolicyChange[] {
  const changes: PolicyChange[] = [];
  diffValue('', before, after, changes);
  return changes;
}

/**
 * A one-line account of a diff for version lists, grouped by the part of the policy:
 * "network.whitelist: 1 added, 1 changed; usb.unregisteredDeviceMode: changed". '' when nothing changed.
 */
export function summarizeChanges(changes: PolicyChange[]): string {
  const groups = new Map<string, PolicyChange[]>();
  for (const change of changes) {
    const section = sectionOf(change.path);
    groups.set(section, [...(groups.get(section) ?? []), change]);
  }
  return [...groups.entries()]
    .map(([section, inSection]) => {
      // A setting changes as a whole (one change at its own path): a count would say nothing.
      if (inSection.length === 1 && inSection[0].path === section) return `${section}: ${inSection[0].kind}`;
      // Changes inside one item count once for that item.
      const items = new Map<string, PolicyChangeKind>();
      for (const change of inSection) {
        const item = itemOf(change.path);
        if (!items.has(item)) items.set(item, change.path === item ? change.kind : 'changed');
      }
      const counts = (['added', 'removed', 'changed'] as const).map((kind) => [kind, [...items.values()].filter((value) => value === kind).length] as const);
      return `${section}: ${counts
        .filter(([, count]) => count > 0)
        .map(([kind, count]) => `${count} ${kind}`)
        .join(', ')}`;
    })
    .join('; ');
}

/** The list or setting a change belongs to: the path up to its first list item, else the whole path. */
function sectionOf(path: string): string {
  const bracket = path.indexOf('[');
  return bracket === -1 ? path : path.slice(0, bracket);
}

/** The list item a change is in (`network.whitelist[entryId=e1]`), else the whole path. */
function itemOf(path: string): string {
  const close = path.indexOf(']');
  return close === -1 ? path : path.slice(0, close + 1);
}

function diffValue(path: string, before: unknown, after: unknown, changes: PolicyChange[]): void {
  if (before === undefined && after === undefined) return;
  if (before === undefined) {
    changes.push({ path, kind: 'added', after });
    return;
  }
  if (after === undefined) {
    changes.push({ path, kind: 'removed', before });
    return;
  }
  if (isPlainObject(before) && isPlainObject(after)) {
    const keys = [...Object.keys(before), ...Object.keys(after).filter((key) => !(key in before))];
    for (const key of keys) diffValue(path === '' ? key : `${path}.${key}`, before[key], after[key], changes);
    return;
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    const identity = identityKeyOf(before, after);
    if (identity !== null) {
      diffKeyedList(path, identity, before as Array<Record<string, unknown>>, after as Array<Record<string, unknown>>, changes);
      return;
    }
  }
  if (!deepEqual(before, after)) changes.push({ path, kind: 'changed', before, after });
}

function diffKeyedList(path: string, key: string, before: Array<Record<string, unknown>>, after: Array<Record<string, unknown>>, changes: PolicyChange[]): void {
  const idOf = (item: Record<string, unknown>) => String(item[key]);
  const beforeById = new Map(before.map((item) => [idOf(item), item]));
  const afterById = new Map(after.map((item) => [idOf(item), item]));
  const itemPath = (id: string) => `${path}[${key}=${id}]`;
  for (const item of before) {
    const id = idOf(item);
    if (!afterById.has(id)) changes.push({ path: itemPath(id), kind: 'removed', before: item });
    else diffValue(itemPath(id), item, afterById.get(id), changes);
  }
  for (const item of after) {
    const id = idOf(item);
    if (!beforeById.has(id)) changes.push({ path: itemPath(id), kind: 'added', after: item });
  }
  // Order matters for some lists (zones are tried in order): report a reordering of the items both hold.
  const kept = (list: Array<Record<string, unknown>>, other: Map<string, unknown>) => list.map(idOf).filter((id) => other.has(id));
  const orderBefore = kept(before, afterById);
  const orderAfter = kept(after, beforeById);
  if (orderBefore.some((id, index) => id !== orderAfter[index])) changes.push({ path: `${path}[order]`, kind: 'changed', before: orderBefore, after: orderAfter });
}

/** The identity key every item of both lists carries with a distinct scalar value; null when there is none (or a list is empty on both sides). */
function identityKeyOf(before: unknown[], after: unknown[]): string | null {
  const items = [...before, ...after];
  if (items.length === 0 || !items.every(isPlainObject)) return null;
  for (const key of IDENTITY_KEYS) {
    const distinct = (list: unknown[]) => {
      const values = list.map((item) => (item as Record<string, unknown>)[key]);
      return values.every((value) => typeof value === 'string' || typeof value === 'number') && new Set(values.map(String)).size === values.length;
    };
    if (distinct(before) && distinct(after)) return key;
  }
  return null;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((item, index) => deepEqual(item, b[index]));
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((key) => key in b && deepEqual(a[key], b[key]));
  }
  return false;
}
