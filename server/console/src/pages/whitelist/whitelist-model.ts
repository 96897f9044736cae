/**
 * The whitelist page's data shapes (as GET /api/v1/whitelist, /whitelist/requests and /zones answer)
 * and the pure logic between its forms and the request bodies. No DOM, no React: unit-tested from
 * the root suite.
 */

export interface PortRange {
  first: number;
  last: number;
}

export const PROTOCOLS = ['any', 'tcp', 'udp'] as const;
export const SERVICES = ['any', 'web', 'git', 'mail'] as const;
export const ZONE_MODES = ['off', 'audit', 'enforce'] as const;

export interface Destination {
  hostPattern: string;
  cidr: string;
  ports: PortRange[];
  protocol: string;
  service: string;
  zone: string;
  justification: string;
}

export interface WhitelistEntry extends Destination {
  id: string;
  requestedBy: string;
  approvedBy: string;
  expiresAt: string | null;
  status: 'active' | 'expired' | 'revoked' | string;
  createdAt: string;
  updatedAt: string;
  revokedBy: string | null;
  revokedAt: string | null;
  revocationReason: string | null;
  expiredAt: string | null;
  requestId: string | null;
}

export interface WhitelistRequest extends Destination {
  id: string;
  requestedBy: string;
  requestedAt: string;
  requestedExpiresAt: string | null;
  status: 'pending' | 'approved' | 'rejected' | 'withdrawn' | string;
  decidedBy: string | null;
  decidedAt: string | null;
  decisionReason: string | null;
  approvedExpiresAt: string | null;
  entryId: string | null;
}

export interface NetworkZone {
  name: string;
  position: number;
  cidrs: string[];
  dnsSuffixes: string[];
  mode: string;
  createdAt: string;
  updatedAt: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** "443, 8000-8100" for the ranges; '' for every port (the caller shows its own "all ports" text). */
export function formatPorts(ports: readonly PortRange[]): string {
  return ports.map((range) => (range.first === range.last ? String(range.first) : `${range.first}-${range.last}`)).join(', ');
}

/** What a destination names: the host pattern or the address block. */
export function destinationTarget(destination: Pick<Destination, 'hostPattern' | 'cidr'>): string {
  return destination.hostPattern !== '' ? destination.hostPattern : destination.cidr;
}

export type PortsParse = { ok: true; ports: string[] } | { ok: false; index: number; text: string };

/**
 * The ports field of the form ("443, 8000-8100", commas or spaces) as the body's list of strings.
 * Empty: every port. A token that is no port or range fails with its position, as the collector
 * would name it (ports[i]).
 */
export function parsePortsInput(text: string): PortsParse {
  const tokens = text
    .split(/[\s,、]+/)
    .map((token) => token.trim())
    .filter((token) => token !== '');
  const ports: string[] = [];
  for (const [index, token] of tokens.entries()) {
    const match = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(token);
    const first = match === null ? NaN : Number(match[1]);
    const last = match === null ? NaN : match[2] === undefined ? first : Number(match[2]);
    if (!(first >= 1 && first <= 65535 && last >= 1 && last <= 65535 && first <= last)) return { ok: false, index, text: token };
    ports.push(first === last ? String(first) : `${first}-${last}`);
  }
  return { ok: true, ports };
}

/** The destination form as the user fills it in. */
export interface DestinationForm {
  targetKind: 'host' | 'cidr';
  hostPattern: string;
  cidr: string;
  ports: string;
  protocol: string;
  service: string;
  zone: string;
  justification: string;
  /** datetime-local value; '' for no end. */
  expiresAt: string;
}

export function emptyDestinationForm(): DestinationForm {
  return { targetKind: 'host', hostPattern: '', cidr: '', ports: '', protocol: 'any', service: 'any', zone: '', justification: '', expiresAt: '' };
}

export function formOfEntry(entry: WhitelistEntry, toLocalInput: (iso: string | null) => string): DestinationForm {
  return {
    targetKind: entry.hostPattern !== '' ? 'host' : 'cidr',
    hostPattern: entry.hostPattern,
    cidr: entry.cidr,
    ports: formatPorts(entry.ports),
    protocol: entry.protocol,
    service: entry.service,
    zone: entry.zone,
    justification: entry.justification,
    expiresAt: toLocalInput(entry.expiresAt),
  };
}

/** A problem the browser can see before sending: the field and a message key of the page's bundle. */
export interface FormProblem {
  field: 'hostPattern' | 'cidr' | 'ports' | 'justification' | 'expiresAt';
  problem: 'required' | 'badPort' | 'expiryInvalid' | 'expiryPast';
  /** The bad port token, for badPort. */
  detail?: string;
}

/**
 * The destination part of an entry or request body from the form, or the problems that keep it
 * from being sent. The collector's own validation (host pattern syntax, CIDR, zone exists) still
 * decides; this only catches what needs no server.
 */
export function destinationBody(
  form: DestinationForm,
  expiryIso: string | null | undefined,
  now: Date,
): { ok: true; body: Record<string, unknown> } | { ok: false; problems: FormProblem[] } {
  const problems: FormProblem[] = [];
  const target = form.targetKind === 'host' ? form.hostPattern.trim() : form.cidr.trim();
  if (target === '') problems.push({ field: form.targetKind === 'host' ? 'hostPattern' : 'cidr', problem: 'required' });
  const ports = parsePortsInput(form.ports);
  if (!ports.ok) problems.push({ field: 'ports', problem: 'badPort', detail: ports.text });
  if (form.justification.trim() === '') problems.push({ field: 'justification', problem: 'required' });
  if (expiryIso === undefined) problems.push({ field: 'expiresAt', problem: 'expiryInvalid' });
  else if (expiryIso !== null && new Date(expiryIso).getTime() <= now.getTime()) problems.push({ field: 'expiresAt', problem: 'expiryPast' });
  if (problems.length > 0 || !ports.ok) return { ok: false, problems };
  const body: Record<string, unknown> = {
    ...(form.targetKind === 'host' ? { hostPattern: target } : { cidr: target }),
    ports: ports.ports,
    protocol: form.protocol,
    service: form.service,
    zone: form.zone,
    justification: form.justification.trim(),
  };
  if (expiryIso !== null && expiryIso !== undefined) body.expiresAt = expiryIso;
  return { ok: true, body };
}

/**
 * PATCH body for an entry: only what the form changed, plus changedBy. The destination fields go
 * as a set when any of them changed (the collector clears the pattern when a block is given and
 * the other way round). expiresAt null removes the end.
 */
export function entryPatch(entry: WhitelistEntry, created: Record<string, unknown>, changedBy: string): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  const targetBefore = entry.hostPattern !== '' ? { hostPattern: entry.hostPattern } : { cidr: entry.cidr };
  const targetAfter = created.hostPattern !== undefined ? { hostPattern: created.hostPattern } : { cidr: created.cidr };
  if (JSON.stringify(targetBefore) !== JSON.stringify(targetAfter)) Object.assign(patch, targetAfter);
  if (JSON.stringify(created.ports) !== JSON.stringify(entry.ports.map((r) => (r.first === r.last ? String(r.first) : `${r.first}-${r.last}`)))) patch.ports = created.ports;
  for (const field of ['protocol', 'service', 'zone', 'justification'] as const) {
    if (created[field] !== entry[field]) patch[field] = created[field];
  }
  const expiresAt = (created.expiresAt as string | undefined) ?? null;
  const sameEnd = expiresAt === null ? entry.expiresAt === null : entry.expiresAt !== null && new Date(entry.expiresAt).getTime() === new Date(expiresAt).getTime();
  if (!sameEnd) patch.expiresAt = expiresAt;
  if (Object.keys(patch).length === 0) return {};
  patch.changedBy = changedBy;
  return patch;
}

/** The queue as an approver works it: pending first (oldest first, the longest waiting on top), then the decided ones newest first. */
export function orderRequests(requests: readonly WhitelistRequest[]): WhitelistRequest[] {
  const time = (iso: string | null) => (iso === null ? 0 : new Date(iso).getTime());
  const pending = requests.filter((request) => request.status === 'pending').sort((a, b) => time(a.requestedAt) - time(b.requestedAt));
  const decided = requests
    .filter((request) => request.status !== 'pending')
    .sort((a, b) => time(b.decidedAt ?? b.requestedAt) - time(a.decidedAt ?? a.requestedAt));
  return [...pending, ...decided];
}

/** Zone form fields (one CIDR or suffix per line or comma) as the lists the collector takes. */
export function splitList(text: string): string[] {
  return text
    .split(/[\n,]+/)
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

/** The whitelist list query for the search box and status filter. */
export function entriesQuery(filter: { q: string; status: string; zone: string; cursor?: string | null }): string {
  const params = new URLSearchParams();
  params.set('limit', '100');
  if (filter.q.trim() !== '') params.set('q', filter.q.trim());
  if (filter.status === 'all') params.set('includeExpired', 'true');
  else if (filter.status !== '' && filter.status !== 'active') params.set('status', filter.status);
  if (filter.zone !== '') params.set('zone', filter.zone);
  if (filter.cursor) params.set('cursor', filter.cursor);
  return `/whitelist?${params.toString()}`;
}

/** One step of GET /api/v1/whitelist/history. */
export interface HistoryStep {
  id: string;
  at: string;
  kind: string;
  subjectId: string;
  actor: string;
  reason: string | null;
  before: unknown;
  after: unknown;
  policyVersion: number | null;
}

/**
 * What a history step is about, as people know it: the destination of an entry or request, the
 * zone's name, or the agent with its zone; the subject id when the record says nothing better.
 */
export function historySubject(step: Pick<HistoryStep, 'kind' | 'subjectId' | 'before' | 'after'>): string {
  const record = (step.after ?? step.before) as Record<string, unknown> | null;
  if (record !== null && typeof record === 'object') {
    if (step.kind.startsWith('entry.') || step.kind.startsWith('request.')) {
      const target = typeof record.hostPattern === 'string' && record.hostPattern !== '' ? record.hostPattern : typeof record.cidr === 'string' ? record.cidr : '';
      if (target !== '') return target;
    }
    if (step.kind.startsWith('zone.') && typeof record.name === 'string') return record.name;
  }
  return step.subjectId;
}
