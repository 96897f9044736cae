import { spawn, type ChildProcess } from 'node:child_process';
import { access, readdir, readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256 } from '../../../core/ids';
import { processCommandRunner, type CommandRunner } from '../../../facts/command-runner';
import { SerialQuality, type UsbDevice } from '../../../generated/mamori/v1/common';
import type { BlockDevice } from '../../../generated/mamori/v1/events';
import type { AgentCapability } from '../../../generated/mamori/v1/telemetry';
import type { Logger } from '../../../logging/logger';
import { Backoff, sleep } from '../../../transport/backoff';
import { BlockDeviceLinker } from '../../storage/block-devices';
import { interfaceClassesOf, isInterfaceOf, isUsbDeviceName, parseUsbDescriptors, sysfsDecimal, sysfsHex, sysfsText } from '../parsers/sysfs-usb.parser';
import { devpathName, UdevadmMonitorParser, type MonitorEvent } from '../parsers/udevadm-monitor.parser';
import { judgeSerialQuality, USB_CLASS_MASS_STORAGE, type UsbObservation, type UsbObservationSink, type UsbSource } from '../usb.source';

export interface LinuxUsbOptions {
  logger: Logger;
  /** Where sysfs is mounted; tests point it at a fake tree. */
  sysRoot?: string;
  /** Where device nodes live (block devices are read for their signatures). */
  devRoot?: string;
  mountinfoPath?: string;
  /** The uevent monitor to spawn; a test substitutes a script that prints captured output. */
  monitorCommand?: { file: string; args: string[] };
  runner?: CommandRunner;
  /** Rescan period when live monitoring is unavailable, and mount-table check period for attached storage. */
  pollMs?: number;
  clock?: () => Date;
}

const DEFAULT_MONITOR = { file: 'udevadm', args: ['monitor', '--kernel', '--subsystem-match=usb', '--subsystem-match=block', '--property'] };

interface Tracked {
  device: UsbDevice;
  /** Resolved sysfs folder, to link block devices. */
  sysPath: string;
  /** The last block devices reported (JSON), to report only changes. */
  storageKey: string;
}

/**
 * The Linux USB backend: the kernel's own view. At start it scans /sys/bus/usb/devices (device
 * entries, i.e. those with idVendor) and reports each as present at start; then it follows kernel
 * uevents from `udevadm monitor --kernel` (netlink; works without udevd) and on every usb device
 * add/remove re-reads sysfs for that device, so the report is what sysfs says, not what the event
 * line says. Block uevents and a periodic mount-table check re-link attached mass-storage devices
 * to their disks and partitions and report a 'storage' observation when that view changes.
 *
 * Degrades rather than fails: no /sys/bus/usb → `sink.unavailable` once, idle; udevadm missing or
 * exiting → a warning, live monitoring marked unavailable, and a sysfs rescan every pollMs
 * (default 2 s) while udevadm is retried with backoff.
 */
export class LinuxUsbBackend implements UsbSource {
  readonly name = 'usb:linux';
  private readonly sysRoot: string;
  private readonly pollMs: number;
  private readonly clock: () => Date;
  private readonly linker: BlockDeviceLinker;
  private readonly tracked = new Map<string, Tracked>();
  private readonly abort = new AbortController();
  private unavailableReason: string | null = null;
  private monitorProblem: string | null = null;
  private child: ChildProcess | null = null;
  private queue: Promise<void> = Promise.resolve();
  private loops: Promise<void>[] = [];
  private sink: UsbObservationSink | null = null;

  constructor(private readonly options: LinuxUsbOptions) {
    this.sysRoot = options.sysRoot ?? '/sys';
    this.pollMs = options.pollMs ?? 2000;
    this.clock = options.clock ?? (() => new Date());
    this.linker = new BlockDeviceLinker({
      sysRoot: this.sysRoot,
      devRoot: options.devRoot ?? '/dev',
      mountinfoPath: options.mountinfoPath ?? '/proc/self/mountinfo',
      runner: options.runner ?? processCommandRunner,
    });
  }

  attached(): UsbDevice[] {
    return [...this.tracked.values()].map((t) => t.device);
  }

  capabilities(): AgentCapability[] {
    const detect: AgentCapability = this.unavailableReason
      ? { name: 'usb.detect', available: false, reason: this.unavailableReason }
      : { name: 'usb.detect', available: true, reason: '' };
    const live: AgentCapability = this.unavailableReason
      ? { name: 'usb.detect.live', available: false, reason: this.unavailableReason }
      : this.monitorProblem
        ? { name: 'usb.detect.live', available: false, reason: `${this.monitorProblem}; sysfs is rescanned every ${this.pollMs} ms instead` }
        : { name: 'usb.detect.live', available: true, reason: '' };
    return [detect, live];
  }

  async start(sink: UsbObservationSink): Promise<void> {
    this.sink = sink;
    const busDir = join(this.sysRoot, 'bus', 'usb');
    try {
      await access(busDir);
    } catch {
      this.unavailableReason = `no USB bus: ${busDir} does not exist (no USB controller on this host, or usbcore is not loaded)`;
      await sink.unavailable(this.unavailableReason);
      return;
    }
    await this.enqueue(() => this.rescan(true));
    this.startMonitor();
    this.loops.push(this.pollLoop());
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.child?.kill('SIGTERM');
    await Promise.all(this.loops);
    await this.queue;
  }

  /** Serialises all sysfs reconciliation, so observations leave in the order the kernel made them. */
  private enqueue(work: () => Promise<void>): Promise<void> {
    const next = this.queue.then(work).catch((error) => {
      this.options.logger.error('USB observation could not be handed over', { error: error as Error });
    });
    this.queue = next;
    return next;
  }

  private startMonitor(): void {
    const { file, args } = this.options.monitorCommand ?? DEFAULT_MONITOR;
    const parser = new UdevadmMonitorParser();
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let stderr = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      for (const event of parser.push(chunk)) this.onUevent(event);
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-2000);
    });
    child.on('spawn', () => {
      if (this.monitorProblem) this.options.logger.info('USB live monitoring resumed', { command: file });
      this.monitorProblem = null;
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      this.monitorProblem = error.code === 'ENOENT' ? `${file} is not installed, so kernel uevents are not followed live` : `${file} could not start: ${error.message}`;
    });
    child.on('close', (code, signal) => {
      for (const event of parser.end()) this.onUevent(event);
      if (this.abort.signal.aborted) return;
      if (!this.monitorProblem || !this.monitorProblem.includes('not installed')) {
        this.monitorProblem = `${file} exited (${signal ?? `code ${code}`})${stderr.trim() ? `: ${stderr.trim()}` : ''}`;
      }
      this.options.logger.warn('USB live monitoring unavailable; rescanning sysfs periodically', { reason: this.monitorProblem, pollMs: this.pollMs });
      this.loops.push(this.respawnLater());
    });
  }

  private readonly respawn = new Backoff(1000, 60_000);
  private async respawnLater(): Promise<void> {
    if (await sleep(this.respawn.next(), this.abort.signal)) this.startMonitor();
  }

  private onUevent(event: MonitorEvent): void {
    if (event.origin !== 'KERNEL') return; // udevd's re-broadcast of the same change
    const name = devpathName(event.devpath);
    if (event.subsystem === 'usb' && isUsbDeviceName(name) && (event.action === 'add' || event.action === 'remove')) {
      void this.enqueue(() => this.reconcile(name));
    } else if (event.subsystem === 'block') {
      // A disk or partition came, went or changed (media, partition table): re-link the USB device above it.
      const owner = [...this.tracked.entries()].find(([bus]) => event.devpath.split('/').includes(bus));
      if (owner) void this.enqueue(() => this.refreshStorage(owner[0]));
    }
  }

  /** Rescans when live monitoring is down; checks mount points of attached storage either way. */
  private async pollLoop(): Promise<void> {
    while (await sleep(this.pollMs, this.abort.signal)) {
      if (this.monitorProblem) await this.enqueue(() => this.rescan(false));
      else await this.enqueue(async () => {
        for (const bus of [...this.tracked.keys()]) await this.refreshStorage(bus);
      });
    }
  }

  /** Brings the tracked set in line with sysfs as a whole. */
  private async rescan(atStart: boolean): Promise<void> {
    const names = await this.deviceNames();
    const observations: UsbObservation[] = [];
    const present = new Map<string, { device: UsbDevice; sysPath: string }>();
    for (const name of names) {
      const read = await this.readDevice(name);
      if (read) present.set(name, read);
    }
    for (const [bus, t] of this.tracked) {
      if (!present.has(bus)) {
        this.tracked.delete(bus);
        observations.push({ kind: 'detached', device: t.device, occurredAt: this.clock() });
      }
    }
    const fresh = [...present.entries()].filter(([bus]) => !this.tracked.has(bus));
    for (const [bus, read] of fresh) this.tracked.set(bus, { ...read, storageKey: '' });
    this.rejudgeSerials();
    for (const [bus] of fresh) observations.push({ kind: 'attached', device: this.tracked.get(bus)!.device, presentAtStart: atStart, occurredAt: this.clock() });
    if (observations.length > 0) await this.sink!.accept(observations);
    if (atStart) await this.sink!.presentAtStartReported?.();
    for (const [bus] of fresh) await this.refreshStorage(bus);
  }

  /** One device after a uevent: sysfs decides whether it is there. */
  private async reconcile(bus: string): Promise<void> {
    const read = await this.readDevice(bus);
    const known = this.tracked.get(bus);
    if (read && !known) {
      this.tracked.set(bus, { ...read, storageKey: '' });
      this.rejudgeSerials();
      await this.sink!.accept([{ kind: 'attached', device: this.tracked.get(bus)!.device, presentAtStart: false, occurredAt: this.clock() }]);
      await this.refreshStorage(bus);
    } else if (!read && known) {
      this.tracked.delete(bus);
      await this.sink!.accept([{ kind: 'detached', device: known.device, occurredAt: this.clock() }]);
    }
  }

  /** Serial quality is a property of the whole attached set; a newcomer may make an earlier device DUPLICATED. */
  private rejudgeSerials(): void {
    const entries = [...this.tracked.values()];
    judgeSerialQuality(entries.map((t) => t.device)).forEach((device, i) => (entries[i]!.device = device));
  }

  private async refreshStorage(bus: string): Promise<void> {
    const t = this.tracked.get(bus);
    if (!t || !t.device.interfaceClasses.includes(USB_CLASS_MASS_STORAGE)) return;
    const blockDevices: BlockDevice[] = await this.linker.blockDevicesOf(t.sysPath);
    if (blockDevices.length === 0) {
      // Gone (deauthorized, media removed) or not there yet: report them again when they come back.
      t.storageKey = '';
      return;
    }
    const key = JSON.stringify(blockDevices);
    if (key === t.storageKey) return;
    await this.sink!.accept([{ kind: 'storage', device: t.device, blockDevices, occurredAt: this.clock() }]);
    t.storageKey = key;
  }

  private async deviceNames(): Promise<string[]> {
    try {
      return (await readdir(join(this.sysRoot, 'bus', 'usb', 'devices'))).filter(isUsbDeviceName).sort();
    } catch {
      return [];
    }
  }

  /** Reads one device from sysfs; null when it is not there (or not a device: no idVendor). */
  private async readDevice(bus: string): Promise<{ device: UsbDevice; sysPath: string } | null> {
    const dir = join(this.sysRoot, 'bus', 'usb', 'devices', bus);
    const text = async (file: string) => {
      try {
        return await readFile(join(dir, file), 'latin1');
      } catch {
        return null;
      }
    };
    const vendorId = sysfsHex((await text('idVendor')) ?? '');
    const productId = sysfsHex((await text('idProduct')) ?? '');
    if (vendorId === null || productId === null) return null;
    let sysPath: string;
    try {
      sysPath = await realpath(dir);
    } catch {
      return null;
    }
    let descriptors: Buffer | null = null;
    try {
      descriptors = await readFile(join(dir, 'descriptors'));
    } catch {
      descriptors = null;
    }
    const active = sysfsDecimal((await text('bConfigurationValue')) ?? '');
    let interfaceClasses = descriptors ? interfaceClassesOf(parseUsbDescriptors(descriptors), active) : [];
    if (interfaceClasses.length === 0 && active !== null) interfaceClasses = await this.interfaceClassesFromEntries(dir, bus, active);
    const utf8 = async (file: string) => {
      try {
        return sysfsText(await readFile(join(dir, file), 'utf8'));
      } catch {
        return '';
      }
    };
    return {
      sysPath,
      device: {
        vendorId,
        productId,
        serial: await utf8('serial'),
        manufacturer: await utf8('manufacturer'),
        product: await utf8('product'),
        interfaceClasses,
        busPath: bus,
        descriptorHash: descriptors ? sha256(descriptors).toString('hex') : '',
        serialQuality: SerialQuality.SERIAL_QUALITY_UNSPECIFIED,
      },
    };
  }

  /** The interface folders ("1-2:1.0") of the active configuration, when `descriptors` could not be read. */
  private async interfaceClassesFromEntries(dir: string, bus: string, active: number): Promise<number[]> {
    let entries: string[];
    try {
      entries = await readdir(dir);
    } catch {
      return [];
    }
    const classes: Array<[number, number]> = [];
    for (const entry of entries.filter((e) => isInterfaceOf(bus, active, e))) {
      try {
        const cls = sysfsHex(await readFile(join(dir, entry, 'bInterfaceClass'), 'latin1'));
        if (cls !== null) classes.push([Number(entry.split('.').pop()), cls]);
      } catch {
        continue;
      }
    }
    return classes.sort((a, b) => a[0] - b[0]).map(([, cls]) => cls);
  }
}
