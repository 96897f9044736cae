import { isAbsolute, normalize } from 'node:path';
import { fileTransferEvent, type EventDraft } from '../../core/event-factory';
import { isEncrypted } from '../../core/usb-policy';
import type { UsbDevice } from '../../generated/mamori/v1/common';
import { TransferChannel, type BlockDevice, type FileTransfer } from '../../generated/mamori/v1/events';
import type { TransferPolicy } from '../../generated/mamori/v1/policy';
import type { Logger } from '../../logging/logger';
import { CpuGovernor } from './cpu-governor';
import { InspectionQueue } from './inspection-queue';
import { RootWatcher, type WatchState, type WatchTarget } from './root-watcher';
import type { InspectFile, InspectionBudget } from './transfer-content';

export interface TransferSourceOptions {
  inspect: InspectFile;
  /** The inspector's own defaults, used where the policy's budgets are 0. */
  defaultBudget: InspectionBudget;
  /** Appends one event to the outbox; rejects when it was not taken. */
  record: (draft: EventDraft) => Promise<void>;
  /** The console or session user now (the daemon's choice from host facts). */
  userName: () => string;
  logger: Logger;
  /** CPU limit for the whole agent while inspecting, in percent of one core. */
  cpuPercent: number;
  /** Files hashed and inspected at the same time. */
  concurrency: number;
  /** Quiet-and-unchanged window after which a file counts as completely written. */
  settleMs: number;
  pairWindowMs?: number;
  maxPending?: number;
  maxQueued?: number;
  maxKnown?: number;
  /** How often missing watched folders are looked for again. */
  recheckMs?: number;
}

/** What `mamori-agent status` shows about one watched (or not watched) place. */
export interface TransferRootStatus {
  kind: 'volume' | 'folder';
  root: string;
  state: WatchState;
  /** Why it is not watched (missing folder, volume gone), or a watching problem; empty when fine. */
  problem: string;
  usbDevice: string;
  deviceNode: string;
  encrypted: boolean;
  since: string;
  pending: number;
  written: number;
  renamed: number;
  deleted: number;
  problems: number;
  /** Files found by reading a new folder again (chokidar had not reported them); see RootWatcher.newDirectory. */
  foundByRescan: number;
  watchErrors: number;
}

export interface TransferStatus {
  roots: TransferRootStatus[];
  queued: number;
  inspecting: number;
  completed: number;
  cpuLimitPercent: number;
  concurrency: number;
  /** Seconds the queue waited for the CPU limit since start. */
  throttledSeconds: number;
  /** What the agent can and cannot see of the writer, said once here rather than in every event. */
  processAttribution: string;
}

export const PROCESS_ATTRIBUTION_NOTE =
  'the writing process is not identified: on Linux that needs fanotify, which Node cannot use; events carry the session user instead';

interface Entry {
  watcher: RootWatcher;
  since: Date;
  busPath: string;
}

/**
 * The transfer source: which places are watched and the shared queue that inspects what is
 * written there. Removable volumes come from the USB source (a mounted data volume of a USB
 * mass-storage device is watched until it is unmounted or the device leaves); folders come from
 * the policy (Policy.transfer.watched_folders; a folder missing on this host is shown in status and
 * looked for again). Calls from the daemon never wait for a watcher to start or stop, so a burst
 * of files does not hold up the USB source.
 */
export class TransferSource {
  private readonly governor: CpuGovernor;
  private readonly queue: InspectionQueue;
  private readonly roots = new Map<string, Entry>();
  private policy: TransferPolicy | undefined;
  private recheck: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Starts and stops in progress, so that `stop` and tests can wait for them. */
  private readonly transitions = new Set<Promise<void>>();

  constructor(private readonly options: TransferSourceOptions) {
    this.governor = new CpuGovernor({ limitPercent: options.cpuPercent });
    this.queue = new InspectionQueue({
      concurrency: options.concurrency,
      maxQueued: options.maxQueued ?? 1_000,
      governor: this.governor,
      onError: (error) => options.logger.error('a transfer inspection failed unexpectedly', { error }),
    });
  }

  readonly name = 'transfers:chokidar';

  start(): void {
    this.recheck = setInterval(() => this.retryMissingFolders(), this.options.recheckMs ?? 30_000);
    this.recheck.unref();
  }

  /** The budget of each file's inspection: the policy's, or the inspector's defaults where it says 0. */
  budget(): InspectionBudget {
    const bytes = Number(this.policy?.inspectionByteBudget ?? '0');
    const millis = this.policy?.inspectionTimeBudgetMillis ?? 0;
    return {
      maxBytes: bytes > 0 ? bytes : this.options.defaultBudget.maxBytes,
      maxMillis: millis > 0 ? millis : this.options.defaultBudget.maxMillis,
    };
  }

  /** A new policy: watch the folders it names, stop watching the ones it no longer names. */
  setPolicy(policy: TransferPolicy | undefined): void {
    this.policy = policy;
    const wanted = new Map<string, WatchTarget>();
    for (const raw of policy?.watchedFolders ?? []) {
      const folder = raw.trim();
      if (folder === '') continue;
      const root = isAbsolute(folder) ? normalize(folder).replace(/(.)[\\/]+$/, '$1') : folder;
      wanted.set(`folder:${root}`, {
        key: `folder:${root}`,
        kind: 'folder',
        root,
        channel: TransferChannel.TRANSFER_CHANNEL_WATCHED_FOLDER,
        attachedEventId: '',
        deviceNode: '',
        encrypted: false,
      });
    }
    this.reconcile('folder', '', wanted);
  }

  /**
   * The USB source's newest view of a device's block devices: each mounted data volume is watched
   * at each of its mount points; a mount point no longer listed stops being watched.
   */
  usbStorage(device: UsbDevice, blockDevices: BlockDevice[], attachedEventId: string): void {
    const wanted = new Map<string, WatchTarget>();
    for (const volume of blockDevices) {
      for (const mountPoint of volume.mountPoints) {
        if (mountPoint === '') continue;
        const key = `volume:${device.busPath}:${mountPoint}`;
        wanted.set(key, {
          key,
          kind: 'volume',
          root: mountPoint,
          channel: TransferChannel.TRANSFER_CHANNEL_REMOVABLE_MEDIA,
          usbDevice: device,
          attachedEventId,
          deviceNode: volume.deviceNode,
          encrypted: isEncrypted(volume),
        });
      }
    }
    this.reconcile('volume', device.busPath, wanted, 'the volume was unmounted');
  }

  /** The device left the bus: its volumes are no longer watched (files mid-copy are reported with a problem). */
  usbDetached(busPath: string): void {
    this.reconcile('volume', busPath, new Map(), 'the device was removed');
  }

  private reconcile(kind: 'volume' | 'folder', busPath: string, wanted: Map<string, WatchTarget>, stopReason = 'the policy no longer names this folder'): void {
    if (this.stopped) return;
    for (const [key, entry] of this.roots) {
      if (entry.watcher.target.kind !== kind || entry.busPath !== busPath) continue;
      const next = wanted.get(key);
      // A volume that changed identity (another plug, encryption state, block device) is watched afresh;
      // one whose watcher stopped by itself (the mount went away first) stays stopped, shown in status.
      if (next !== undefined && sameTarget(next, entry.watcher.target)) {
        wanted.delete(key);
        continue;
      }
      this.roots.delete(key);
      this.transition(entry.watcher.stop(next === undefined ? stopReason : ''));
    }
    for (const target of wanted.values()) this.watch(target, busPath);
  }

  private watch(target: WatchTarget, busPath: string): void {
    const watcher = new RootWatcher(target, {
      queue: this.queue,
      inspect: this.options.inspect,
      budget: () => this.budget(),
      emit: (transfer, at) => this.emit(transfer, at),
      logger: this.options.logger.child({ component: 'transfers', root: target.root }),
      settleMs: this.options.settleMs,
      pairWindowMs: this.options.pairWindowMs ?? Math.max(500, this.options.settleMs),
      maxPending: this.options.maxPending ?? 100_000,
      maxKnown: this.options.maxKnown ?? 50_000,
    });
    this.roots.set(target.key, { watcher, since: new Date(), busPath });
    this.transition(
      watcher.start().then(() => {
        const log = this.options.logger;
        if (watcher.state === 'failed') log.warn('not watching for file transfers', { root: target.root, reason: watcher.problem });
        else if (watcher.state === 'watching') log.info('watching for file transfers', { root: target.root, kind: target.kind, deviceNode: target.deviceNode, encrypted: target.encrypted });
      }),
    );
  }

  private transition(work: Promise<void>): void {
    const tracked = work.catch((error: Error) => this.options.logger.error('a transfer watcher failed to start or stop', { error }));
    this.transitions.add(tracked);
    void tracked.finally(() => this.transitions.delete(tracked));
  }

  /** Watched folders that were missing or removed are tried again (a share mounted later, a folder created again). */
  private retryMissingFolders(): void {
    for (const [key, entry] of this.roots) {
      if (entry.watcher.target.kind !== 'folder' || (entry.watcher.state !== 'failed' && entry.watcher.state !== 'stopped')) continue;
      this.roots.delete(key);
      this.watch(entry.watcher.target, entry.busPath);
    }
  }

  private async emit(transfer: FileTransfer, occurredAt: Date): Promise<void> {
    const userName = this.options.userName();
    await this.options.record(fileTransferEvent({ transfer, occurredAt, userName }));
  }

  /** Resolves when watchers have started or stopped and no file is waiting or being inspected. */
  async settled(): Promise<void> {
    while (this.transitions.size > 0) await Promise.allSettled([...this.transitions]);
    await this.queue.idle();
  }

  status(): TransferStatus {
    return {
      roots: [...this.roots.values()].map(({ watcher, since }) => {
        const t = watcher.target;
        const d = t.usbDevice;
        return {
          kind: t.kind,
          root: t.root,
          state: watcher.state,
          problem: watcher.problem,
          usbDevice: d === undefined ? '' : `${d.vendorId.toString(16).padStart(4, '0')}:${d.productId.toString(16).padStart(4, '0')} ${d.serial}`.trim(),
          deviceNode: t.deviceNode,
          encrypted: t.encrypted,
          since: since.toISOString(),
          pending: watcher.pending,
          ...watcher.counts,
        };
      }),
      queued: this.queue.queued,
      inspecting: this.queue.active,
      completed: this.queue.completed,
      cpuLimitPercent: this.governor.limitPercent,
      concurrency: this.queue.concurrency,
      throttledSeconds: Math.round(this.governor.throttledMs / 100) / 10,
      processAttribution: PROCESS_ATTRIBUTION_NOTE,
    };
  }

  /** Stops every watcher (files mid-copy are reported) and waits for their events to be recorded. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    if (this.recheck !== null) clearInterval(this.recheck);
    const entries = [...this.roots.values()];
    this.roots.clear();
    for (const entry of entries) this.transition(entry.watcher.stop('the agent stopped'));
    this.stopped = true;
    while (this.transitions.size > 0) await Promise.allSettled([...this.transitions]);
    this.queue.close();
  }
}

function sameTarget(a: WatchTarget, b: WatchTarget): boolean {
  return (
    a.root === b.root &&
    a.deviceNode === b.deviceNode &&
    a.encrypted === b.encrypted &&
    a.attachedEventId === b.attachedEventId &&
    a.usbDevice?.serial === b.usbDevice?.serial
  );
}
