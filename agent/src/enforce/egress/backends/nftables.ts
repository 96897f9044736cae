import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { CommandError, type CommandRunner } from '../../../facts/command-runner';
import { TransportProtocol } from '../../../generated/mamori/v1/common';
import type { Logger } from '../../../logging/logger';
import { NO_ELEMENTS, canonicalIp, type AllowElements } from '../allowed-elements';
import { AttemptFolder, type ObservedAttempt } from '../attempt-folder';
import { DnsRefresher, dnsHostResolver, systemRefreshClock, type HostResolver, type RefreshClock } from '../dns-refresher';
import type { EgressAttempt, EgressCapability, EgressEnforcer, EgressPlan } from '../egress-enforcer';
import { planAllowedElements, planAlwaysAllowedElements, planDescription, planHostNames, planMode } from '../egress-plan';
import {
  EGRESS_TABLE,
  EGRESS_TABLE_FAMILY,
  EGRESS_TABLE_MARKER,
  EGRESS_TABLE_NAME,
  SENDERS_SET_4,
  SENDERS_SET_6,
  OBSERVE_CHAIN_AUDITED,
  OBSERVE_CHAIN_BLOCKED,
  renderAllowedDelta,
  renderEgressTable,
  renderTableRemoval,
} from '../nft-ruleset';
import { LineSplitter, NftTraceAssembler, type TracedAttempt } from '../parsers/nft-trace';
import { parseSendersSetJson, type SenderElement } from '../parsers/nft-senders-set';
import { ProcSocketOwnerLookup, UserNameCache } from '../socket-owner';

/** How to run nft: the program and the arguments before nft's own (tests: `ip netns exec <ns> nft`). */
export interface NftInvocation {
  file: string;
  prefixArgs: string[];
}

export interface NftablesEgressOptions {
  runner: CommandRunner;
  logger: Logger;
  nft?: NftInvocation;
  /** Starts the long-running `nft monitor trace`; tests may wrap it. Defaults to child_process.spawn. */
  spawnMonitor?: (file: string, args: string[]) => ChildProcess;
  resolver?: HostResolver;
  clock?: RefreshClock;
  /** DNS following: TTL floor and ceiling, and how long a dropped address stays allowed. */
  dns?: { minTtlSeconds?: number; maxTtlSeconds?: number; graceSeconds?: number };
  foldWindowMs?: number;
  procRoot?: string;
  platform?: NodeJS.Platform;
  isRoot?: () => boolean;
  /** Where the nft scripts are written before `nft -f` reads them (a private folder is made inside). */
  scriptDir?: string;
}

const NFT_TIMEOUT_MS = 20_000;
const MONITOR_RESTART_MIN_MS = 500;
const MONITOR_RESTART_MAX_MS = 30_000;

/**
 * The Linux backend: one nftables table of the agent's own (`inet mamori_egress`, see
 * nft-ruleset.ts), written in one transaction per plan; the whitelist's host names followed by a
 * DNS refresher, whose changed answers are added to and deleted from the allow sets (again in one
 * transaction);
 * refused and audited attempts read from `nft monitor trace`, with the socket's uid from the
 * table's senders sets and the process from /proc where it can still be found.
 */
export class NftablesEgressEnforcer implements EgressEnforcer {
  readonly backend = 'nftables';
  private readonly nft: NftInvocation;
  private readonly refresher: DnsRefresher;
  private readonly folder: AttemptFolder;
  private readonly owners: ProcSocketOwnerLookup;
  private readonly users: UserNameCache;
  private readonly listeners: Array<(attempt: EgressAttempt) => void> = [];
  private readonly assembler = new NftTraceAssembler({ family: EGRESS_TABLE_FAMILY, name: EGRESS_TABLE_NAME }, [OBSERVE_CHAIN_BLOCKED, OBSERVE_CHAIN_AUDITED]);
  private queue: Promise<void> = Promise.resolve();
  private current: EgressPlan | null = null;
  /** The allow elements in the kernel now (as the last apply or delta left them). */
  private installed: AllowElements = NO_ELEMENTS;
  private applying = false;
  private ownershipChecked = false;
  private closed = false;
  private monitor: ChildProcess | null = null;
  private monitorRestartMs = MONITOR_RESTART_MIN_MS;
  private monitorRestartTimer: { cancel(): void } | null = null;
  private pendingTraces: TracedAttempt[] = [];
  private enrichScheduled = false;
  private readonly clock: RefreshClock;

  constructor(private readonly options: NftablesEgressOptions) {
    this.nft = options.nft ?? { file: 'nft', prefixArgs: [] };
    this.clock = options.clock ?? systemRefreshClock;
    this.refresher = new DnsRefresher({
      resolver: options.resolver ?? dnsHostResolver(),
      clock: this.clock,
      ...options.dns,
      logger: options.logger.child({ component: 'egress:dns' }),
      onChange: () => this.addressesChanged(),
    });
    this.folder = new AttemptFolder((attempt) => this.deliver(attempt), options.foldWindowMs ?? 10_000, this.clock);
    this.owners = new ProcSocketOwnerLookup(options.procRoot ?? '/proc');
    this.users = new UserNameCache(options.runner);
  }

  capability(): EgressCapability {
    const platform = this.options.platform ?? process.platform;
    if (platform !== 'linux') return { available: false, reason: `nftables exists only on Linux; this host runs ${platform}` };
    const isRoot = this.options.isRoot ?? (() => process.getuid?.() === 0);
    if (!isRoot()) return { available: false, reason: `not running as root (uid ${process.getuid?.() ?? '?'}); programming nftables needs root` };
    if (!commandExists(this.nft.file)) return { available: false, reason: `${this.nft.file} is not installed (Debian package nftables)` };
    return { available: true, reason: 'nftables table inet mamori_egress' };
  }

  apply(plan: EgressPlan): Promise<void> {
    return this.serially(async () => {
      if (this.closed) throw new Error('the egress enforcer is closed');
      const capability = this.capability();
      const mode = planMode(plan);
      if (mode === 'off') {
        // Nothing to install; where nftables cannot be used, nothing was installed either.
        await this.refresher.setNames([]);
        if (capability.available) await this.removeTable();
        this.current = null;
        this.installed = NO_ELEMENTS;
        await this.stopMonitor();
        return;
      }
      if (!capability.available) throw new Error(capability.reason);
      await this.checkOwnership();
      this.applying = true;
      try {
        await this.refresher.setNames(planHostNames(plan));
      } finally {
        this.applying = false;
      }
      await this.writeTable(plan);
      this.startMonitor();
    });
  }

  remove(): Promise<void> {
    return this.serially(async () => {
      await this.removeTable();
      this.current = null;
      this.installed = NO_ELEMENTS;
      await this.stopMonitor();
    });
  }

  onAttempt(listener: (attempt: EgressAttempt) => void): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.refresher.close();
    await this.stopMonitor();
    await this.flushTraces();
    this.folder.flush();
    await this.serially(async () => {
      if (this.capability().available) await this.removeTable();
      this.current = null;
    });
  }

  private async stopMonitor(): Promise<void> {
    this.monitorRestartTimer?.cancel();
    this.monitorRestartTimer = null;
    const monitor = this.monitor;
    this.monitor = null;
    if (monitor !== null && monitor.exitCode === null && monitor.signalCode === null) {
      // A monitor that never started (spawn error) may never say 'exit': wait a bounded time.
      const exited = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2_000);
        monitor.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      monitor.kill('SIGTERM');
      await exited;
    }
  }

  /** Runs work one at a time: an apply, a DNS-driven set change and a removal never interleave. */
  private serially(task: () => Promise<void>): Promise<void> {
    const run = this.queue.then(task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Before the agent first writes its table, a table of that name without the agent's marker
   * belongs to someone else: replacing it would silently destroy another program's rules, so the
   * apply fails instead and says so. A table with the marker is the agent's own, left behind by an
   * agent that was killed (-9) before it could remove it; the apply replaces it in one transaction.
   */
  private async checkOwnership(): Promise<void> {
    if (this.ownershipChecked) return;
    const owner = await this.tableOwner();
    if (owner === 'other') {
      throw new Error(`a table "${EGRESS_TABLE}" that the agent did not write exists; refusing to replace another program's rules (delete or rename it)`);
    }
    if (owner === 'agent') this.options.logger.info('replacing the egress table an earlier agent run left behind');
    this.ownershipChecked = true;
  }

  /** Whose table of the agent's name is there now, if any. */
  private async tableOwner(): Promise<'none' | 'agent' | 'other'> {
    try {
      const listing = (await this.nftRun(['list', 'table', EGRESS_TABLE_FAMILY, EGRESS_TABLE_NAME])).stdout;
      return listing.includes(`comment "${EGRESS_TABLE_MARKER}`) ? 'agent' : 'other';
    } catch (error) {
      if (error instanceof CommandError && error.reason === 'failed' && /No such file or directory/i.test(error.stderr)) return 'none';
      throw error;
    }
  }

  /** Deletes the table only when it is the agent's: a same-named table of another program stays, with a warning. */
  private async removeTable(): Promise<void> {
    const owner = await this.tableOwner();
    if (owner === 'none') return;
    if (owner === 'other') {
      this.options.logger.warn(`leaving the table "${EGRESS_TABLE}" alone: the agent did not write it`);
      return;
    }
    await this.runScript(renderTableRemoval().join('\n') + '\n');
    // Whatever appears under the name from now on is checked again before the next write.
    this.ownershipChecked = false;
  }

  /** Replaces the whole table for a plan (one transaction) with the current DNS answers. */
  private async writeTable(plan: EgressPlan): Promise<void> {
    const mode = planMode(plan);
    if (mode === 'off') throw new Error('a plan with mode off has no table');
    const allowed = planAllowedElements(plan, (name) => this.refresher.addresses(name));
    await this.runScript(renderEgressTable({ mode, allowed, alwaysAllowed: planAlwaysAllowedElements(plan), description: planDescription(plan) }));
    this.current = plan;
    this.installed = allowed;
  }

  /**
   * A DNS answer changed: add and delete just the elements that changed, in one transaction, unless
   * an apply is about to write them all anyway. When the delta fails (the kernel's set is not what
   * the agent wrote, say an operator edited it), the whole table is written again.
   */
  private addressesChanged(): void {
    if (this.applying || this.closed) return;
    void this.serially(async () => {
      const plan = this.current;
      if (plan === null || this.closed) return;
      const wanted = planAllowedElements(plan, (name) => this.refresher.addresses(name));
      const delta = renderAllowedDelta(this.installed, wanted);
      if (delta === null) return;
      try {
        await this.runScript(delta);
        this.installed = wanted;
      } catch (error) {
        this.options.logger.warn('the allow-set delta failed; writing the whole egress table again', { error });
        await this.writeTable(plan);
      }
      this.options.logger.info('egress allow sets follow new DNS answers', { names: this.refresher.followedNames().length });
    }).catch((error: unknown) => this.options.logger.warn('could not update the egress allow sets after a DNS change', { error }));
  }

  /** `nft -f <file>`: one transaction; the script goes through a private file because CommandRunner has no stdin. */
  private async runScript(script: string): Promise<void> {
    const dir = await mkdtemp(join(this.options.scriptDir ?? tmpdir(), 'mamori-nft-'));
    try {
      const file = join(dir, 'egress.nft');
      await writeFile(file, script, { mode: 0o600 });
      await this.nftRun(['-f', file]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  private nftRun(args: string[]) {
    return this.options.runner.run(this.nft.file, [...this.nft.prefixArgs, ...args], { timeoutMs: NFT_TIMEOUT_MS });
  }

  private startMonitor(): void {
    if (this.monitor !== null || this.closed || this.monitorRestartTimer !== null) return;
    const spawnMonitor = this.options.spawnMonitor ?? ((file, args) => spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    const child = spawnMonitor(this.nft.file, [...this.nft.prefixArgs, 'monitor', 'trace']);
    this.monitor = child;
    const lines = new LineSplitter();
    let stderr = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      this.monitorRestartMs = MONITOR_RESTART_MIN_MS;
      for (const line of lines.push(chunk)) {
        const traced = this.assembler.push(line);
        if (traced !== null) this.traced(traced);
      }
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-2000);
    });
    child.on('error', (error) => this.options.logger.warn('nft monitor trace could not start', { error }));
    child.on('close', (code, signal) => {
      if (this.monitor !== child) return;
      this.monitor = null;
      if (this.closed) return;
      // The monitor ends when netlink drops events under load (ENOBUFS) or nft dies: start it again, backing off.
      this.options.logger.warn('nft monitor trace ended; restarting', { code, signal, stderr: stderr.trim(), inMs: this.monitorRestartMs });
      this.monitorRestartTimer = this.clock.setTimer(() => {
        this.monitorRestartTimer = null;
        if (this.current !== null) this.startMonitor();
      }, this.monitorRestartMs);
      this.monitorRestartMs = Math.min(MONITOR_RESTART_MAX_MS, this.monitorRestartMs * 2);
    });
  }

  /** Traced packets are enriched in batches: one read of the senders sets serves every packet traced meanwhile. */
  private traced(traced: TracedAttempt): void {
    this.pendingTraces.push(traced);
    if (this.enrichScheduled) return;
    this.enrichScheduled = true;
    setImmediate(() => {
      this.enrichScheduled = false;
      void this.flushTraces();
    });
  }

  private async flushTraces(): Promise<void> {
    const batch = this.pendingTraces.splice(0);
    if (batch.length === 0) return;
    const senders = await this.readSenders(batch);
    for (const traced of batch) {
      try {
        this.folder.add(await this.describe(traced, senders));
      } catch (error) {
        this.options.logger.warn('could not describe a traced egress attempt', { error });
      }
    }
  }

  private async readSenders(batch: readonly TracedAttempt[]): Promise<Map<string, number>> {
    const uids = new Map<string, number>();
    const families = new Set(batch.filter((t) => t.packet.sourcePort !== null).map((t) => t.packet.family));
    for (const [family, set] of [[4, SENDERS_SET_4], [6, SENDERS_SET_6]] as const) {
      if (!families.has(family)) continue;
      let elements: SenderElement[] = [];
      try {
        elements = parseSendersSetJson((await this.nftRun(['-j', 'list', 'set', EGRESS_TABLE_FAMILY, EGRESS_TABLE_NAME, set])).stdout);
      } catch (error) {
        this.options.logger.debug('could not read the senders set', { set, error });
      }
      for (const element of elements) uids.set(senderKey(element.destinationAddress, element.protocol, element.sourcePort, element.destinationPort), element.uid);
    }
    return uids;
  }

  private async describe(traced: TracedAttempt, senders: Map<string, number>): Promise<ObservedAttempt> {
    const packet = traced.packet;
    const ip = canonicalIp(packet.destinationAddress) ?? packet.destinationAddress;
    const protocol = packet.protocol === 'tcp' ? TransportProtocol.TRANSPORT_PROTOCOL_TCP : packet.protocol === 'udp' ? TransportProtocol.TRANSPORT_PROTOCOL_UDP : TransportProtocol.TRANSPORT_PROTOCOL_UNSPECIFIED;
    const port = packet.destinationPort ?? 0;
    let uid: number | null = null;
    let owner: { pid: number; name: string } | null = null;
    if ((packet.protocol === 'tcp' || packet.protocol === 'udp') && packet.sourcePort !== null) {
      uid = senders.get(senderKey(ip, packet.protocol, packet.sourcePort, port)) ?? null;
      const lookupStarted = this.clock.now();
      owner = await this.owners.find({ uid, protocol: packet.protocol, localPort: packet.sourcePort, remotePort: port }).catch(() => null);
      this.options.logger.debug('egress attempt owner lookup', { ip, port, sourcePort: packet.sourcePort, uid, owner, ms: this.clock.now() - lookupStarted });
    }
    return {
      ip,
      port,
      protocol,
      host: this.refresher.namesFor(ip)[0] ?? '',
      decision: traced.chain === OBSERVE_CHAIN_BLOCKED ? 'blocked' : 'audited',
      processName: owner?.name ?? '',
      processId: owner?.pid ?? 0,
      userName: uid === null ? '' : await this.users.nameOf(uid),
      firstSeenAt: new Date(this.clock.now()),
      sourceAddress: canonicalIp(packet.sourceAddress) ?? packet.sourceAddress,
    };
  }

  private deliver(attempt: EgressAttempt): void {
    for (const listener of this.listeners) {
      try {
        listener(attempt);
      } catch (error) {
        this.options.logger.warn('an egress attempt listener failed', { error });
      }
    }
  }
}

function senderKey(ip: string, protocol: string, sourcePort: number, destinationPort: number): string {
  return `${canonicalIp(ip) ?? ip}|${protocol}|${sourcePort}|${destinationPort}`;
}

/** Whether a program is on PATH (or, for a path, exists); /usr/sbin and /sbin count, since nft lives there and a service's PATH may lack them. */
export function commandExists(file: string): boolean {
  if (file.includes('/')) return existsSync(file);
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin'].filter((dir) => dir !== '');
  return dirs.some((dir) => existsSync(join(dir, file)));
}
