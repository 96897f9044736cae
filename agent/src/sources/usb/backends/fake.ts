import { open, readFile, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256, uuidV5 } from '../../../core/ids';
import { SerialQuality, type UsbDevice } from '../../../generated/mamori/v1/common';
import type { AgentCapability } from '../../../generated/mamori/v1/telemetry';
import type { Logger } from '../../../logging/logger';
import { ensurePrivateDir, writeFileAtomic } from '../../../state/atomic-file';
import { Backoff, sleep } from '../../../transport/backoff';
import { FakeScriptLineError, parseFakeScriptLine } from '../parsers/fake-script.parser';
import { serialQualityAmong, type UsbObservation, type UsbObservationSink, type UsbSource } from '../usb.source';

export interface FakeUsbOptions {
  scriptPath: string;
  /** Folder for the backend's progress file (the agent's state/sources). */
  stateDir: string;
  logger: Logger;
  /** How often to look for new lines once the end of the script is reached. */
  pollMs?: number;
  /** Most observations handed to the sink in one call. */
  chunkSize?: number;
  clock?: () => Date;
}

/** How far the script was read, persisted only after the sink took the events before it. */
interface FakeProgress {
  scriptIdentity: string;
  offset: number;
  lineNumber: number;
  attached: UsbDevice[];
}

const PROGRESS_FILE = 'usb-fake.json';

/**
 * The fake USB backend (after USBGuard's umockdev backend): a real, selectable backend that
 * replays a JSON-lines script and follows it as it grows, like `tail -f`, so tests and demos
 * drive the unchanged daemon.
 *
 * Replay safety: each event's id is a name-based UUID of the script's identity, the line's byte
 * offset and the line's content, and the read offset is persisted only after the sink accepted
 * the events before it. After a crash the agent re-reads from the last persisted offset and
 * produces the same ids, which the collector stores once.
 * A line that cannot be parsed is logged with its line number and skipped.
 */
export class FakeUsbBackend implements UsbSource {
  readonly name = 'usb:fake';
  private readonly pollMs: number;
  private readonly chunkSize: number;
  private readonly clock: () => Date;
  private readonly progressPath: string;
  private progress: FakeProgress = { scriptIdentity: '', offset: 0, lineNumber: 0, attached: [] };
  private attachedByBus = new Map<string, UsbDevice>();
  private readonly abort = new AbortController();
  private loop: Promise<void> | null = null;

  constructor(private readonly options: FakeUsbOptions) {
    this.pollMs = options.pollMs ?? 100;
    this.chunkSize = options.chunkSize ?? 1000;
    this.clock = options.clock ?? (() => new Date());
    this.progressPath = join(options.stateDir, PROGRESS_FILE);
  }

  attached(): UsbDevice[] {
    return [...this.attachedByBus.values()];
  }

  /** Replayed devices are observed, never enforced: there is no kernel device to act on. */
  capabilities(): AgentCapability[] {
    const reason = 'the fake backend replays scripted devices; there is no kernel device to act on';
    return [
      { name: 'usb.detect', available: true, reason: '' },
      { name: 'usb.block', available: false, reason },
      { name: 'usb.read_only', available: false, reason },
    ];
  }

  async start(sink: UsbObservationSink): Promise<void> {
    await ensurePrivateDir(this.options.stateDir);
    this.progress = await this.loadProgress();
    this.attachedByBus = new Map(this.progress.attached.map((d) => [d.busPath, d]));
    this.loop = this.run(sink).catch((error) => {
      this.options.logger.error('fake USB backend stopped unexpectedly', { error: error as Error });
    });
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  private async loadProgress(): Promise<FakeProgress> {
    try {
      const saved = JSON.parse(await readFile(this.progressPath, 'utf8')) as FakeProgress;
      if (typeof saved.offset === 'number' && typeof saved.scriptIdentity === 'string') return saved;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.options.logger.warn('fake USB progress file unreadable; replaying the script from the start', { error: error as Error });
      }
    }
    return { scriptIdentity: '', offset: 0, lineNumber: 0, attached: [] };
  }

  /** Which script this is: the same file (path, device, inode) keeps its identity across restarts. */
  private async identify(): Promise<string | null> {
    try {
      const path = await realpath(this.options.scriptPath);
      const info = await stat(path);
      return sha256(`${path}:${info.dev}:${info.ino}`).toString('hex').slice(0, 32);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  /**
   * Like every real backend, the devices the script left attached when the agent last stopped are
   * reported as present at start before anything new is read (the agent must know them to judge
   * and enforce them, and to tell a device that stayed from a new plug). Offered again until taken.
   */
  private async reportPresentAtStart(sink: UsbObservationSink, retry: Backoff): Promise<boolean> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      const now = this.clock();
      const present = [...this.attachedByBus.values()].map((device): UsbObservation => ({ kind: 'attached', device, presentAtStart: true, occurredAt: now }));
      try {
        if (present.length > 0) await sink.accept(present);
        await sink.presentAtStartReported?.();
        retry.reset();
        return true;
      } catch (error) {
        const delay = retry.next();
        this.options.logger.error('fake USB devices present at start were not taken; retrying', { error: error as Error, retryInMs: delay });
        await sleep(delay, signal);
      }
    }
    return false;
  }

  private async run(sink: UsbObservationSink): Promise<void> {
    const signal = this.abort.signal;
    const log = this.options.logger;
    let waitingLogged = false;
    const retry = new Backoff(250, 10_000);
    if (!(await this.reportPresentAtStart(sink, retry))) return;
    while (!signal.aborted) {
      const identity = await this.identify();
      if (identity === null) {
        if (!waitingLogged) log.warn('fake USB script does not exist yet; waiting for it', { script: this.options.scriptPath });
        waitingLogged = true;
        await sleep(this.pollMs, signal);
        continue;
      }
      if (identity !== this.progress.scriptIdentity) {
        if (this.progress.scriptIdentity !== '') log.info('fake USB script is a different file now; reading it from the start');
        this.progress = { scriptIdentity: identity, offset: 0, lineNumber: 0, attached: [] };
        this.attachedByBus.clear();
      }
      const size = (await stat(this.options.scriptPath)).size;
      if (size < this.progress.offset) {
        log.warn('fake USB script shrank below the read position; reading it from the start', { size, offset: this.progress.offset });
        this.progress = { ...this.progress, offset: 0, lineNumber: 0 };
      }
      if (size === this.progress.offset) {
        await sleep(this.pollMs, signal);
        continue;
      }
      try {
        await this.consume(sink, identity, size, signal);
        retry.reset();
      } catch (error) {
        // Not taken: restore the last persisted view and offer the same lines again later.
        const delay = retry.next();
        log.error('fake USB events were not taken; retrying', { error: error as Error, retryInMs: delay });
        this.progress = await this.loadProgress();
        this.attachedByBus = new Map(this.progress.attached.map((d) => [d.busPath, d]));
        await sleep(delay, signal);
      }
    }
  }

  /** Reads complete lines from the persisted offset up to `size` and hands them to the sink. */
  private async consume(sink: UsbObservationSink, identity: string, size: number, signal: AbortSignal): Promise<void> {
    const handle = await open(this.options.scriptPath, 'r');
    let data: Buffer;
    try {
      data = Buffer.alloc(size - this.progress.offset);
      const { bytesRead } = await handle.read(data, 0, data.length, this.progress.offset);
      data = data.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
    const baseOffset = this.progress.offset;
    let position = 0;
    let lineNumber = this.progress.lineNumber;
    let batch: UsbObservation[] = [];

    const commit = async (endPosition: number) => {
      if (batch.length > 0) await sink.accept(batch);
      batch = [];
      this.progress = { scriptIdentity: identity, offset: baseOffset + endPosition, lineNumber, attached: [...this.attachedByBus.values()] };
      await writeFileAtomic(this.progressPath, JSON.stringify(this.progress));
    };

    for (;;) {
      const newline = data.indexOf(0x0a, position);
      if (newline < 0) break; // a line still being written; wait for its newline
      const raw = data.subarray(position, newline);
      const lineOffset = baseOffset + position;
      position = newline + 1;
      lineNumber += 1;
      const text = raw.toString('utf8').replace(/\r$/, '');
      let op;
      try {
        op = parseFakeScriptLine(text, lineNumber);
      } catch (error) {
        if (!(error instanceof FakeScriptLineError)) throw error;
        this.options.logger.warn('fake USB script: bad line skipped', { line: error.lineNumber, reason: error.reason, script: this.options.scriptPath });
        continue;
      }
      if (op === null) continue;
      const eventId = uuidV5(`fake-usb:${identity}:${lineOffset}:${sha256(raw).toString('hex')}`);
      if (op.op === 'attach') {
        const others = [...this.attachedByBus.values()].filter((d) => d.busPath !== op.device.busPath);
        const device = { ...op.device, serialQuality: serialQualityAmong(op.device, others) };
        this.attachedByBus.set(device.busPath, device);
        batch.push({ kind: 'attached', device, presentAtStart: false, occurredAt: this.clock(), eventId });
      } else if (op.op === 'detach') {
        const device = this.attachedByBus.get(op.busPath) ?? emptyDevice(op.busPath);
        this.attachedByBus.delete(op.busPath);
        batch.push({ kind: 'detached', device, occurredAt: this.clock(), eventId });
      } else if (op.op === 'storage') {
        const device = this.attachedByBus.get(op.busPath);
        if (device === undefined) {
          this.options.logger.warn('fake USB script: bad line skipped', { line: lineNumber, reason: `storage for ${op.busPath}, which is not attached`, script: this.options.scriptPath });
          continue;
        }
        batch.push({ kind: 'storage', device, blockDevices: op.blockDevices, occurredAt: this.clock(), eventId });
      } else {
        await commit(position);
        if (!(await sleep(op.ms, signal))) return;
        continue;
      }
      if (batch.length >= this.chunkSize) await commit(position);
    }
    await commit(position);
  }
}

function emptyDevice(busPath: string): UsbDevice {
  return { vendorId: 0, productId: 0, serial: '', manufacturer: '', product: '', interfaceClasses: [], busPath, descriptorHash: '', serialQuality: SerialQuality.SERIAL_QUALITY_UNSPECIFIED };
}
