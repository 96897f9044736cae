/**
 * The devices page's data: agents (GET /api/v1/agents), the ledger rows joined to them
 * (GET /api/v1/ledger/devices) and enrollment tokens, and the pure logic that reads the agents'
 * free-form heartbeat parts (posture, health and its capabilities). No DOM, no React.
 */

export interface Agent {
  id: string;
  status: 'enrolled' | 'revoked' | string;
  hostname: string;
  facts: Record<string, unknown>;
  posture: Record<string, unknown> | null;
  health: Record<string, unknown> | null;
  enrolledAt: string;
  revokedAt: string | null;
  lastSeenAt: string | null;
  policyVersion: number;
  requiredZone: string | null;
  reportedZone: string;
  certificateExpiresAt: string;
}

export interface LedgerDevice {
  id: string;
  inLedger: boolean;
  assetTag: string | null;
  hardwareSerial: string;
  hostname: string;
  department: string;
  holder: string;
  loanedSince: string | null;
  dueBack: string | null;
  status: string | null;
  note: string;
  agent: { id: string } | null;
  encryption: { state: string; findings: string[]; problems: string[] };
  silent: boolean;
  overdue: boolean;
}

export interface EnrollmentToken {
  id: string;
  label: string;
  createdAt: string;
  expiresAt: string;
  maxUses: number | null;
  uses: number;
  revokedAt: string | null;
  state: 'active' | 'expired' | 'revoked' | 'used_up' | string;
  /** The network zone every agent it enrolls is required in; null: the installer's choice (install.sh --zone) or none. */
  zone: string | null;
}

export interface CreatedEnrollmentToken extends EnrollmentToken {
  token: string;
  caPin: string;
  enrollCommand: string;
}

export interface Capability {
  name: string;
  available: boolean;
  reason: string;
}

/** What the agent reported it can and cannot do on its host (health.capabilities), sorted by name; [] when it reported none. */
export function capabilitiesOf(health: Record<string, unknown> | null): Capability[] {
  const list = health?.capabilities;
  if (!Array.isArray(list)) return [];
  return list
    .filter((item): item is Record<string, unknown> => item !== null && typeof item === 'object' && typeof (item as Record<string, unknown>).name === 'string')
    .map((item) => ({ name: String(item.name), available: item.available === true, reason: typeof item.reason === 'string' ? item.reason : '' }))
    .sort((a, b) => a.name.localeCompare(b.name, 'en'));
}

/** Capabilities by area ("usb", "network", "transfer"…: the name before the first dot), areas in name order. */
export function capabilityAreas(capabilities: readonly Capability[]): Array<{ area: string; capabilities: Capability[] }> {
  const areas = new Map<string, Capability[]>();
  for (const capability of capabilities) {
    const area = capability.name.split('.')[0];
    areas.set(area, [...(areas.get(area) ?? []), capability]);
  }
  return [...areas.entries()].sort(([a], [b]) => a.localeCompare(b, 'en')).map(([area, list]) => ({ area, capabilities: list }));
}

/** How many of the capabilities are available, for the list's short column ("4 of 6"). */
export function capabilityCounts(capabilities: readonly Capability[]): { available: number; total: number } {
  return { available: capabilities.filter((capability) => capability.available).length, total: capabilities.length };
}

export type CheckOutcome = 'passed' | 'failed' | 'not_checked';

export interface Posture {
  fixedDisksEncrypted: CheckOutcome;
  systemVolumeEncrypted: CheckOutcome;
  usbStorageDevicesAttached: number;
  unregisteredUsbStorageDevices: number;
  networkZone: string;
}

/** The posture as stored from the last heartbeat; null before the first one. */
export function postureOf(posture: Record<string, unknown> | null): Posture | null {
  if (posture === null || typeof posture !== 'object') return null;
  const outcome = (value: unknown): CheckOutcome => (value === 'passed' || value === 'failed' ? value : 'not_checked');
  const count = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : Number(value) >= 0 ? Number(value) : 0);
  return {
    fixedDisksEncrypted: outcome(posture.fixedDisksEncrypted),
    systemVolumeEncrypted: outcome(posture.systemVolumeEncrypted),
    usbStorageDevicesAttached: count(posture.usbStorageDevicesAttached),
    unregisteredUsbStorageDevices: count(posture.unregisteredUsbStorageDevices),
    networkZone: typeof posture.networkZone === 'string' ? posture.networkZone : '',
  };
}

/**
 * The posture in one word for the list: failed when a check failed or an unregistered stick is
 * attached, unknown when no check ran (or no heartbeat yet), else passed.
 */
export function postureVerdict(posture: Posture | null): 'passed' | 'failed' | 'unknown' {
  if (posture === null) return 'unknown';
  if (posture.fixedDisksEncrypted === 'failed' || posture.systemVolumeEncrypted === 'failed' || posture.unregisteredUsbStorageDevices > 0) return 'failed';
  if (posture.fixedDisksEncrypted === 'not_checked' && posture.systemVolumeEncrypted === 'not_checked') return 'unknown';
  return 'passed';
}

/** The agent's facts the page shows, as strings ('' when not reported). */
export function factsOf(agent: Pick<Agent, 'facts'>): { os: string; agentVersion: string; architecture: string; hardware: string; serial: string; users: string[] } {
  const text = (key: string) => (typeof agent.facts[key] === 'string' ? (agent.facts[key] as string) : '');
  const users = Array.isArray(agent.facts.loggedInUsers) ? agent.facts.loggedInUsers.filter((user): user is string => typeof user === 'string') : [];
  return {
    os: [text('osFamily'), text('osVersion')].filter((part) => part !== '').join(' '),
    agentVersion: text('agentVersion'),
    architecture: text('architecture'),
    hardware: [text('hardwareVendor'), text('hardwareModel')].filter((part) => part !== '').join(' '),
    serial: text('hardwareSerial'),
    users,
  };
}

/** The ledger rows by the id of the agent each is matched to. */
export function ledgerByAgent(devices: readonly LedgerDevice[]): Map<string, LedgerDevice> {
  const map = new Map<string, LedgerDevice>();
  for (const device of devices) if (device.agent !== null) map.set(device.agent.id, device);
  return map;
}

/**
 * Where the agent stands against the newest policy: current, behind (runs an older version), or
 * none (no version yet). `current` null: the newest version is not known to the page.
 */
export function policyStanding(running: number, current: number | null): 'current' | 'behind' | 'none' | 'unknown' {
  if (!(running > 0)) return 'none';
  if (current === null) return 'unknown';
  return running >= current ? 'current' : 'behind';
}

/** Last heard of: never, recent (within `silentAfterMs`), or silent. */
export function contactState(lastSeenAt: string | null, now: Date, silentAfterMs = 15 * 60_000): 'never' | 'recent' | 'silent' {
  if (lastSeenAt === null) return 'never';
  return now.getTime() - new Date(lastSeenAt).getTime() > silentAfterMs ? 'silent' : 'recent';
}

export interface TokenForm {
  label: string;
  maxUses: string;
  /** Lifetime in hours, as typed. */
  lifetimeHours: string;
  /** A defined zone the token binds its agents to; '' for none. */
  zone: string;
}

/** One year, the collector's limit (MAX_TOKEN_LIFETIME_SECONDS). */
export const MAX_TOKEN_LIFETIME_HOURS = 8760;
export const MAX_TOKEN_USES = 1_000_000;

/** The POST /enrollment-tokens body from the form, or the field that is wrong. */
export function tokenBody(form: TokenForm): { ok: true; body: Record<string, unknown> } | { ok: false; field: 'maxUses' | 'lifetimeHours' | 'label' } {
  const body: Record<string, unknown> = {};
  const label = form.label.trim();
  if (label.length > 256) return { ok: false, field: 'label' };
  if (label !== '') body.label = label;
  if (form.maxUses.trim() !== '') {
    const uses = Number(form.maxUses.trim());
    if (!Number.isInteger(uses) || uses < 1 || uses > MAX_TOKEN_USES) return { ok: false, field: 'maxUses' };
    body.maxUses = uses;
  }
  if (form.lifetimeHours.trim() !== '') {
    const hours = Number(form.lifetimeHours.trim());
    if (!Number.isFinite(hours) || hours <= 0 || hours > MAX_TOKEN_LIFETIME_HOURS) return { ok: false, field: 'lifetimeHours' };
    body.expiresInSeconds = Math.max(1, Math.round(hours * 3600));
  }
  if (form.zone !== '') body.zone = form.zone;
  return { ok: true, body };
}
