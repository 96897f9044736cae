import { Column, Entity, PrimaryColumn } from 'typeorm';
import { epochMillis, jsonText } from '../../common/epoch-millis.transformer';

export const VIOLATION_STATUSES = ['open', 'acknowledged', 'resolved', 'dismissed', 'false_positive'] as const;
export type ViolationStatus = (typeof VIOLATION_STATUSES)[number];
export const VIOLATION_SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type ViolationSeverity = (typeof VIOLATION_SEVERITIES)[number];

/** The device as a violation reports it: ids as 4-digit lower-case hex, like the register. */
export interface ViolationDevice {
  vendorId: string;
  productId: string;
  serial: string;
  manufacturer: string;
  product: string;
  interfaceClasses: number[];
  busPath: string;
  /** Whether the serial tells this device apart from others of its model, as the agent judged it. */
  serialQuality?: SerialQualityName;
}

export type SerialQualityName = 'present' | 'empty' | 'duplicated' | 'unspecified';

/**
 * The machine a condition violation (disk.unencrypted, agent.silent, ledger.*) is about, as the
 * ledger writes it (server/src/modules/ledger/ledger-device.record.ts violationSubject), with
 * what each rule adds: findings and volumes (disk.unencrypted), hardwareModel and hardwareVendor
 * (ledger.unknown_device), loanedSince and dueBack (ledger.overdue), lastHeardAt (agent.silent).
 */
export interface ViolationMachine {
  kind: 'machine';
  ledgerDeviceId: string | null;
  assetTag: string | null;
  hostname: string;
  hardwareSerial: string;
  department: string;
  holder: string;
  ledgerStatus: string | null;
  [detail: string]: unknown;
}

/**
 * The subject of transfer.daily_volume: one user's writes to removable media on one day (the
 * collector's local day), as server/src/modules/transfers/transfer-ingest.service.ts writes it;
 * the counts are kept current while the day's files arrive.
 */
export interface ViolationUserDay {
  kind: 'user_day';
  userName: string;
  day: string;
  files: number;
  bytes: number;
  dailyFileLimit: number;
  dailyByteLimit: number;
}

/**
 * The subject of destination.not_whitelisted: one destination (host or address, protocol, port)
 * one agent tried to reach, as server/src/modules/network/network.rules.ts folds the attempts;
 * the counts and last-seen fields are kept current while attempts arrive.
 */
export interface ViolationDestination {
  kind: 'destination';
  /** The host name asked for, '' when the agent knew only the address. */
  host: string;
  ipAddress: string;
  /** Every address seen for the destination (at most 16). */
  ipAddresses: string[];
  port: number;
  protocol: 'any' | 'tcp' | 'udp';
  zone: string;
  /** The newest attempt's decision. */
  decision: 'blocked' | 'audited';
  attempts: number;
  blockedAttempts: number;
  auditedAttempts: number;
  processName: string;
  processId: number;
  processNames: string[];
  /** firewall, proxy or unspecified. */
  observer: string;
  sourceAddress: string;
  firstSeenAt: string;
  lastSeenAt: string;
  lastEventId: string;
}

/** A stored violation's subject: a USB device for the usb.* and per-file transfer rules, a machine for the ledger, disk and zone rules, a user's day for the daily volume rule, a destination for destination.not_whitelisted. */
export type ViolationSubject = ViolationDevice | ViolationMachine | ViolationUserDay | ViolationDestination;

export function isDestinationSubject(subject: ViolationSubject): subject is ViolationDestination {
  return (subject as { kind?: unknown }).kind === 'destination';
}

export function isUserDaySubject(subject: ViolationSubject): subject is ViolationUserDay {
  return (subject as { kind?: unknown }).kind === 'user_day';
}

export function isMachineSubject(subject: ViolationSubject): subject is ViolationMachine {
  return (subject as { kind?: unknown }).kind === 'machine';
}

/** What the agent decided and did about the device, as it reported it with the event. */
export interface ViolationEnforcement {
  requestedMode: string;
  appliedMode: string;
  /** none, authorized, deauthorized, set_read_only, not_possible (or unspecified). */
  action: string;
  reason: string;
  registerEntryId: string | null;
  exceptionId: string | null;
  policyVersion: string;
  latencyMicros: string;
  /** The lineage of policyVersion as the agent reported it; empty for agents that do not. */
  policyLineageId?: string;
}

/** Which policy version the collector judged the event by. */
export interface ViolationJudgement {
  policyVersion: number;
  /** `decision`: the version the agent decided under; `newest`: that one was unknown here (see note). */
  source: 'decision' | 'newest';
  /** Why the newest version judged, empty when the agent's own version did. */
  note: string;
}

/** A rule hit on one stored event; unique per (agent, event, rule), and at most one unresolved per (agent, plug, rule). */
@Entity({ name: 'violations' })
export class ViolationEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ type: 'varchar', length: 64 })
  rule!: string;

  @Column({ type: 'varchar', length: 16 })
  severity!: ViolationSeverity;

  @Column({ type: 'varchar', length: 16 })
  status!: ViolationStatus;

  /** Null for a condition about a machine no agent was ever enrolled on (an overdue loan). */
  @Column({ name: 'agent_id', type: 'varchar', length: 36, nullable: true })
  agentId!: string | null;

  @Column({ name: 'event_id', type: 'varchar', length: 36 })
  eventId!: string;

  @Column({ type: 'text' })
  hostname!: string;

  @Column({ name: 'user_name', type: 'text' })
  userName!: string;

  /** The USB device (usb.* rules) or the machine (condition rules) the violation is about. */
  @Column({ type: 'text', transformer: jsonText })
  device!: ViolationSubject;

  /** Null when the agent reported no enforcement (older agents, or events without a decision). */
  @Column({ type: 'text', nullable: true, transformer: jsonText })
  enforcement!: ViolationEnforcement | null;

  @Column({ name: 'occurred_at', type: 'bigint', transformer: epochMillis })
  occurredAt!: Date;

  @Column({ name: 'detected_at', type: 'bigint', transformer: epochMillis })
  detectedAt!: Date;

  @Column({ type: 'text' })
  summary!: string;

  @Column({ type: 'text', nullable: true })
  note!: string | null;

  /** The event id of the UsbDeviceAttached that began the plug; one unresolved violation per rule and plug. */
  @Column({ name: 'plug_id', type: 'varchar', length: 36, nullable: true })
  plugId!: string | null;

  /** Null for violations stored before the collector recorded it. */
  @Column({ name: 'judged_under', type: 'text', nullable: true, transformer: jsonText })
  judgedUnder!: ViolationJudgement | null;

  @Column({ name: 'updated_at', type: 'bigint', transformer: epochMillis })
  updatedAt!: Date;

  /** The username of the security reviewer it is assigned to, null when nobody is. */
  @Column({ type: 'varchar', length: 64, nullable: true })
  assignee!: string | null;
}
