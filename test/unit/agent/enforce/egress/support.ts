import { compileWhitelist } from '../../../../../agent/src/core/destinations/whitelist-matcher';
import { TransportProtocol } from '../../../../../agent/src/generated/mamori/v1/common';
import { ZoneEnforcementMode, type WhitelistEntry } from '../../../../../agent/src/generated/mamori/v1/policy';
import type { EgressPlan } from '../../../../../agent/src/enforce/egress/egress-enforcer';
import type { RefreshClock } from '../../../../../agent/src/enforce/egress/dns-refresher';

export function entry(over: Partial<WhitelistEntry> & { entryId: string }): WhitelistEntry {
  return {
    hostPattern: '',
    cidr: '',
    ports: [],
    protocol: TransportProtocol.TRANSPORT_PROTOCOL_UNSPECIFIED,
    service: 'any',
    zone: 'dev-lan',
    justification: 'test',
    requestedBy: 'alice',
    approvedBy: 'bob',
    expiresAt: undefined,
    ...over,
  };
}

export function plan(entries: WhitelistEntry[], mode = ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_ENFORCE, over: Partial<EgressPlan> = {}): EgressPlan {
  return {
    zone: 'dev-lan',
    mode,
    whitelist: compileWhitelist(entries, new Date()),
    alwaysAllowed: [],
    policyVersion: '7',
    policyLineageId: 'lineage-1',
    ...over,
  };
}

/** A clock whose time moves only when the test says so; due timers run in time order. */
export class ManualClock implements RefreshClock {
  private time = 1_000_000;
  private timers: Array<{ at: number; callback: () => void; cancelled: boolean }> = [];

  now(): number {
    return this.time;
  }

  setTimer(callback: () => void, delayMs: number) {
    const timer = { at: this.time + delayMs, callback, cancelled: false };
    this.timers.push(timer);
    return { cancel: () => void (timer.cancelled = true) };
  }

  /** Moves time forward, running each due timer at its own moment. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      const due = this.timers.filter((t) => !t.cancelled && t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      due.cancelled = true;
      this.time = Math.max(this.time, due.at);
      due.callback();
    }
    this.time = end;
    this.timers = this.timers.filter((t) => !t.cancelled);
  }

  pending(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }
}
