/**
 * The violation feed's logic without React or the DOM (unit-tested from test/unit/console):
 * the filters ⇄ the URL query, the REST query they make, and merging live changes into the list.
 */

export const VIOLATION_STATUSES = ['open', 'acknowledged', 'resolved', 'dismissed', 'false_positive'] as const;
export type ViolationStatus = (typeof VIOLATION_STATUSES)[number];
export const VIOLATION_SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export const VIOLATION_RULES = [
  'usb.unregistered_device',
  'usb.unencrypted_media',
  'usb.storage_with_hid',
  'transfer.to_unregistered_media',
  'transfer.personal_data_unencrypted',
  'transfer.daily_volume',
  'destination.not_whitelisted',
  'network.wrong_zone',
  'disk.unencrypted',
  'agent.silent',
  'ledger.unknown_device',
  'ledger.overdue',
] as const;
/** Relative time windows offered in the filter; the URL keeps the name so a reload stays relative. */
export const TIME_RANGES = ['1h', '24h', '7d', '30d'] as const;
export type TimeRange = (typeof TIME_RANGES)[number];
const RANGE_MS: Record<TimeRange, number> = { '1h': 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000, '30d': 30 * 86_400_000 };

/** The subset of the REST ViolationView the feed's logic needs; pages use the full type in api/types. */
export interface ViolationLike {
  id: string;
  rule: string;
  severity: string;
  status: string;
  agentId: string | null;
  department?: string;
  assignee?: string | null;
  occurredAt: string;
  updatedAt: string;
}

export interface ViolationFilters {
  rule?: string;
  severity?: string;
  status?: string;
  department?: string;
  agentId?: string;
  assignee?: string;
  /** 'true': only violations nobody is assigned to (wins over assignee). */
  unassigned?: 'true';
  /** A relative window; wins over since/until. */
  range?: TimeRange;
  /** ISO 8601 */
  since?: string;
  /** ISO 8601 */
  until?: string;
}

export const FILTER_KEYS = ['rule', 'severity', 'status', 'department', 'agentId', 'assignee', 'unassigned', 'range', 'since', 'until'] as const;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The filters a URL query names. Values the server would refuse (an unknown status, an agent id
 * that is no UUID, a date that does not parse) are left out rather than sent.
 */
export function filtersFromQuery(query: URLSearchParams): ViolationFilters {
  const filters: ViolationFilters = {};
  const text = (key: string, max: number) => {
    const value = query.get(key)?.trim();
    return value ? value.slice(0, max) : undefined;
  };
  const rule = text('rule', 64);
  if (rule) filters.rule = rule;
  const severity = text('severity', 16);
  if (severity && (VIOLATION_SEVERITIES as readonly string[]).includes(severity)) filters.severity = severity;
  const status = text('status', 32);
  if (status && (VIOLATION_STATUSES as readonly string[]).includes(status)) filters.status = status;
  const department = text('department', 200);
  if (department) filters.department = department;
  const agentId = text('agentId', 64);
  if (agentId && UUID.test(agentId)) filters.agentId = agentId.toLowerCase();
  if (text('unassigned', 8) === 'true') filters.unassigned = 'true';
  else {
    const assignee = text('assignee', 64);
    if (assignee) filters.assignee = assignee;
  }
  const range = text('range', 8);
  if (range && (TIME_RANGES as readonly string[]).includes(range)) filters.range = range as TimeRange;
  else {
    const since = isoOrUndefined(text('since', 40));
    const until = isoOrUndefined(text('until', 40));
    if (since) filters.since = since;
    if (until) filters.until = until;
  }
  return filters;
}

function isoOrUndefined(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

/** The URL query for `filters` (stable key order, empty ones left out), with `extra` (e.g. the selected row) after them. */
export function queryFromFilters(filters: ViolationFilters, extra: Record<string, string | undefined> = {}): string {
  const params = new URLSearchParams();
  for (const key of FILTER_KEYS) {
    const value = filters[key];
    if (value === undefined || value === '') continue;
    if ((key === 'since' || key === 'until') && filters.range) continue;
    params.set(key, value);
  }
  for (const [key, value] of Object.entries(extra)) if (value) params.set(key, value);
  const text = params.toString();
  return text ? `?${text}` : '';
}

/** The GET /api/v1/violations query: the filters with a relative range turned into `since` at `now`. */
export function apiQueryFromFilters(filters: ViolationFilters, now: number, limit: number, cursor?: string | null): string {
  const params = new URLSearchParams();
  for (const key of ['rule', 'severity', 'status', 'department', 'agentId', 'assignee', 'unassigned'] as const) {
    const value = filters[key];
    if (value) params.set(key, value);
  }
  const window = timeWindow(filters, now);
  if (window.since !== undefined) params.set('since', new Date(window.since).toISOString());
  if (window.until !== undefined) params.set('until', new Date(window.until).toISOString());
  params.set('limit', String(limit));
  if (cursor) params.set('cursor', cursor);
  return `?${params.toString()}`;
}

function timeWindow(filters: ViolationFilters, now: number): { since?: number; until?: number } {
  if (filters.range) return { since: now - RANGE_MS[filters.range] };
  return {
    since: filters.since ? Date.parse(filters.since) : undefined,
    until: filters.until ? Date.parse(filters.until) : undefined,
  };
}

export function hasFilters(filters: ViolationFilters): boolean {
  return FILTER_KEYS.some((key) => filters[key] !== undefined && filters[key] !== '');
}

/** Whether a violation belongs in a list with these filters (as the server's list would decide; time by occurredAt). */
export function matchesFilters(violation: ViolationLike, filters: ViolationFilters, now: number): boolean {
  if (filters.rule && violation.rule !== filters.rule) return false;
  if (filters.severity && violation.severity !== filters.severity) return false;
  if (filters.status && violation.status !== filters.status) return false;
  if (filters.agentId && (violation.agentId ?? '').toLowerCase() !== filters.agentId.toLowerCase()) return false;
  if (filters.department && (violation.department ?? '') !== filters.department) return false;
  if (filters.assignee && (violation.assignee ?? '').toLowerCase() !== filters.assignee.toLowerCase()) return false;
  if (filters.unassigned === 'true' && violation.assignee) return false;
  const window = timeWindow(filters, now);
  const at = Date.parse(violation.occurredAt);
  if (window.since !== undefined && at < window.since) return false;
  if (window.until !== undefined && at >= window.until) return false;
  return true;
}

export type MergeOutcome = 'new' | 'updated' | 'unchanged' | 'ignored';

/**
 * A live change merged into the shown list. A violation already shown is replaced where it is
 * (even when it no longer matches the filters: a reviewer who just acknowledged a row in an "open"
 * list sees it change, not vanish; the next reload leaves it out). One not shown goes on top when
 * it matches the filters, and is ignored otherwise. An older copy than the one shown (by
 * updatedAt) never replaces a newer one.
 */
export function mergeViolation<T extends ViolationLike>(list: readonly T[], incoming: T, filters: ViolationFilters, now: number): { list: T[]; outcome: MergeOutcome } {
  const index = list.findIndex((item) => item.id === incoming.id);
  if (index >= 0) {
    const shown = list[index];
    if (Date.parse(incoming.updatedAt) < Date.parse(shown.updatedAt)) return { list: [...list], outcome: 'unchanged' };
    if (sameContent(shown, incoming)) return { list: [...list], outcome: 'unchanged' };
    const next = [...list];
    next[index] = incoming;
    return { list: next, outcome: 'updated' };
  }
  if (!matchesFilters(incoming, filters, now)) return { list: [...list], outcome: 'ignored' };
  return { list: [incoming, ...list], outcome: 'new' };
}

function sameContent(a: ViolationLike, b: ViolationLike): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Appends a further page, leaving out what is already shown (a live arrival may also be on the next page). */
export function appendPage<T extends { id: string }>(list: readonly T[], page: readonly T[]): T[] {
  const shown = new Set(list.map((item) => item.id));
  return [...list, ...page.filter((item) => !shown.has(item.id))];
}
