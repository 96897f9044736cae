import { promises as dns } from 'node:dns';
import type { Logger } from '../../logging/logger';
import { canonicalIp } from './allowed-elements';

/** One address of an answer with the time-to-live the DNS server gave it, in seconds. */
export interface AddressAnswer {
  address: string;
  ttl: number;
}

/**
 * The DNS port. Contract: resolves with the name's A (resolve4) or AAAA (resolve6) records and their
 * TTLs; resolves with [] when the server says definitely that there are none (NXDOMAIN, NODATA);
 * rejects on anything that is not an answer (timeout, SERVFAIL, refused), so that a DNS outage
 * never empties the firewall's allow set.
 */
export interface HostResolver {
  resolve4(name: string): Promise<AddressAnswer[]>;
  resolve6(name: string): Promise<AddressAnswer[]>;
}

const NO_SUCH_RECORDS = new Set(['ENODATA', 'ENOTFOUND', 'NODATA', 'NOTFOUND']);

/**
 * The real resolver: node's c-ares resolver, which asks DNS servers directly and returns TTLs (the
 * system's getaddrinfo hides them). It reads /etc/resolv.conf unless `servers` ("10.0.0.53" or
 * "127.0.0.1:5353") are given. Names that exist only in /etc/hosts are not found by it.
 */
export function dnsHostResolver(options: { servers?: string[]; timeoutMs?: number } = {}): HostResolver {
  const resolver = new dns.Resolver({ timeout: options.timeoutMs ?? 3_000, tries: 2 });
  if (options.servers !== undefined && options.servers.length > 0) resolver.setServers(options.servers);
  const answer = async (query: () => Promise<AddressAnswer[]>) => {
    try {
      return await query();
    } catch (error) {
      if (NO_SUCH_RECORDS.has((error as NodeJS.ErrnoException).code ?? '')) return [];
      throw error;
    }
  };
  return {
    resolve4: (name) => answer(() => resolver.resolve4(name, { ttl: true })),
    resolve6: (name) => answer(() => resolver.resolve6(name, { ttl: true })),
  };
}

/** Time and timers, so that tests can run hours of TTLs in milliseconds. */
export interface RefreshClock {
  now(): number;
  setTimer(callback: () => void, delayMs: number): { cancel(): void };
}

export const systemRefreshClock: RefreshClock = {
  now: () => Date.now(),
  setTimer(callback, delayMs) {
    const timer = setTimeout(callback, delayMs);
    timer.unref();
    return { cancel: () => clearTimeout(timer) };
  },
};

export interface DnsRefresherOptions {
  resolver: HostResolver;
  clock?: RefreshClock;
  /** A TTL below this is raised to it (a server answering TTL 0 must not make the agent query in a loop). */
  minTtlSeconds?: number;
  /** A TTL above this is lowered to it (a changed answer is picked up within this time). */
  maxTtlSeconds?: number;
  /** How long an address stays allowed after the last answer that named it could have expired in a client's cache. */
  graceSeconds?: number;
  /** When to ask again after an answer with no addresses. */
  negativeRetrySeconds?: number;
  /** When to ask again after a failure (timeout, SERVFAIL); the earlier addresses stay meanwhile. */
  failureRetrySeconds?: number;
  /** Called (synchronously, after the change) whenever the addresses of some name changed. */
  onChange: () => void;
  logger: Logger;
}

interface AddressRecord {
  /** Named by the latest answer for its family. */
  inAnswer: boolean;
  /** Until when the address stays allowed once answers stop naming it (ms since the epoch). */
  keepUntil: number;
}

interface NameState {
  records: Map<string, AddressRecord>;
  nextRefreshAt: number;
}

/**
 * Keeps the addresses of the whitelist's host names current, for the firewall's allow set. Each
 * name is resolved (A and AAAA) when it first appears, then again when the shortest TTL of its
 * answer runs out (clamped between the floor and the ceiling). An address that a new answer no
 * longer names stays allowed until the old answer's TTL has run out plus a grace period: a client
 * that resolved the name just before the change may still connect to it, and cutting it would
 * look like a random outage. It also answers which whitelisted names an address belongs to, for
 * the attempt reports.
 */
export class DnsRefresher {
  private readonly clock: RefreshClock;
  private readonly minTtlMs: number;
  private readonly maxTtlMs: number;
  private readonly graceMs: number;
  private readonly negativeRetryMs: number;
  private readonly failureRetryMs: number;
  private readonly names = new Map<string, NameState>();
  private timer: { cancel(): void } | null = null;
  private work: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly options: DnsRefresherOptions) {
    this.clock = options.clock ?? systemRefreshClock;
    this.minTtlMs = (options.minTtlSeconds ?? 5) * 1000;
    this.maxTtlMs = (options.maxTtlSeconds ?? 3600) * 1000;
    this.graceMs = (options.graceSeconds ?? 30) * 1000;
    this.negativeRetryMs = this.clamp((options.negativeRetrySeconds ?? 30) * 1000);
    this.failureRetryMs = this.clamp((options.failureRetrySeconds ?? 30) * 1000);
  }

  /**
   * Follows exactly these names from now on. New names are resolved before the returned promise
   * settles (so a plan applied right after already holds their addresses); names no longer listed
   * are forgotten at once, with their addresses.
   */
  setNames(names: readonly string[]): Promise<void> {
    return this.enqueue(async () => {
      const wanted = new Set(names);
      let changed = false;
      for (const name of [...this.names.keys()]) {
        if (!wanted.has(name)) {
          changed ||= this.names.get(name)!.records.size > 0;
          this.names.delete(name);
        }
      }
      const fresh = [...wanted].filter((name) => !this.names.has(name));
      for (const name of fresh) this.names.set(name, { records: new Map(), nextRefreshAt: 0 });
      const results = await Promise.all(fresh.map((name) => this.refresh(name)));
      if (changed || results.some(Boolean)) this.options.onChange();
    });
  }

  /** The addresses allowed for a name now: the latest answers plus those still in their grace period. Canonical text. */
  addresses(name: string): string[] {
    return [...(this.names.get(name)?.records.keys() ?? [])];
  }

  /** The followed names whose answers (current or in grace) include this address. */
  namesFor(ip: string): string[] {
    const address = canonicalIp(ip) ?? ip;
    return [...this.names.entries()].filter(([, state]) => state.records.has(address)).map(([name]) => name);
  }

  /** Every followed name. */
  followedNames(): string[] {
    return [...this.names.keys()];
  }

  /** Resolves when the refresher has nothing in flight (tests wait on it after moving the clock). */
  settled(): Promise<void> {
    return this.work;
  }

  close(): void {
    this.closed = true;
    this.timer?.cancel();
    this.timer = null;
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.work.then(async () => {
      if (this.closed) return;
      await task();
      this.schedule();
    });
    this.work = run.catch((error: unknown) => this.options.logger.warn('DNS refresh failed', { error }));
    return run;
  }

  /** Runs what is due: names whose TTL ran out, addresses whose grace ended. */
  private tick(): void {
    this.timer = null;
    void this.enqueue(async () => {
      const now = this.clock.now();
      const due = [...this.names.entries()].filter(([, state]) => state.nextRefreshAt <= now).map(([name]) => name);
      const refreshed = await Promise.all(due.map((name) => this.refresh(name)));
      const swept = this.sweep(this.clock.now());
      if (swept || refreshed.some(Boolean)) this.options.onChange();
    });
  }

  /** Asks for both families; returns whether the name's allowed addresses changed. */
  private async refresh(name: string): Promise<boolean> {
    const [v4, v6] = await Promise.allSettled([this.options.resolver.resolve4(name), this.options.resolver.resolve6(name)]);
    const state = this.names.get(name);
    if (state === undefined) return false; // forgotten while the query ran
    const now = this.clock.now();
    const before = [...state.records.keys()].sort().join(',');
    const ttls: number[] = [];
    let failed = false;
    for (const [family, result] of [[4, v4], [6, v6]] as const) {
      if (result.status === 'rejected') {
        failed = true;
        this.options.logger.warn('DNS query failed; keeping the earlier addresses', { name, family, error: result.reason });
        continue;
      }
      const named = new Set<string>();
      for (const answer of result.value) {
        const address = canonicalIp(answer.address);
        if (address === null || (address.includes(':') ? 6 : 4) !== family) continue;
        const ttlMs = this.clamp(answer.ttl * 1000);
        ttls.push(ttlMs);
        named.add(address);
        state.records.set(address, { inAnswer: true, keepUntil: now + ttlMs + this.graceMs });
      }
      for (const [address, record] of state.records) {
        if ((address.includes(':') ? 6 : 4) === family && !named.has(address)) record.inAnswer = false;
      }
    }
    this.sweep(now);
    state.nextRefreshAt = now + (ttls.length > 0 ? Math.min(...ttls) : failed ? this.failureRetryMs : this.negativeRetryMs);
    return [...state.records.keys()].sort().join(',') !== before;
  }

  /** Drops addresses no answer names any more once their grace ended; returns whether any went. */
  private sweep(now: number): boolean {
    let removed = false;
    for (const state of this.names.values()) {
      for (const [address, record] of state.records) {
        if (!record.inAnswer && record.keepUntil <= now) {
          state.records.delete(address);
          removed = true;
        }
      }
    }
    return removed;
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer?.cancel();
    this.timer = null;
    let next = Infinity;
    for (const state of this.names.values()) {
      next = Math.min(next, state.nextRefreshAt);
      for (const record of state.records.values()) if (!record.inAnswer) next = Math.min(next, record.keepUntil);
    }
    if (next === Infinity) return;
    this.timer = this.clock.setTimer(() => this.tick(), Math.max(0, next - this.clock.now()));
  }

  private clamp(ms: number): number {
    return Math.min(this.maxTtlMs, Math.max(this.minTtlMs, ms));
  }
}
