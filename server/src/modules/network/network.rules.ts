import { normalizeHostNameOrNull } from '../../../../agent/src/core/destinations/host-name';
import type { ValidatedEvent } from '../ingest/event-validation';
import { protocolName, type WhitelistProtocolName } from '../policy/network-names';
import type { ViolationDestination, ViolationSeverity } from '../violations/violation.entity';

/**
 * The network rules, pure. destination.not_whitelisted trusts the agent's decision (it decided by
 * the whitelist in the version it names); the collector folds repeated attempts into one
 * unresolved violation per agent, destination, protocol and port. network.wrong_zone compares the
 * zone a heartbeat reports with the zone the device is required in.
 */
export const DESTINATION_NOT_WHITELISTED_RULE = 'destination.not_whitelisted';
export const NETWORK_WRONG_ZONE_RULE = 'network.wrong_zone';
export const NETWORK_RULES = [DESTINATION_NOT_WHITELISTED_RULE, NETWORK_WRONG_ZONE_RULE] as const;

/** One reported attempt to a destination that is not whitelisted. */
export interface DestinationAttempt {
  eventId: string;
  occurredAtMs: number;
  userName: string;
  host: string;
  ipAddress: string;
  port: number;
  protocol: WhitelistProtocolName;
  decision: 'blocked' | 'audited';
  zone: string;
  processName: string;
  processId: number;
  observer: string;
  attempts: number;
  sourceAddress: string;
  policyVersion: number;
  policyLineageId: string;
}

/** The attempt a DestinationAccess event reports, or null when the agent allowed it. */
export function destinationAttemptOf(event: ValidatedEvent): DestinationAttempt | null {
  if (event.kind !== 'destination_access') return null;
  const p = event.payload as Record<string, unknown>;
  const decision = p.decision === 'DESTINATION_DECISION_BLOCKED' ? 'blocked' : p.decision === 'DESTINATION_DECISION_AUDITED' ? 'audited' : null;
  if (decision === null) return null;
  return {
    eventId: event.eventId,
    occurredAtMs: event.occurredAtMs,
    userName: event.userName,
    // As the matcher reads names: "Paste.Example.COM." and "paste.example.com" are one destination, an IDN its punycode.
    host: hostOf(String(p.host ?? '')),
    ipAddress: String(p.ipAddress ?? ''),
    port: Number(p.port ?? 0),
    protocol: protocolName(String(p.protocol ?? '')),
    decision,
    zone: String(p.zone ?? ''),
    processName: String(p.processName ?? ''),
    processId: Number(p.processId ?? 0),
    observer: String(p.observer ?? '').replace('DESTINATION_OBSERVER_', '').toLowerCase(),
    // An agent that folds nothing reports 0: the event is one attempt.
    attempts: Math.max(1, Number(p.attempts ?? 0)),
    sourceAddress: String(p.sourceAddress ?? ''),
    policyVersion: Number(p.policyVersion ?? 0),
    policyLineageId: String(p.policyLineageId ?? ''),
  };
}

function hostOf(reported: string): string {
  if (reported === '') return '';
  return normalizeHostNameOrNull(reported) ?? reported.toLowerCase();
}

/** The destination as people name it: the host when the agent knew it, else the address. */
export function destinationName(attempt: Pick<DestinationAttempt, 'host' | 'ipAddress'>): string {
  return attempt.host !== '' ? attempt.host : attempt.ipAddress;
}

/** One unresolved violation per agent, destination, protocol and port. */
export function destinationKey(agentId: string, attempt: DestinationAttempt): string {
  return `${DESTINATION_NOT_WHITELISTED_RULE}:agent:${agentId}:${destinationName(attempt)}:${attempt.protocol}:${attempt.port}`;
}

/**
 * An audited attempt went out (audit mode lets it through): high. A blocked one did not; it is
 * still a violation of the rule, kept for the reviewer: medium.
 */
export function destinationSeverity(subject: Pick<ViolationDestination, 'auditedAttempts'>): ViolationSeverity {
  return subject.auditedAttempts > 0 ? 'high' : 'medium';
}

/** The violation's subject after `attempts` (oldest first) are added to what it held. */
export function foldDestinationAttempts(existing: ViolationDestination | null, attempts: readonly DestinationAttempt[]): ViolationDestination {
  const last = attempts[attempts.length - 1];
  const first = attempts[0];
  const blocked = attempts.filter((attempt) => attempt.decision === 'blocked').reduce((sum, attempt) => sum + attempt.attempts, 0);
  const audited = attempts.filter((attempt) => attempt.decision === 'audited').reduce((sum, attempt) => sum + attempt.attempts, 0);
  const processes = new Set(existing?.processNames ?? []);
  for (const attempt of attempts) if (attempt.processName !== '' && processes.size < 16) processes.add(attempt.processName);
  const addresses = new Set(existing?.ipAddresses ?? []);
  for (const attempt of attempts) if (attempt.ipAddress !== '' && addresses.size < 16) addresses.add(attempt.ipAddress);
  const firstSeenMs = Math.min(existing === null ? Infinity : Date.parse(existing.firstSeenAt), first.occurredAtMs);
  const lastSeenMs = Math.max(existing === null ? -Infinity : Date.parse(existing.lastSeenAt), last.occurredAtMs);
  return {
    kind: 'destination',
    host: last.host !== '' ? last.host : (existing?.host ?? ''),
    ipAddress: last.ipAddress !== '' ? last.ipAddress : (existing?.ipAddress ?? ''),
    ipAddresses: [...addresses],
    port: last.port,
    protocol: last.protocol,
    zone: last.zone,
    decision: last.decision,
    attempts: (existing?.attempts ?? 0) + blocked + audited,
    blockedAttempts: (existing?.blockedAttempts ?? 0) + blocked,
    auditedAttempts: (existing?.auditedAttempts ?? 0) + audited,
    processName: last.processName !== '' ? last.processName : (existing?.processName ?? ''),
    processId: last.processId !== 0 ? last.processId : (existing?.processId ?? 0),
    processNames: [...processes],
    observer: last.observer,
    sourceAddress: last.sourceAddress,
    firstSeenAt: new Date(firstSeenMs).toISOString(),
    lastSeenAt: new Date(lastSeenMs).toISOString(),
    lastEventId: last.eventId,
  };
}

export function destinationSummary(subject: ViolationDestination, hostname: string): string {
  const where = subject.host !== '' && subject.ipAddress !== '' ? `${subject.host} (${subject.ipAddress})` : subject.host || subject.ipAddress;
  const what = [subject.blockedAttempts > 0 ? `${subject.blockedAttempts} blocked` : '', subject.auditedAttempts > 0 ? `${subject.auditedAttempts} let through in audit mode` : '']
    .filter((part) => part !== '')
    .join(', ');
  const zone = subject.zone === '' ? '' : ` from zone ${subject.zone}`;
  const process = subject.processName === '' ? '' : ` by ${subject.processName}`;
  return `Connection to a destination that is not whitelisted: ${where} port ${subject.port}/${subject.protocol}${zone} on ${hostname || 'the machine'}${process} (${what})`.slice(0, 2000);
}

/** What a device's required zone and its reported zone say: raise, clear, or nothing to say (no zone reported). */
export function judgeZone(requiredZone: string | null, reportedZone: string): 'raise' | 'clear' | 'unknown' {
  if (requiredZone === null || requiredZone === '') return 'clear';
  if (reportedZone === '') return 'unknown';
  return reportedZone === requiredZone ? 'clear' : 'raise';
}
