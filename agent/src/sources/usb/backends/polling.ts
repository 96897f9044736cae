import { CommandError } from '../../../facts/command-runner';
import type { UsbDevice } from '../../../generated/mamori/v1/common';
import type { BlockDevice } from '../../../generated/mamori/v1/events';
import type { AgentCapability } from '../../../generated/mamori/v1/telemetry';
import type { Logger } from '../../../logging/logger';
import { sleep } from '../../../transport/backoff';
import { judgeSerialQuality, type UsbObservation, type UsbObservationSink, type UsbSource } from '../usb.source';

/** One USB device of a snapshot, with the block devices of its storage (empty when it has none). */
export interface UsbSnapshotEntry {
  device: UsbDevice;
  blockDevices: BlockDevice[];
}

export interface PollingUsbOptions {
  /** "usb:win32", "usb:darwin". */
  name: string;
  /** How the platform is named in capability reasons ("Windows", "macOS"). */
  platformLabel: string;
  /**
   * Takes the whole current view of the bus. Rejects (CommandError or Error) when it cannot; a
   * partial view must never be returned, since a device missing from it would read as detached.
   */
  snapshot: () => Promise<UsbSnapshotEntry[]>;
  logger: Logger;
  /** Time between snapshots (default 3 s). */
  pollMs?: number;
  clock?: () => Date;
}

interface Tracked {
  device: UsbDevice;
  /** The block devices last reported (JSON), so 'storage' is sent only when they change. */
  storageKey: string;
}

/** Same attachment: same position (or Windows instance id) and same device identity. */
function trackingKey(device: UsbDevice): string {
  return `${device.busPath}|${device.vendorId}|${device.productId}|${device.serial}`;
}

/**
 * A USB backend for platforms where the agent learns about devices by asking a command
 * (PowerShell/CIM, system_profiler) rather than from kernel events: it takes a snapshot every
 * few seconds and reports the difference from the last view it reported.
 *
 * - The first snapshot's devices are reported as present at start.
 * - A device that changes in place (a card reader that gets a card and so becomes storage)
 *   is reported 'attached' again with its new description, so the policy judges it again.
 * - 'storage' follows a device's 'attached' whenever its block devices (set, file system,
 *   mount point) differ from those last reported.
 * - A snapshot that fails (command missing, timed out, unreadable output) is logged once per
 *   distinct problem, shown in capabilities() as usb.detect unavailable with the reason, and
 *   changes nothing: the last view is kept, so nothing is reported as detached because a
 *   command failed. A missing command at the first snapshot is also reported to the sink as
 *   unavailable (once); polling goes on, in case it is installed later.
 * - When the sink does not take the observations, the view is not advanced, so the next
 *   snapshot computes and offers the same changes again.
 *
 * Enforcement is not available on these platforms in this version; the capabilities say so.
 */
export class PollingUsbBackend implements UsbSource {
  readonly name: string;
  private readonly pollMs: number;
  private readonly clock: () => Date;
  private readonly view = new Map<string, Tracked>();
  private readonly abort = new AbortController();
  private loop: Promise<void> | null = null;
  private hadSnapshot = false;
  private problem: string | null = null;
  private unavailableReported = false;

  constructor(private readonly options: PollingUsbOptions) {
    this.name = options.name;
    this.pollMs = options.pollMs ?? 3_000;
    this.clock = options.clock ?? (() => new Date());
  }

  attached(): UsbDevice[] {
    return [...this.view.values()].map((t) => t.device);
  }

  capabilities(): AgentCapability[] {
    const reason = `audit-only on ${this.options.platformLabel} in this version`;
    return [
      { name: 'usb.detect', available: this.problem === null, reason: this.problem ?? '' },
      { name: 'usb.block', available: false, reason },
      { name: 'usb.read_only', available: false, reason },
    ];
  }

  async start(sink: UsbObservationSink): Promise<void> {
    this.loop = this.run(sink).catch((error) => {
      this.options.logger.error('USB polling stopped unexpectedly', { error: error as Error });
    });
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  private async run(sink: UsbObservationSink): Promise<void> {
    while (!this.abort.signal.aborted) {
      await this.pollOnce(sink);
      if (!(await sleep(this.pollMs, this.abort.signal))) return;
    }
  }

  /** One snapshot and its report. Never throws. */
  async pollOnce(sink: UsbObservationSink): Promise<void> {
    const log = this.options.logger;
    let entries: UsbSnapshotEntry[];
    try {
      entries = await this.options.snapshot();
    } catch (error) {
      const message = (error as Error).message;
      if (message !== this.problem) log.warn('USB snapshot failed; keeping the last view', { error: message, reason: error instanceof CommandError ? error.reason : 'unreadable' });
      this.problem = message;
      if (!this.hadSnapshot && !this.unavailableReported && error instanceof CommandError && error.reason === 'not-found') {
        this.unavailableReported = true;
        try {
          await sink.unavailable(`${message}; USB devices are not observed on this host until it is`);
        } catch (sinkError) {
          log.error('could not report the USB source as unavailable', { error: sinkError as Error });
        }
      }
      return;
    }
    if (this.problem !== null) log.info('USB snapshot works again', { after: this.problem });
    this.problem = null;

    const devices = judgeSerialQuality(entries.map((e) => e.device));
    const now = this.clock();
    const next = new Map<string, Tracked>();
    const observations: UsbObservation[] = [];
    const seen = new Set<string>();
    entries.forEach((entry, i) => {
      const device = devices[i]!;
      const key = trackingKey(device);
      if (seen.has(key)) return; // one attachment listed twice (should not happen): report it once
      seen.add(key);
      const before = this.view.get(key);
      const storageKey = entry.blockDevices.length > 0 ? JSON.stringify(entry.blockDevices) : '';
      if (before === undefined) {
        observations.push({ kind: 'attached', device, presentAtStart: !this.hadSnapshot, occurredAt: now });
      } else if (JSON.stringify(before.device.interfaceClasses) !== JSON.stringify(device.interfaceClasses)) {
        observations.push({ kind: 'attached', device, presentAtStart: false, occurredAt: now });
      }
      const changedStorage = storageKey !== '' && storageKey !== (before?.storageKey ?? '');
      if (changedStorage) observations.push({ kind: 'storage', device, blockDevices: entry.blockDevices, occurredAt: now });
      next.set(key, { device, storageKey });
    });
    for (const [key, tracked] of this.view) {
      if (!next.has(key)) observations.push({ kind: 'detached', device: tracked.device, occurredAt: now });
    }
    if (observations.length > 0) {
      try {
        await sink.accept(observations);
      } catch (error) {
        log.error('USB observations were not taken; they will be offered again', { error: error as Error, count: observations.length });
        return;
      }
    }
    if (!this.hadSnapshot) {
      try {
        await sink.presentAtStartReported?.();
      } catch (error) {
        log.error('the end of the devices present at start was not taken; the snapshot will be offered again', { error: error as Error });
        return;
      }
    }
    this.view.clear();
    for (const [key, tracked] of next) this.view.set(key, tracked);
    this.hadSnapshot = true;
  }
}
