import { appendFileSync, closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { TransportProtocol, transportProtocolFromJSON } from '../../../generated/mamori/v1/common';
import type { Logger } from '../../../logging/logger';
import type { AllowElements } from '../allowed-elements';
import { elementText } from '../nft-ruleset';
import type { EgressAttempt, EgressCapability, EgressEnforcer, EgressPlan } from '../egress-enforcer';
import { planAllowedElements, planAlwaysAllowedElements, planHostNames, planMode } from '../egress-plan';

export interface FakeEgressOptions {
  logger: Logger;
  /** When set, every apply and removal is appended here as one JSON line (what the table would hold), for tests outside the process. */
  plansFile?: string;
  /** When set, JSON lines appended here are read (polled) and delivered as attempts, for tests outside the process. */
  attemptsFile?: string;
  /** How often the attempts file is polled. */
  pollMs?: number;
  /** Addresses the fake "resolves" the whitelist's names to when it describes a plan (no DNS is asked). */
  addressesOf?: (name: string) => readonly string[];
}

/** What the fake records about one apply or removal. */
export interface FakeEgressRecord {
  at: string;
  action: 'apply' | 'remove';
  zone: string;
  mode: 'off' | 'audit' | 'enforce';
  policyVersion: string;
  policyLineageId: string;
  hostNames: string[];
  allowed: string[];
  alwaysAllowed: string[];
}

/**
 * A real, selectable backend that programs nothing (MAMORI_AGENT_EGRESS_BACKEND=fake): it records
 * every plan (in memory, and as JSON lines in `plansFile`) and delivers the attempts a test injects
 * (`inject()`, or JSON lines appended to `attemptsFile`), so the daemon runs unchanged in tests.
 */
export class FakeEgressEnforcer implements EgressEnforcer {
  readonly backend = 'fake';
  readonly plans: EgressPlan[] = [];
  readonly records: FakeEgressRecord[] = [];
  current: EgressPlan | null = null;
  private readonly listeners: Array<(attempt: EgressAttempt) => void> = [];
  private poller: NodeJS.Timeout | null = null;
  private readOffset = 0;
  private pendingText = '';

  constructor(private readonly options: FakeEgressOptions) {
    if (options.attemptsFile !== undefined) {
      // Lines already in the file belong to an earlier run.
      this.readOffset = existsSync(options.attemptsFile) ? statSync(options.attemptsFile).size : 0;
      this.poller = setInterval(() => this.poll(), options.pollMs ?? 200);
      this.poller.unref();
    }
  }

  capability(): EgressCapability {
    return { available: true, reason: 'fake backend: plans are recorded, nothing is programmed' };
  }

  async apply(plan: EgressPlan): Promise<void> {
    this.plans.push(plan);
    this.current = planMode(plan) === 'off' ? null : plan;
    this.record('apply', plan);
  }

  async remove(): Promise<void> {
    this.current = null;
    this.record('remove', null);
  }

  onAttempt(listener: (attempt: EgressAttempt) => void): void {
    this.listeners.push(listener);
  }

  /** Delivers an attempt as if the kernel had refused or audited it. */
  inject(attempt: Partial<EgressAttempt> & Pick<EgressAttempt, 'ip' | 'port'>): void {
    const full: EgressAttempt = {
      protocol: TransportProtocol.TRANSPORT_PROTOCOL_TCP,
      host: '',
      decision: this.current !== null && planMode(this.current) === 'audit' ? 'audited' : 'blocked',
      processName: '',
      processId: 0,
      userName: '',
      attempts: 1,
      firstSeenAt: new Date(),
      sourceAddress: '',
      ...attempt,
    };
    for (const listener of this.listeners) listener(full);
  }

  async close(): Promise<void> {
    if (this.poller !== null) clearInterval(this.poller);
    this.poller = null;
    this.poll();
    await this.remove();
  }

  private record(action: 'apply' | 'remove', plan: EgressPlan | null): void {
    const addressesOf = this.options.addressesOf ?? (() => []);
    const record: FakeEgressRecord = {
      at: new Date().toISOString(),
      action,
      zone: plan?.zone ?? '',
      mode: plan === null ? 'off' : planMode(plan),
      policyVersion: plan?.policyVersion ?? '',
      policyLineageId: plan?.policyLineageId ?? '',
      hostNames: plan === null ? [] : planHostNames(plan),
      allowed: plan === null ? [] : flatten(planAllowedElements(plan, addressesOf)),
      alwaysAllowed: plan === null ? [] : flatten(planAlwaysAllowedElements(plan)),
    };
    this.records.push(record);
    if (this.options.plansFile !== undefined) {
      try {
        appendFileSync(this.options.plansFile, JSON.stringify(record) + '\n');
      } catch (error) {
        this.options.logger.warn('fake egress: could not write the plans file', { error });
      }
    }
  }

  /** Reads attempts appended since the last poll: {"ip": "...", "port": 443, "protocol": "TRANSPORT_PROTOCOL_TCP", ...}. */
  private poll(): void {
    const file = this.options.attemptsFile;
    if (file === undefined || !existsSync(file)) return;
    const size = statSync(file).size;
    if (size <= this.readOffset) return;
    const buffer = Buffer.alloc(size - this.readOffset);
    const fd = openSync(file, 'r');
    try {
      readSync(fd, buffer, 0, buffer.length, this.readOffset);
    } finally {
      closeSync(fd);
    }
    this.readOffset = size;
    const lines = (this.pendingText + buffer.toString('utf8')).split('\n');
    this.pendingText = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      try {
        const raw = JSON.parse(line) as Partial<EgressAttempt> & { ip: string; port: number; protocol?: unknown; firstSeenAt?: unknown };
        this.inject({
          ...raw,
          protocol: raw.protocol === undefined ? TransportProtocol.TRANSPORT_PROTOCOL_TCP : transportProtocolFromJSON(raw.protocol),
          firstSeenAt: typeof raw.firstSeenAt === 'string' ? new Date(raw.firstSeenAt) : new Date(),
        });
      } catch (error) {
        this.options.logger.warn('fake egress: skipping an attempts line that is not an attempt', { line, error });
      }
    }
  }
}

function flatten(elements: AllowElements): string[] {
  return [...elements.ipv4, ...elements.ipv6].map(elementText);
}
