import { mkdir, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { UsbEnforcementAction, type UsbEnforcementDecision } from '../generated/mamori/v1/events';
import { UsbEnforcementMode, type UsbPolicy } from '../generated/mamori/v1/policy';
import type { UsbDevice } from '../generated/mamori/v1/common';
import type { AgentCapability } from '../generated/mamori/v1/telemetry';
import { CommandError, type CommandRunner } from '../facts/command-runner';
import type { Logger } from '../logging/logger';
import { interfaceClassesOf, parseUsbDescriptors } from '../sources/usb/parsers/sysfs-usb.parser';
import {
  CAPABILITY_BLOCK,
  CAPABILITY_READ_ONLY,
  decision,
  isEnforcingMode,
  modeName,
  needsBlockAtBirth,
  noActionDecision,
  notPossibleDecision,
  type UsbEnforcementRequest,
  type UsbEnforcer,
  type UsbStorageEnforcementRequest,
} from './usb-enforcer';

/** The file operations the enforcer does on sysfs; tests hand in one that fails like the kernel. */
export interface SysfsIo {
  read(path: string): Promise<string>;
  write(path: string, value: string): Promise<void>;
  list(dir: string): Promise<string[]>;
}

export const nodeSysfsIo: SysfsIo = {
  read: (path) => readFile(path, 'latin1'),
  // sysfs attributes take one write() of the value; no temp file, no rename.
  write: (path, value) => writeFile(path, value),
  list: (dir) => readdir(dir),
};

export interface LinuxUsbEnforcerOptions {
  /** Where sysfs is mounted (tests point it at a fake tree). Default /sys. */
  sysfsRoot?: string;
  runner: CommandRunner;
  logger: Logger;
  /**
   * Where the root hubs' previous authorized_default values are kept while blocking at birth is
   * armed, so that an agent that crashed restores the real previous values at its next start
   * instead of the zeros it wrote itself.
   */
  statePath: string;
  /**
   * Where the block devices and mounts this agent made read-only are kept (per device), so that
   * leaving read-only undoes exactly that, after a restart too. Default: usb-read-only.json beside statePath.
   */
  readOnlyStatePath?: string;
  io?: SysfsIo;
  isRoot?: () => boolean;
  commandTimeoutMs?: number;
}

/** Errors that mean "this process may not do that here", as opposed to a device that went away. */
const PRIVILEGE_ERRORS = new Set(['EACCES', 'EPERM', 'EROFS']);
const ROOT_HUB = /^usb\d+$/;
const BUS_PATH = /^(usb\d+|\d+-\d+(\.\d+)*)$/;
const DEVICE_NODE = /^\/dev\/[A-Za-z0-9_][A-Za-z0-9_./-]*$/;

/** What this enforcer made read-only on one device: undone, and only that, when read-only ends. */
interface ReadOnlyRecord {
  /** vendor:product:serial, so that another stick on the same port is never taken for this one. */
  device: string;
  /** Block devices that were writable and got `blockdev --setro`. */
  nodes: string[];
  /** Mount points that were remounted read-only. */
  mounts: string[];
}

function identityOf(device: UsbDevice): string {
  return `${device.vendorId}:${device.productId}:${device.serial}`;
}

/**
 * Linux enforcement through the kernel's USB authorization (the mechanism USBGuard uses) and
 * block-device read-only flags.
 *
 * Blocking at birth: while the policy can block or make a stick read-only, every root hub's
 * `authorized_default` is 0, so new devices arrive unauthorized (no configuration, no driver,
 * no disk) and nothing can race the agent's decision. The agent then writes `authorized=1` for
 * what the verdict lets through (non-storage devices at once, sticks after matching) and leaves
 * blocked ones at 0 (or writes 0 when one is already authorized). The previous defaults are
 * restored when the policy no longer needs it and at stop.
 *
 * Read-only: `blockdev --setro` on the whole disk and each partition, then `mount -o remount,ro`
 * for each mount point. What was changed is remembered per device (on disk too), and a later
 * verdict that allows writing undoes it: `blockdev --setrw` and `mount -o remount,rw`.
 *
 * A root hub that arrives while blocking at birth is armed (a hot-plugged controller or dock)
 * is armed when its attach is enforced, with its own previous default saved for the restore.
 *
 * Every host change goes through one queue, so arming, disarming and decisions never interleave.
 */
export class LinuxUsbEnforcer implements UsbEnforcer {
  readonly name = 'linux';
  private readonly sysfs: string;
  private readonly io: SysfsIo;
  private readonly isRoot: () => boolean;
  private readonly timeoutMs: number;
  /** Root hub name → its authorized_default before the agent armed; non-empty while armed. */
  private saved = new Map<string, string>();
  /** True while the policy wants blocking at birth and arming succeeded. */
  private blocking = false;
  /** Bus path → what this enforcer made read-only there. */
  private readOnlyDone = new Map<string, ReadOnlyRecord>();
  private loaded = false;
  private blockRefusal: string | null = null;
  private readOnlyRefusal: string | null = null;
  private blockdevProbed = false;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: LinuxUsbEnforcerOptions) {
    this.sysfs = options.sysfsRoot ?? '/sys';
    this.io = options.io ?? nodeSysfsIo;
    this.isRoot = options.isRoot ?? (() => process.getuid?.() === 0);
    this.timeoutMs = options.commandTimeoutMs ?? 10_000;
  }

  private get devicesDir(): string {
    return join(this.sysfs, 'bus/usb/devices');
  }

  /** True while root hubs are held at authorized_default=0 by this agent. */
  get armed(): boolean {
    return this.saved.size > 0;
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  capabilities(): AgentCapability[] {
    const block = this.blockUnavailable();
    const readOnly = this.readOnlyUnavailable();
    return [
      { name: CAPABILITY_BLOCK, available: block === null, reason: block ?? '' },
      { name: CAPABILITY_READ_ONLY, available: readOnly === null, reason: readOnly ?? '' },
    ];
  }

  private notRoot(): string | null {
    return this.isRoot() ? null : `not running as root (uid ${process.getuid?.() ?? '?'}); the kernel's USB authorization and block-device flags need root`;
  }

  private blockUnavailable(): string | null {
    return this.notRoot() ?? this.blockRefusal;
  }

  private readOnlyUnavailable(): string | null {
    return this.notRoot() ?? this.readOnlyRefusal;
  }

  async configure(usb: UsbPolicy | undefined): Promise<void> {
    await this.serial(async () => {
      await this.loadSaved();
      const hubs = await this.rootHubs();
      if (hubs === null) return;
      await this.probeBlockdev();
      if (needsBlockAtBirth(usb) && this.notRoot() === null) await this.arm(hubs);
      else {
        this.blocking = false;
        if (this.armed) await this.disarm();
      }
    });
  }

  async stop(): Promise<void> {
    await this.serial(async () => {
      await this.loadSaved();
      this.blocking = false;
      if (this.armed) await this.disarm();
    });
  }

  async released(device: UsbDevice): Promise<void> {
    await this.serial(async () => {
      await this.loadSaved();
      // A stick that left took its block devices (and their flags) with it.
      if (this.readOnlyDone.delete(device.busPath)) await this.persistReadOnly();
      if (ROOT_HUB.test(device.busPath) && this.saved.has(device.busPath)) {
        try {
          await this.io.read(join(this.devicesDir, device.busPath, 'authorized_default'));
        } catch {
          // The controller is gone; one that later takes its name brings its own default, saved when it arrives.
          this.saved.delete(device.busPath);
          if (this.saved.size > 0) await this.persistSaved().catch(() => undefined);
          else await unlink(this.options.statePath).catch(() => undefined);
        }
      }
    });
  }

  /** The root hubs, or null (with the reason recorded) when this host has no USB bus to act on. */
  private async rootHubs(): Promise<string[] | null> {
    let names: string[];
    try {
      names = await this.io.list(this.devicesDir);
    } catch (error) {
      this.blockRefusal = `no USB bus (${this.devicesDir}: ${(error as NodeJS.ErrnoException).code ?? String(error)})`;
      return null;
    }
    const hubs = names.filter((name) => ROOT_HUB.test(name)).sort();
    if (hubs.length === 0) {
      this.blockRefusal = `no USB root hub under ${this.devicesDir}`;
      return null;
    }
    if (this.blockRefusal?.startsWith('no USB')) this.blockRefusal = null;
    return hubs;
  }

  private async probeBlockdev(): Promise<void> {
    if (this.blockdevProbed) return;
    this.blockdevProbed = true;
    try {
      await this.options.runner.run('blockdev', ['--version'], { timeoutMs: this.timeoutMs });
    } catch (error) {
      this.readOnlyRefusal = error instanceof CommandError && error.reason === 'not-found' ? 'blockdev (util-linux) is not installed' : `blockdev does not run: ${(error as Error).message}`;
    }
  }

  private async loadSaved(): Promise<void> {
    if (this.loaded) return;
    this.loaded = true;
    await this.loadReadOnly();
    let text: string;
    try {
      text = await readFile(this.options.statePath, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.options.logger.warn('cannot read the saved USB root-hub defaults', { error: error as Error });
      return;
    }
    try {
      const hubs = (JSON.parse(text) as { hubs?: Record<string, string> }).hubs ?? {};
      for (const [hub, value] of Object.entries(hubs)) if (ROOT_HUB.test(hub) && /^-?\d$/.test(value)) this.saved.set(hub, value);
      this.options.logger.warn('USB root hubs were left in block-at-birth mode by an earlier run; their previous defaults are restored from the saved copy when blocking ends', {
        hubs: Object.fromEntries(this.saved),
      });
    } catch (error) {
      this.options.logger.warn('the saved USB root-hub defaults are unreadable; ignoring them', { error: error as Error });
    }
  }

  private get readOnlyStatePath(): string {
    return this.options.readOnlyStatePath ?? join(dirname(this.options.statePath), 'usb-read-only.json');
  }

  private async loadReadOnly(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.readOnlyStatePath, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.options.logger.warn('cannot read the saved read-only USB devices', { error: error as Error });
      return;
    }
    try {
      const devices = (JSON.parse(text) as { devices?: Record<string, ReadOnlyRecord> }).devices ?? {};
      for (const [busPath, record] of Object.entries(devices)) {
        if (!BUS_PATH.test(busPath) || typeof record?.device !== 'string' || !Array.isArray(record.nodes) || !Array.isArray(record.mounts)) continue;
        const nodes = record.nodes.filter((node): node is string => typeof node === 'string' && DEVICE_NODE.test(node) && !node.includes('..'));
        const mounts = record.mounts.filter((mount): mount is string => typeof mount === 'string' && mount.startsWith('/'));
        this.readOnlyDone.set(busPath, { device: record.device, nodes, mounts });
      }
    } catch (error) {
      this.options.logger.warn('the saved read-only USB devices are unreadable; ignoring them', { error: error as Error });
    }
  }

  private async persistReadOnly(): Promise<void> {
    const path = this.readOnlyStatePath;
    try {
      if (this.readOnlyDone.size === 0) {
        await unlink(path).catch(() => undefined);
        return;
      }
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      const temp = `${path}.tmp`;
      await writeFile(temp, JSON.stringify({ devices: Object.fromEntries(this.readOnlyDone) }), { mode: 0o600 });
      await rename(temp, path);
    } catch (error) {
      // Kept in memory all the same: only a restart before read-only ends would forget it.
      this.options.logger.warn('cannot save the read-only USB devices', { error: error as Error });
    }
  }

  private async persistSaved(): Promise<void> {
    const path = this.options.statePath;
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const temp = `${path}.tmp`;
    await writeFile(temp, JSON.stringify({ hubs: Object.fromEntries(this.saved) }), { mode: 0o600 });
    await rename(temp, path);
  }

  private async arm(hubs: string[]): Promise<void> {
    const fresh: string[] = [];
    const written = new Set<string>();
    try {
      for (const hub of hubs) {
        if (this.saved.has(hub)) continue;
        this.saved.set(hub, (await this.io.read(join(this.devicesDir, hub, 'authorized_default'))).trim());
        fresh.push(hub);
      }
      // The previous values are on disk before any of them is overwritten.
      if (fresh.length > 0) await this.persistSaved();
      for (const hub of hubs) {
        await this.io.write(join(this.devicesDir, hub, 'authorized_default'), '0');
        written.add(hub);
      }
      if (fresh.length > 0) this.options.logger.info('blocking USB devices at birth (authorized_default=0 on the root hubs)', { hubs });
      this.blockRefusal = null;
      this.blocking = true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      this.blockRefusal = `the kernel refused to set authorized_default on the USB root hubs (${code ?? (error as Error).message})`;
      this.options.logger.error('cannot block USB devices at birth; enforcement falls back to audit', { reason: this.blockRefusal });
      // Hubs first saved now and never written still hold their own value: nothing to restore there.
      for (const hub of fresh) if (!written.has(hub)) this.saved.delete(hub);
      this.blocking = false;
      await this.disarm();
    }
  }

  private async disarm(): Promise<void> {
    const restoring = this.saved.size > 0;
    const failed = new Map<string, string>();
    for (const [hub, value] of this.saved) {
      try {
        await this.io.write(join(this.devicesDir, hub, 'authorized_default'), value);
      } catch (error) {
        // A hub that went away has nothing to restore; anything else is kept for the next try.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') failed.set(hub, value);
      }
    }
    this.saved = failed;
    if (failed.size > 0) {
      this.options.logger.error('could not restore authorized_default on some USB root hubs', { hubs: Object.fromEntries(failed) });
      await this.persistSaved().catch(() => undefined);
      return;
    }
    await unlink(this.options.statePath).catch(() => undefined);
    if (restoring) this.options.logger.info('USB root hubs back to their previous authorized_default');
  }

  /** A safety net beside the source: the Linux source reads `descriptors` itself, others may not. */
  async reveal(device: UsbDevice): Promise<UsbDevice> {
    if (device.interfaceClasses.length > 0 || !BUS_PATH.test(device.busPath) || ROOT_HUB.test(device.busPath)) return device;
    try {
      const raw = Buffer.from(await this.io.read(join(this.devicesDir, device.busPath, 'descriptors')), 'latin1');
      const interfaceClasses = interfaceClassesOf(parseUsbDescriptors(raw), null);
      return interfaceClasses.length > 0 ? { ...device, interfaceClasses } : device;
    } catch {
      return device;
    }
  }

  async enforceDevice(request: UsbEnforcementRequest): Promise<UsbEnforcementDecision> {
    return this.serial(() => this.authorize(request));
  }

  async enforceStorage(request: UsbStorageEnforcementRequest): Promise<UsbEnforcementDecision> {
    const mode = request.verdict.mode;
    if (mode === UsbEnforcementMode.USB_ENFORCEMENT_MODE_BLOCK) return this.enforceDevice(request);
    if (mode === UsbEnforcementMode.USB_ENFORCEMENT_MODE_READ_ONLY) return this.serial(() => this.makeReadOnly(request));
    return this.serial(() => this.restoreWritable(request));
  }

  /**
   * A root hub that arrived after blocking at birth was armed (a hot-plugged controller, a
   * Thunderbolt dock): armed now, its own previous default saved first. Devices that reached the
   * kernel through it before this write were born authorized; their own attach is enforced next
   * and deauthorizes what the verdict blocks (the reactive path, with its race).
   */
  private async armArrivedHub(request: UsbEnforcementRequest): Promise<UsbEnforcementDecision> {
    const hub = request.device.busPath;
    if (!this.blocking || this.saved.has(hub) || this.notRoot() !== null) return noActionDecision(request);
    const path = join(this.devicesDir, hub, 'authorized_default');
    let previous: string;
    try {
      previous = (await this.io.read(path)).trim();
      this.saved.set(hub, previous);
      await this.persistSaved();
      await this.io.write(path, '0');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      this.saved.delete(hub);
      await this.persistSaved().catch(() => undefined);
      this.options.logger.error('a USB root hub arrived while blocking at birth, but it could not be armed', { hub, code: code ?? (error as Error).message });
      return decision(
        request,
        request.verdict.mode,
        UsbEnforcementAction.USB_ENFORCEMENT_ACTION_NOT_POSSIBLE,
        `${request.verdict.reason}; a root hub that arrived while blocking at birth, but ${path} could not be set to 0 (${code ?? (error as Error).message}): devices behind it are born authorized`,
      );
    }
    this.options.logger.info('a USB root hub arrived while blocking at birth: armed it', { hub, previous });
    return decision(
      request,
      request.verdict.mode,
      UsbEnforcementAction.USB_ENFORCEMENT_ACTION_NONE,
      `${request.verdict.reason}; a root hub that arrived while blocking at birth: authorized_default=0 (was ${previous}), restored when blocking ends`,
    );
  }

  private async authorize(request: UsbEnforcementRequest): Promise<UsbEnforcementDecision> {
    if (ROOT_HUB.test(request.device.busPath)) return this.armArrivedHub(request);
    const block = request.verdict.mode === UsbEnforcementMode.USB_ENFORCEMENT_MODE_BLOCK;
    const unavailable = this.blockUnavailable();
    if (unavailable !== null) {
      return block ? notPossibleDecision(request, unavailable) : noActionDecision(request);
    }
    const busPath = request.device.busPath;
    if (!BUS_PATH.test(busPath)) {
      return block ? notPossibleDecision(request, `the device's bus path "${busPath}" names no sysfs device`) : noActionDecision(request);
    }
    const path = join(this.devicesDir, busPath, 'authorized');
    try {
      const current = (await this.io.read(path)).trim();
      if (block) {
        if (current !== '0') await this.io.write(path, '0');
        // Its block devices leave with the authorization, read-only flags included.
        if (this.readOnlyDone.delete(busPath)) await this.persistReadOnly();
        const how = current === '0' ? 'born unauthorized (blocked at birth) and left so' : 'deauthorized (authorized=0)';
        return decision(request, request.verdict.mode, UsbEnforcementAction.USB_ENFORCEMENT_ACTION_DEAUTHORIZED, `${request.verdict.reason}; ${how}`);
      }
      if (current === '0') {
        await this.io.write(path, '1');
        const then = request.verdict.mode === UsbEnforcementMode.USB_ENFORCEMENT_MODE_READ_ONLY ? '; its block devices are made read-only as they appear' : '';
        return decision(request, request.verdict.mode, UsbEnforcementAction.USB_ENFORCEMENT_ACTION_AUTHORIZED, `${request.verdict.reason}; authorized (authorized=1)${then}`);
      }
      return noActionDecision(request);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        return block || isEnforcingMode(request.verdict.mode) ? notPossibleDecision(request, 'the device left before the decision was applied') : noActionDecision(request);
      }
      if (code !== undefined && PRIVILEGE_ERRORS.has(code)) this.blockRefusal = `the kernel refused writing ${path} (${code})`;
      return notPossibleDecision(request, `${path}: ${code ?? (error as Error).message}`);
    }
  }

  private async makeReadOnly(request: UsbStorageEnforcementRequest): Promise<UsbEnforcementDecision> {
    const unavailable = this.readOnlyUnavailable();
    if (unavailable !== null) return notPossibleDecision(request, unavailable);
    // Whole disks first: a partition the kernel re-reads afterwards inherits the disk's flag.
    const devices = [...request.blockDevices].sort((a, b) => Number(a.parentNode !== '') - Number(b.parentNode !== ''));
    const done: string[] = [];
    const busPath = request.device.busPath;
    const known = this.readOnlyDone.get(busPath);
    const record: ReadOnlyRecord = known?.device === identityOf(request.device) ? known : { device: identityOf(request.device), nodes: [], mounts: [] };
    const remember = async () => {
      if (record.nodes.length === 0 && record.mounts.length === 0) return;
      this.readOnlyDone.set(busPath, record);
      await this.persistReadOnly();
    };
    try {
      for (const device of devices) {
        if (!DEVICE_NODE.test(device.deviceNode) || device.deviceNode.includes('..')) throw new Error(`unexpected device node "${device.deviceNode}"`);
        await this.options.runner.run('blockdev', ['--setro', device.deviceNode], { timeoutMs: this.timeoutMs });
        done.push(`blockdev --setro ${device.deviceNode}`);
        // Only what was writable is the agent's doing (a write-protect switch is not undone later).
        if (!device.readOnly && !record.nodes.includes(device.deviceNode)) record.nodes.push(device.deviceNode);
      }
      for (const mountPoint of devices.filter((d) => !d.readOnly).flatMap((d) => d.mountPoints)) {
        await this.options.runner.run('mount', ['-o', 'remount,ro', mountPoint], { timeoutMs: this.timeoutMs });
        done.push(`remount,ro ${mountPoint}`);
        if (!record.mounts.includes(mountPoint)) record.mounts.push(mountPoint);
      }
      await remember();
    } catch (error) {
      await remember();
      if (error instanceof CommandError && error.reason === 'not-found') this.readOnlyRefusal = error.message;
      const before = done.length > 0 ? ` (done before the failure: ${done.join(', ')})` : '';
      return notPossibleDecision(request, `${(error as Error).message}${before}`);
    }
    if (devices.length === 0) return notPossibleDecision(request, 'no block device of the stick is known yet');
    return decision(request, request.verdict.mode, UsbEnforcementAction.USB_ENFORCEMENT_ACTION_SET_READ_ONLY, `${request.verdict.reason}; made read-only: ${done.join(', ')}`);
  }

  /**
   * The verdict allows writing (allow, audit): undo the read-only this enforcer applied to this
   * device, and only that. A failure leaves the stick read-only, which the decision says
   * (applied mode read-only, NOT_POSSIBLE); the record is kept so the next verdict tries again.
   */
  private async restoreWritable(request: UsbStorageEnforcementRequest): Promise<UsbEnforcementDecision> {
    await this.loadSaved();
    const busPath = request.device.busPath;
    const record = this.readOnlyDone.get(busPath);
    if (record === undefined) return noActionDecision(request);
    if (record.device !== identityOf(request.device)) {
      // Another stick on the same port: what was done to the earlier one left with it.
      this.readOnlyDone.delete(busPath);
      await this.persistReadOnly();
      return noActionDecision(request);
    }
    const present = new Set(request.blockDevices.map((device) => device.deviceNode));
    const mounted = new Set(request.blockDevices.flatMap((device) => device.mountPoints));
    const nodes = record.nodes.filter((node) => present.has(node));
    const mounts = record.mounts.filter((mount) => mounted.has(mount));
    if (nodes.length === 0 && mounts.length === 0) {
      this.readOnlyDone.delete(busPath);
      await this.persistReadOnly();
      return noActionDecision(request);
    }
    const staysReadOnly = (why: string) =>
      decision(
        request,
        UsbEnforcementMode.USB_ENFORCEMENT_MODE_READ_ONLY,
        UsbEnforcementAction.USB_ENFORCEMENT_ACTION_NOT_POSSIBLE,
        `${request.verdict.reason}; ${modeName(request.verdict.mode)} requested, but the stick stays read-only: ${why}`,
      );
    const unavailable = this.readOnlyUnavailable();
    if (unavailable !== null) return staysReadOnly(unavailable);
    const done: string[] = [];
    try {
      for (const node of nodes) {
        await this.options.runner.run('blockdev', ['--setrw', node], { timeoutMs: this.timeoutMs });
        done.push(`blockdev --setrw ${node}`);
      }
      for (const mountPoint of mounts) {
        await this.options.runner.run('mount', ['-o', 'remount,rw', mountPoint], { timeoutMs: this.timeoutMs });
        done.push(`remount,rw ${mountPoint}`);
      }
    } catch (error) {
      if (error instanceof CommandError && error.reason === 'not-found') this.readOnlyRefusal = error.message;
      const before = done.length > 0 ? ` (done before the failure: ${done.join(', ')})` : '';
      return staysReadOnly(`${(error as Error).message}${before}`);
    }
    this.readOnlyDone.delete(busPath);
    await this.persistReadOnly();
    return decision(request, request.verdict.mode, UsbEnforcementAction.USB_ENFORCEMENT_ACTION_SET_READ_WRITE, `${request.verdict.reason}; read-only ended, writable again: ${done.join(', ')}`);
  }
}
