import { getServers } from 'node:dns';
import { lookup } from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { parseResolvConf } from '../sources/network/parsers/resolv-conf';
import { compileWhitelist, type CompiledWhitelist, type DestinationQuery, type DestinationVerdict } from '../core/destinations/whitelist-matcher';
import { classifyZone } from '../core/destinations/zone-classifier';
import { destinationAccessEvent, type EventDraft } from '../core/event-factory';
import type { EgressAttempt, EgressEnforcer } from '../enforce/egress/egress-enforcer';
import { planMode } from '../enforce/egress/egress-plan';
import type { EgressProxy, ProxyAccess } from '../enforce/egress-proxy/egress-proxy';
import { TransportProtocol } from '../generated/mamori/v1/common';
import { DestinationDecision, DestinationObserver } from '../generated/mamori/v1/events';
import { ZoneEnforcementMode, type NetworkPolicy, type NetworkZone } from '../generated/mamori/v1/policy';
import type { AgentCapability } from '../generated/mamori/v1/telemetry';
import type { Logger } from '../logging/logger';
import type { NetworkZoneSource } from '../sources/network/network-zone.source';

/** The policy parts the guard needs, with the version they came in (for the events' policy_version). */
export interface NetworkGuardPolicy {
  network: NetworkPolicy | undefined;
  version: bigint;
  lineageId: string;
}

export interface NetworkGuardDeps {
  zoneSource: NetworkZoneSource;
  enforcer: EgressEnforcer;
  /** The local egress proxy, when configured (MAMORI_AGENT_EGRESS_PROXY); built by the caller with `decideForProxy`. */
  proxy: EgressProxy | null;
  /** The collector's "host:port": the firewall must always let the agent reach it, or the agent could never hear a policy that opens anything. */
  collectorAddress: string;
  /** The DNS servers the host uses, so that whitelisted names can still be resolved under enforcement. */
  dnsServers: () => Promise<string[]>;
  /** Takes an event into the outbox (durable before it resolves). */
  record: (draft: EventDraft) => Promise<void>;
  userName: () => string;
  logger: Logger;
  /** Resolves the collector's host name; tests give a fixed answer. */
  resolveHost?: (host: string) => Promise<string[]>;
  now?: () => Date;
}

/** What status.json and heartbeats say about the network. */
export interface NetworkGuardStatus {
  zone: string;
  mode: 'off' | 'audit' | 'enforce';
  enforcer: string;
  whitelistEntries: number;
  proxy: string;
  lastError: string;
}

/** A timer longer than this overflows in Node; an expiry further out is checked again then. */
const MAX_TIMER_MS = 2_147_000_000;

/**
 * Keeps the host's egress in line with the whitelist for the zone it is in (CONTROLS.md C2, C3).
 * It works out the zone from the host's addresses and DNS suffixes, compiles the whitelist for it,
 * and hands the firewall one plan whenever the policy, the zone or the set of unexpired entries
 * changes (an entry's expiry closes it on time even offline). Refused and audited attempts, and
 * every destination reached through the egress proxy, become DestinationAccess events. All
 * re-plans run one at a time, in order.
 */
export class NetworkGuard {
  private policy: NetworkGuardPolicy = { network: undefined, version: 0n, lineageId: '' };
  private zone: NetworkZone | null = null;
  private whitelist: CompiledWhitelist = compileWhitelist([], new Date());
  private queue: Promise<void> = Promise.resolve();
  private expiryTimer: NodeJS.Timeout | null = null;
  private lastError = '';
  private proxyListening = '';
  private stopped = false;

  constructor(private readonly deps: NetworkGuardDeps) {}

  async start(policy: NetworkGuardPolicy): Promise<void> {
    this.deps.enforcer.onAttempt((attempt) => void this.recordAttempt(attempt));
    this.deps.zoneSource.onChange(() => void this.replan('the host moved between networks'));
    await this.deps.zoneSource.start();
    await this.setPolicy(policy);
    if (this.deps.proxy !== null) {
      try {
        const { port } = await this.deps.proxy.start();
        this.proxyListening = `${this.deps.proxy.host}:${port}`;
        this.deps.logger.info('egress proxy listening', { address: this.proxyListening });
      } catch (error) {
        this.lastError = `egress proxy: ${(error as Error).message}`;
        this.deps.logger.error('could not start the egress proxy', { error: error as Error });
      }
    }
  }

  setPolicy(policy: NetworkGuardPolicy): Promise<void> {
    this.policy = policy;
    return this.replan(`policy version ${policy.version}`);
  }

  /** What the daemon lists among its sources: the zone source and the egress firewall backend. */
  sourceNames(): string[] {
    return [this.deps.zoneSource.name, `egress:${this.deps.enforcer.backend}`, ...(this.proxyListening !== '' ? [`egress-proxy:${this.proxyListening}`] : [])];
  }

  /** The zone the host is in now, empty when none matched. */
  zoneName(): string {
    return this.zone?.name ?? '';
  }

  status(): NetworkGuardStatus {
    return {
      zone: this.zoneName(),
      mode: this.mode(),
      enforcer: this.deps.enforcer.backend,
      whitelistEntries: this.whitelist.entryCount,
      proxy: this.proxyListening,
      lastError: this.lastError,
    };
  }

  capabilities(): AgentCapability[] {
    const firewall = this.deps.enforcer.capability();
    return [
      { name: 'network.enforce', available: firewall.available, reason: firewall.reason },
      {
        name: 'network.proxy',
        available: this.proxyListening !== '',
        reason: this.proxyListening !== '' ? '' : this.deps.proxy === null ? 'no egress proxy configured (MAMORI_AGENT_EGRESS_PROXY)' : this.lastError,
      },
    ];
  }

  /**
   * The verdict the egress proxy applies: outside a zone with a whitelist mode everything passes
   * (as "allowed" with no entry); inside one, the compiled whitelist decides, and the zone's mode
   * says whether a miss is refused or only reported.
   */
  decideForProxy(query: Omit<DestinationQuery, 'zone'>): DestinationVerdict & { zone: string; mode: ZoneEnforcementMode } {
    const zone = this.zoneName();
    const mode = this.zone?.mode ?? ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_OFF;
    if (mode !== ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_AUDIT && mode !== ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_ENFORCE) {
      return { allowed: true, entryId: '', zone, mode: ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_OFF };
    }
    return { ...this.whitelist.decide({ ...query, zone }), zone, mode };
  }

  /** Stops the proxy, then has the enforcer remove its table: a stopped agent leaves the host's egress as it found it. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.expiryTimer !== null) clearTimeout(this.expiryTimer);
    this.deps.zoneSource.close();
    await this.queue;
    await this.deps.proxy?.stop().catch((error: Error) => this.deps.logger.warn('could not stop the egress proxy', { error }));
    await this.deps.enforcer.close().catch((error: Error) => this.deps.logger.error('could not remove the egress firewall table', { error }));
  }

  /** Records a proxy access; the proxy calls it once per request or tunnel, when it ends. */
  recordProxyAccess(access: ProxyAccess): Promise<void> {
    const decision =
      access.decision === 'blocked'
        ? DestinationDecision.DESTINATION_DECISION_BLOCKED
        : access.decision === 'audited'
          ? DestinationDecision.DESTINATION_DECISION_AUDITED
          : DestinationDecision.DESTINATION_DECISION_ALLOWED;
    return this.deps.record(
      destinationAccessEvent({
        occurredAt: access.startedAt,
        userName: this.deps.userName(),
        access: {
          host: access.host,
          ipAddress: access.ip,
          port: access.port,
          protocol: TransportProtocol.TRANSPORT_PROTOCOL_TCP,
          decision,
          processName: '',
          zone: access.zone,
          bytesSent: String(access.bytesSent),
          bytesReceived: String(access.bytesReceived),
          observer: DestinationObserver.DESTINATION_OBSERVER_PROXY,
          whitelistEntryId: access.entryId,
          policyVersion: this.policy.version.toString(),
          policyLineageId: this.policy.lineageId,
          processId: 0,
          attempts: 1,
          sourceAddress: access.clientAddress,
        },
      }),
    ).catch((error: Error) => this.deps.logger.error('could not record a destination access', { error }));
  }

  private mode(): NetworkGuardStatus['mode'] {
    return planMode({ mode: this.zone?.mode ?? ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_OFF });
  }

  private recordAttempt(attempt: EgressAttempt): Promise<void> {
    return this.deps
      .record(
        destinationAccessEvent({
          occurredAt: attempt.firstSeenAt,
          userName: attempt.userName !== '' ? attempt.userName : this.deps.userName(),
          access: {
            host: attempt.host,
            ipAddress: attempt.ip,
            port: attempt.port,
            protocol: attempt.protocol,
            decision: attempt.decision === 'blocked' ? DestinationDecision.DESTINATION_DECISION_BLOCKED : DestinationDecision.DESTINATION_DECISION_AUDITED,
            processName: attempt.processName,
            zone: this.zoneName(),
            bytesSent: '0',
            bytesReceived: '0',
            observer: DestinationObserver.DESTINATION_OBSERVER_FIREWALL,
            whitelistEntryId: '',
            policyVersion: this.policy.version.toString(),
            policyLineageId: this.policy.lineageId,
            processId: attempt.processId,
            attempts: attempt.attempts,
            sourceAddress: attempt.sourceAddress,
          },
        }),
      )
      .catch((error: Error) => this.deps.logger.error('could not record a refused connection attempt', { error }));
  }

  private replan(why: string): Promise<void> {
    const next = this.queue.then(() => this.applyNow(why));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async applyNow(why: string): Promise<void> {
    if (this.stopped) return;
    const now = this.deps.now?.() ?? new Date();
    const network = this.policy.network;
    const zone = classifyZone(network?.zones ?? [], this.deps.zoneSource.current());
    if ((zone?.name ?? '') !== this.zoneName()) {
      this.deps.logger.info('network zone', { zone: zone?.name ?? '(none)', previous: this.zoneName() || '(none)', why });
    }
    this.zone = zone;
    this.whitelist = compileWhitelist(network?.whitelist ?? [], now);
    for (const skipped of this.whitelist.skipped) {
      this.deps.logger.warn('whitelist entry skipped', { entryId: skipped.entryId, field: skipped.field, problem: skipped.message });
    }
    this.scheduleExpiry(now);
    try {
      await this.deps.enforcer.apply({
        zone: this.zoneName(),
        mode: zone?.mode ?? ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_OFF,
        whitelist: this.whitelist,
        alwaysAllowed: await this.alwaysAllowed(),
        policyVersion: this.policy.version.toString(),
        policyLineageId: this.policy.lineageId,
      });
      this.lastError = '';
      this.deps.logger.info('egress plan applied', { zone: this.zoneName() || '(none)', mode: this.mode(), entries: this.whitelist.entryCount, enforcer: this.deps.enforcer.backend, why });
    } catch (error) {
      this.lastError = (error as Error).message;
      this.deps.logger.error('could not apply the egress plan; the previous one stays in force', { error: error as Error, why });
    }
  }

  /** Re-plans when the earliest entry expires, so the entry leaves the firewall at its time. */
  private scheduleExpiry(now: Date): void {
    if (this.expiryTimer !== null) clearTimeout(this.expiryTimer);
    this.expiryTimer = null;
    const next = this.whitelist.nextExpiry;
    if (next === null || this.stopped) return;
    const wait = Math.min(Math.max(next.getTime() - now.getTime(), 0) + 5, MAX_TIMER_MS);
    this.expiryTimer = setTimeout(() => void this.replan('a whitelist entry expired'), wait);
    this.expiryTimer.unref();
  }

  /** The collector (every address its name has) and the DNS servers on 53/udp and 53/tcp. */
  private async alwaysAllowed(): Promise<Array<{ ip: string; port: number; protocol: TransportProtocol }>> {
    const allowed: Array<{ ip: string; port: number; protocol: TransportProtocol }> = [];
    const { host, port } = splitHostPort(this.deps.collectorAddress);
    const resolve = this.deps.resolveHost ?? (async (name: string) => (await lookup(name, { all: true })).map((a) => a.address));
    try {
      const addresses = isIP(host) !== 0 ? [host] : await resolve(host);
      for (const ip of addresses) allowed.push({ ip, port, protocol: TransportProtocol.TRANSPORT_PROTOCOL_TCP });
    } catch (error) {
      this.deps.logger.warn('could not resolve the collector address for the egress firewall', { host, error: error as Error });
    }
    for (const ip of await this.deps.dnsServers().catch(() => [] as string[])) {
      allowed.push({ ip, port: 53, protocol: TransportProtocol.TRANSPORT_PROTOCOL_UDP }, { ip, port: 53, protocol: TransportProtocol.TRANSPORT_PROTOCOL_TCP });
    }
    return allowed;
  }
}

/** "host:port", "[v6]:port" or "v6-without-brackets" is not accepted: the enrollment stored one of the first two. */
function splitHostPort(address: string): { host: string; port: number } {
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(address);
  if (bracketed !== null) return { host: bracketed[1], port: Number(bracketed[2]) };
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at), port: Number(address.slice(at + 1)) };
}

/**
 * systemd-resolved's own upstream servers: with it, the host's resolv.conf names only the local
 * stub (127.0.0.53, on loopback, always allowed), while the queries that reach the network are
 * sent by resolved to these, and must not be refused.
 */
const SYSTEMD_RESOLVED_UPSTREAM = '/run/systemd/resolve/resolv.conf';

/** The DNS servers the host uses, as bare addresses: Node's own (on Linux, from resolv.conf) and systemd-resolved's upstream ones where present. */
export async function systemDnsServers(): Promise<string[]> {
  const servers = getServers().map((server) => {
    const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(server);
    if (bracketed !== null) return bracketed[1];
    return isIP(server) !== 0 ? server : server.replace(/:\d+$/, '');
  });
  const upstream = await readFile(SYSTEMD_RESOLVED_UPSTREAM, 'utf8').then(
    (text) => parseResolvConf(text).nameservers,
    () => [] as string[],
  );
  return [...new Set([...servers, ...upstream].map((server) => server.replace(/%.*$/, '')).filter((server) => isIP(server) !== 0))];
}
