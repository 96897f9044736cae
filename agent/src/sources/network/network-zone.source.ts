import { normalizeHostNameOrNull } from '../../core/destinations/host-name';
import type { HostNetworkView } from '../../core/destinations/zone-classifier';
import type { Logger } from '../../logging/logger';

/** One reading of the host's network: the view and what could not be read. */
export interface NetworkViewReading {
  view: HostNetworkView;
  /** Problems reading (a file that cannot be read or parsed); the view then holds what could be read. */
  problems: string[];
}

/**
 * A backend reads the host's own addresses and DNS suffixes: `os` from the operating system,
 * `fake` from a JSON file. `read()` never throws. `watch`, when the backend has one, calls back
 * when its input may have changed, so the source re-reads at once instead of at the next poll.
 */
export interface NetworkViewBackend {
  /** "network:os" or "network:fake". */
  readonly name: string;
  read(): Promise<NetworkViewReading>;
  watch?(changed: () => void): () => void;
}

export const DEFAULT_NETWORK_POLL_MS = 10_000;

export interface NetworkZoneSourceOptions {
  backend: NetworkViewBackend;
  /** How often the backend is read again (default 10 s). */
  pollIntervalMs?: number;
  logger?: Logger;
}

/**
 * The canonical form of a view, so that two readings compare equal exactly when they would
 * classify the same way: addresses as given (trimmed), suffixes normalized like host names
 * (lower case, no trailing dot, punycode) with unusable ones dropped, both sorted and unique.
 */
export function canonicalView(view: HostNetworkView): HostNetworkView {
  const addresses = [...new Set(view.addresses.map((address) => address.trim()).filter((address) => address !== ''))].sort();
  const suffixes = new Set<string>();
  for (const raw of view.dnsSuffixes) {
    const suffix = normalizeHostNameOrNull(raw.trim().replace(/^\./, ''));
    if (suffix !== null) suffixes.add(suffix);
  }
  return { addresses, dnsSuffixes: [...suffixes].sort() };
}

export function sameView(a: HostNetworkView, b: HostNetworkView): boolean {
  return a.addresses.length === b.addresses.length && a.dnsSuffixes.length === b.dnsSuffixes.length && a.addresses.every((x, i) => x === b.addresses[i]) && a.dnsSuffixes.every((x, i) => x === b.dnsSuffixes[i]);
}

/**
 * The zone-detection input: what networks the host is on now (its interface addresses without
 * loopback, and its DNS domain and search domains), kept current by reading the backend every
 * poll interval and whenever the backend's watch says its input changed.
 *
 * Polling is the portable way: Node has no address-change event (that takes netlink on Linux,
 * NotifyIpInterfaceChange on Windows or SCNetworkReachability on macOS, each a native addon or a
 * long-lived helper process), and one reading is a getifaddrs() call plus one small file read,
 * well under a millisecond, while a host changes networks rarely. A zone change is thus noticed
 * within one interval (10 s by default).
 *
 * Contract: call start() once; until then current() is the empty view (the host in no zone).
 * onChange listeners run after the view changed, with the new view; a listener that throws is
 * logged and the others still run. close() stops polling and watching.
 */
export class NetworkZoneSource {
  readonly name: string;
  private view: HostNetworkView = { addresses: [], dnsSuffixes: [] };
  private lastProblems: string[] = [];
  private readonly listeners = new Set<(view: HostNetworkView) => void>();
  private readonly pollIntervalMs: number;
  private timer: NodeJS.Timeout | null = null;
  private unwatch: (() => void) | null = null;
  private reading: Promise<boolean> | null = null;
  private again = false;
  private closed = false;

  constructor(private readonly options: NetworkZoneSourceOptions) {
    this.name = options.backend.name;
    this.pollIntervalMs = options.pollIntervalMs ?? DEFAULT_NETWORK_POLL_MS;
  }

  /** Reads the network once, then keeps reading it; resolves with the first view. */
  async start(): Promise<HostNetworkView> {
    await this.refresh();
    if (this.closed) return this.view;
    this.timer = setInterval(() => void this.refresh(), this.pollIntervalMs);
    this.timer.unref();
    this.unwatch = this.options.backend.watch?.(() => void this.refresh()) ?? null;
    return this.view;
  }

  /** The newest view (canonical: sorted, suffixes normalized). */
  current(): HostNetworkView {
    return this.view;
  }

  /** What the newest reading could not read ([] when it was complete). */
  problems(): string[] {
    return this.lastProblems;
  }

  /** Calls `listener` after every change of the view; returns a function that unsubscribes. */
  onChange(listener: (view: HostNetworkView) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Reads the backend now; resolves true when the view changed (listeners have run by then). A
   * call during a reading makes one more reading after it, so a change is never missed.
   */
  refresh(): Promise<boolean> {
    if (this.reading !== null) {
      this.again = true;
      return this.reading;
    }
    this.reading = (async () => {
      let changed = false;
      do {
        this.again = false;
        changed = (await this.readOnce()) || changed;
      } while (this.again && !this.closed);
      this.reading = null;
      return changed;
    })();
    return this.reading;
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.unwatch?.();
    this.unwatch = null;
  }

  private async readOnce(): Promise<boolean> {
    const reading = await this.options.backend.read();
    if (this.closed) return false;
    const problemsText = reading.problems.join('\n');
    if (problemsText !== this.lastProblems.join('\n') && reading.problems.length > 0) {
      this.options.logger?.warn('network view incomplete', { source: this.name, problems: reading.problems });
    }
    this.lastProblems = reading.problems;
    const next = canonicalView(reading.view);
    if (sameView(next, this.view)) return false;
    const previous = this.view;
    this.view = next;
    this.options.logger?.info('network view changed', { source: this.name, addresses: next.addresses, dnsSuffixes: next.dnsSuffixes, previousAddresses: previous.addresses });
    for (const listener of this.listeners) {
      try {
        listener(next);
      } catch (error) {
        this.options.logger?.error('network change listener failed', { error: error as Error });
      }
    }
    return true;
  }
}
