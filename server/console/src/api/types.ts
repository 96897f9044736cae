/** Response shapes of the REST API used by C1's pages (see the collector's controllers and /api/docs). */

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface UsbSubject {
  kind?: undefined;
  vendorId: string;
  productId: string;
  serial: string;
  manufacturer: string;
  product: string;
  interfaceClasses: number[];
  busPath: string;
  serialQuality: string;
}

export interface MachineSubject {
  kind: 'machine';
  ledgerDeviceId: string | null;
  assetTag: string | null;
  hostname: string;
  hardwareSerial: string;
  department: string;
  holder: string;
  ledgerStatus: string | null;
  findings?: string[];
  volumes?: Record<string, unknown>[];
  hardwareModel?: string;
  hardwareVendor?: string;
  loanedSince?: string | null;
  dueBack?: string | null;
  lastHeardAt?: string;
  requiredZone?: string;
  reportedZone?: string;
}

export interface UserDaySubject {
  kind: 'user_day';
  userName: string;
  day: string;
  files: number;
  bytes: number;
  dailyFileLimit: number;
  dailyByteLimit: number;
}

export interface DestinationSubject {
  kind: 'destination';
  host: string;
  ipAddress: string;
  ipAddresses: string[];
  port: number;
  protocol: string;
  zone: string;
  decision: string;
  attempts: number;
  blockedAttempts: number;
  auditedAttempts: number;
  processName: string;
  processId: number;
  processNames: string[];
  observer: string;
  sourceAddress: string;
  firstSeenAt: string;
  lastSeenAt: string;
  lastEventId: string;
}

export type ViolationSubject = UsbSubject | MachineSubject | UserDaySubject | DestinationSubject;

export interface Enforcement {
  requestedMode: string;
  appliedMode: string;
  action: string;
  reason: string;
  registerEntryId: string | null;
  exceptionId: string | null;
  policyVersion: string;
  latencyMicros: string;
  policyLineageId: string;
}

export interface Judgement {
  policyVersion: number;
  source: string;
  note: string;
}

export interface Violation {
  id: string;
  rule: string;
  severity: string;
  status: string;
  agentId: string | null;
  hostname: string;
  userName: string;
  device: ViolationSubject;
  enforcement: Enforcement | null;
  occurredAt: string;
  detectedAt: string;
  eventId: string;
  plugId: string | null;
  judgedUnder: Judgement | null;
  summary: string;
  note: string | null;
  assignee: string | null;
  department: string;
  updatedAt: string;
}

export interface TrailEvent {
  eventId: string;
  agentId: string;
  sequence: string;
  kind: string;
  occurredAt: string;
  receivedAt: string;
  userName: string;
  role: string;
  payload: Record<string, unknown>;
}

export interface AuditRecord {
  sequence: number;
  id: string;
  at: string;
  actor: { kind: string; id: string; name: string };
  onBehalfOf: string | null;
  sourceAddress: string;
  action: string;
  subject: { type: string; id: string };
  before: unknown;
  after: unknown;
  previousHash: string;
  hash: string;
}

export interface ViolationTrail {
  events: TrailEvent[];
  audit: AuditRecord[];
}

export interface AuditVerification {
  ok: boolean;
  records: number;
  firstBroken: { sequence: number; id: string; reason: string } | null;
  last: { sequence: number; id: string; hash: string } | null;
}

export interface Transfer {
  id: string;
  eventId: string;
  agentId: string;
  hostname: string;
  occurredAt: string;
  localDay: string;
  userName: string;
  channel: string;
  operation: string;
  path: string;
  previousPath: string;
  sizeBytes: number;
  sha256: string;
  destination: string;
  attachedEventId: string | null;
  deviceNode: string;
  destinationEncrypted: boolean;
  hasPersonalData: boolean;
  findings: Record<string, number>;
  inspectionComplete: boolean;
  inspectionNote: string;
  format: string;
  encryptedEntries: number;
  problem: string;
  processName: string;
}

export interface Agent {
  id: string;
  status: string;
  hostname: string;
  facts: Record<string, unknown>;
  posture: Record<string, unknown> | null;
  enrolledAt: string;
  lastSeenAt: string | null;
  policyVersion: number;
  requiredZone: string | null;
  reportedZone: string;
}
