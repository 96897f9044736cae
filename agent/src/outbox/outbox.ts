import { readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { eventsDroppedEvent, type EventDraft } from '../core/event-factory';
import { uuidV5 } from '../core/ids';
import { Event } from '../generated/mamori/v1/events';
import { silentLogger, type Logger } from '../logging/logger';
import { ensurePrivateDir, fsyncDir, TEMP_SUFFIX, writeFileAtomic } from '../state/atomic-file';
import { decodeRecords, encodeRecord, parseSegmentName, segmentName, countRecords } from './segment-codec';

/**
 * The outcome of an append. `accepted` means the event is on disk (fsynced, renamed into place)
 * and will be uploaded; `spool-full` means it was dropped and counted in the persisted drop
 * counter, which the agent reports.
 */
export type AppendOutcome = { accepted: true; sequence: bigint } | { accepted: false; reason: 'spool-full' };

/** A batch read from the outbox: the oldest pending events, with an id stable across retries and restarts. */
export interface OutboxBatch {
  readonly batchId: string;
  readonly events: readonly Event[];
  /** Where each event lives, so ack/reject can remove exactly these records. */
  readonly locations: readonly { segment: string; index: number }[];
}

export interface OutboxStats {
  events: number;
  bytes: number;
  segments: number;
  droppedTotal: number;
  droppedReported: number;
}

export interface OutboxOptions {
  /** The spool folder; created 0700. One outbox per folder at a time (the daemon holds a lock). */
  dir: string;
  /** Upper bound of the bytes the spool's segments may hold; appends beyond it are dropped and counted. */
  maxBytes: number;
  /** Most events in one batch; also the most events one segment file holds. */
  maxBatchEvents: number;
  /** How long a commit waits to gather concurrent appends into one fsync (group commit). */
  commitDelayMs?: number;
  logger?: Logger;
  clock?: () => Date;
  /** Builds the report queued after drops; defaults to an AgentStatus without policy version. */
  dropReport?: (droppedTotal: number, at: Date) => EventDraft;
}

interface SegmentInfo {
  name: string;
  first: bigint;
  last: bigint;
  count: number;
  bytes: number;
}

interface SpoolState {
  /** Highest sequence ever handed out and then removed from the spool (acked or rejected). */
  highWaterSequence: string;
  droppedTotal: number;
  droppedReported: number;
}

interface InflightRecord {
  first: string;
  last: string;
}

interface PendingAppend {
  draft: EventDraft;
  resolve: (outcome: AppendOutcome) => void;
  reject: (error: Error) => void;
}

const STATE_FILE = 'state.json';
const INFLIGHT_FILE = 'inflight.json';
const SEGMENTS_DIR = 'segments';
const REJECTED_DIR = 'rejected';

/**
 * The agent's durable outbox (after Santa's FSSpool).
 *
 * Contract:
 * - `append` resolves only after the event is durable: group commits write a segment to a temp
 *   file, fsync it, rename it into `segments/`, and fsync the folder. It rejects when the disk
 *   write fails (the caller keeps the event and retries), and resolves `spool-full` when the
 *   byte bound is hit: the event is dropped, the persisted drop counter says so, and an
 *   AGENT_STATE_EVENTS_DROPPED event is queued once there is room again.
 * - Sequence numbers are assigned here, per spool, strictly increasing, and never reused after a
 *   crash: the highest sequence removed from the spool is persisted before the removal.
 * - `readBatch` returns the oldest events; the batch id is derived from the event ids it
 *   carries, and the batch's range is persisted (`inflight.json`) so the first batch after a
 *   restart is the same batch with the same id.
 * - `ack` deletes exactly the batch's events; `reject` moves one event to `rejected/`.
 * - After kill -9 at any point: temp files are deleted at open; a segment is either fully
 *   present or absent; an acked-but-not-yet-deleted batch is resent with the same event ids
 *   (the collector stores each id once).
 * One consumer (the uploader) calls readBatch/ack/reject; any number of producers append.
 */
export class Outbox {
  private readonly segmentsDir: string;
  private readonly rejectedDir: string;
  private readonly logger: Logger;
  private readonly clock: () => Date;
  private readonly commitDelayMs: number;
  private readonly dropReport: (droppedTotal: number, at: Date) => EventDraft;
  private segments: SegmentInfo[] = [];
  private totalBytes = 0;
  private nextSequence = 1n;
  private state: SpoolState = { highWaterSequence: '0', droppedTotal: 0, droppedReported: 0 };
  private inflight: InflightRecord | null = null;
  private pending: PendingAppend[] = [];
  private commitLoop: Promise<void> | null = null;
  private closed = false;

  private constructor(private readonly options: OutboxOptions) {
    this.segmentsDir = join(options.dir, SEGMENTS_DIR);
    this.rejectedDir = join(options.dir, REJECTED_DIR);
    this.logger = options.logger ?? silentLogger;
    this.clock = options.clock ?? (() => new Date());
    this.commitDelayMs = options.commitDelayMs ?? 2;
    this.dropReport = options.dropReport ?? ((total, at) => eventsDroppedEvent(total, at));
    if (!(options.maxBytes > 0)) throw new Error('outbox maxBytes must be positive');
    if (!(options.maxBatchEvents > 0)) throw new Error('outbox maxBatchEvents must be positive');
  }

  /** Opens (creating if needed) the spool in `options.dir` and recovers from whatever a crash left. */
  static async open(options: OutboxOptions): Promise<Outbox> {
    const outbox = new Outbox(options);
    await outbox.recover();
    return outbox;
  }

  private async recover(): Promise<void> {
    await ensurePrivateDir(this.options.dir);
    await ensurePrivateDir(this.segmentsDir);
    await ensurePrivateDir(this.rejectedDir);
    for (const dir of [this.options.dir, this.segmentsDir, this.rejectedDir]) {
      for (const name of await readdir(dir)) {
        if (name.endsWith(TEMP_SUFFIX)) {
          // A write that never reached its rename: its appends never resolved, so nothing is lost.
          await unlink(join(dir, name)).catch(() => undefined);
          this.logger.info('outbox removed an unfinished temporary file', { file: name });
        }
      }
    }

    const found: SegmentInfo[] = [];
    for (const name of await readdir(this.segmentsDir)) {
      const range = parseSegmentName(name);
      if (range === null) continue;
      found.push({ name, ...range, count: 0, bytes: 0 });
    }
    found.sort((a, b) => (a.first === b.first ? cmp(a.last, b.last) : cmp(a.first, b.first)));

    const kept: SegmentInfo[] = [];
    for (const segment of found) {
      const previous = kept[kept.length - 1];
      if (previous !== undefined && previous.last === segment.last) {
        // A partial ack writes the remainder under a higher first sequence, then deletes the old
        // file; a crash in between leaves both, and the remainder is the truth.
        await unlink(join(this.segmentsDir, previous.name)).catch(() => undefined);
        kept.pop();
      } else if (previous !== undefined && segment.first <= previous.last) {
        this.logger.error('outbox segments overlap; keeping both (the collector de-duplicates by event id)', {
          first: previous.name,
          second: segment.name,
        });
      }
      kept.push(segment);
    }

    for (const segment of kept) {
      const path = join(this.segmentsDir, segment.name);
      try {
        const data = await readFile(path);
        segment.count = countRecords(data);
        segment.bytes = data.length;
        if (segment.count === 0) {
          await unlink(path);
          continue;
        }
        this.segments.push(segment);
        this.totalBytes += segment.bytes;
      } catch (error) {
        await this.quarantine(segment.name, error as Error);
      }
    }

    this.state = await this.loadState();
    this.inflight = await this.loadJson<InflightRecord>(join(this.options.dir, INFLIGHT_FILE));
    let highest = BigInt(this.state.highWaterSequence);
    // Every named segment counts, quarantined ones too: their sequences were handed out once.
    for (const segment of found) if (segment.last > highest) highest = segment.last;
    this.nextSequence = highest + 1n;
    await fsyncDir(this.segmentsDir);
  }

  private async quarantine(name: string, error: Error): Promise<void> {
    const target = join(this.rejectedDir, `${name}.corrupt`);
    this.logger.error('outbox segment is unreadable; moved aside for inspection', { segment: name, error, movedTo: target });
    await rename(join(this.segmentsDir, name), target).catch(() => undefined);
  }

  private async loadState(): Promise<SpoolState> {
    const loaded = await this.loadJson<Partial<SpoolState>>(join(this.options.dir, STATE_FILE));
    return {
      highWaterSequence: typeof loaded?.highWaterSequence === 'string' && /^\d+$/.test(loaded.highWaterSequence) ? loaded.highWaterSequence : '0',
      droppedTotal: Number.isSafeInteger(loaded?.droppedTotal) ? (loaded!.droppedTotal as number) : 0,
      droppedReported: Number.isSafeInteger(loaded?.droppedReported) ? (loaded!.droppedReported as number) : 0,
    };
  }

  private async loadJson<T>(path: string): Promise<T | null> {
    try {
      return JSON.parse(await readFile(path, 'utf8')) as T;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.logger.error('outbox state file unreadable; continuing from what the segments say', { file: path, error: error as Error });
      }
      return null;
    }
  }

  private async writeState(): Promise<void> {
    await writeFileAtomic(join(this.options.dir, STATE_FILE), JSON.stringify(this.state));
  }

  /** Adds an event; see the class contract for what the returned promise means. */
  append(draft: EventDraft): Promise<AppendOutcome> {
    if (this.closed) return Promise.reject(new Error('outbox is closed'));
    return new Promise((resolve, reject) => {
      this.pending.push({ draft, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.commitLoop !== null) return;
    this.commitLoop = new Promise<void>((r) => setTimeout(r, this.commitDelayMs))
      .then(() => this.drain())
      .finally(() => {
        this.commitLoop = null;
        if (this.pending.length > 0 || this.reportFits()) this.schedule();
      });
  }

  private reportOwed(): boolean {
    return this.state.droppedTotal > this.state.droppedReported;
  }

  private reportFits(): boolean {
    if (!this.reportOwed()) return false;
    const probe = encodeRecord({ ...this.dropReport(this.state.droppedTotal, this.clock()), sequence: this.nextSequence.toString() });
    return this.totalBytes + probe.length <= this.options.maxBytes;
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0 || this.reportFits()) {
      const group = this.pending.splice(0, this.pending.length);
      await this.commitGroup(group);
    }
  }

  private async commitGroup(group: PendingAppend[]): Promise<void> {
    const startSequence = this.nextSequence;
    let sequence = startSequence;
    let projected = this.totalBytes;
    const records: { record: Uint8Array; sequence: bigint; item: PendingAppend | null }[] = [];
    const dropped: PendingAppend[] = [];
    let reportedTotal: number | null = null;

    if (this.reportOwed()) {
      const record = encodeRecord({ ...this.dropReport(this.state.droppedTotal, this.clock()), sequence: sequence.toString() });
      if (projected + record.length <= this.options.maxBytes) {
        records.push({ record, sequence, item: null });
        reportedTotal = this.state.droppedTotal;
        projected += record.length;
        sequence += 1n;
      }
    }
    for (const item of group) {
      const record = encodeRecord({ ...item.draft, sequence: sequence.toString() });
      if (projected + record.length > this.options.maxBytes) {
        dropped.push(item);
        continue;
      }
      records.push({ record, sequence, item });
      projected += record.length;
      sequence += 1n;
    }

    const written: SegmentInfo[] = [];
    try {
      for (let i = 0; i < records.length; i += this.options.maxBatchEvents) {
        const chunk = records.slice(i, i + this.options.maxBatchEvents);
        const name = segmentName(chunk[0].sequence, chunk[chunk.length - 1].sequence);
        const data = Buffer.concat(chunk.map((c) => c.record));
        await writeSegmentFile(join(this.segmentsDir, name), data);
        written.push({ name, first: chunk[0].sequence, last: chunk[chunk.length - 1].sequence, count: chunk.length, bytes: data.length });
      }
      if (written.length > 0) await fsyncDir(this.segmentsDir);
    } catch (error) {
      // Never hand out these sequence numbers again, even though the write failed: a segment
      // may have reached its rename before the failure.
      this.nextSequence = sequence;
      for (const info of written) this.addSegment(info);
      this.logger.error('outbox write failed; the events were not taken', { error: error as Error, events: group.length });
      for (const item of group) item.reject(error as Error);
      return;
    }
    this.nextSequence = sequence;
    for (const info of written) this.addSegment(info);

    if (dropped.length > 0 || reportedTotal !== null) {
      if (dropped.length > 0) {
        this.state.droppedTotal += dropped.length;
        this.logger.warn('outbox full: events dropped and counted', {
          dropped: dropped.length,
          droppedTotal: this.state.droppedTotal,
          spoolBytes: this.totalBytes,
          maxBytes: this.options.maxBytes,
        });
      }
      if (reportedTotal !== null) this.state.droppedReported = reportedTotal;
      try {
        await this.writeState();
      } catch (error) {
        // The drop counter must not be lost silently: the drops are reported as failures instead.
        this.logger.error('outbox could not persist its drop counter', { error: error as Error });
        for (const item of dropped) item.reject(error as Error);
        dropped.length = 0;
      }
    }
    for (const r of records) r.item?.resolve({ accepted: true, sequence: r.sequence });
    for (const item of dropped) item.resolve({ accepted: false, reason: 'spool-full' });
  }

  private addSegment(info: SegmentInfo): void {
    this.segments.push(info);
    this.totalBytes += info.bytes;
  }

  /** Resolves once every append made so far has been committed (or dropped). */
  async flush(): Promise<void> {
    while (this.commitLoop !== null || this.pending.length > 0) {
      if (this.commitLoop === null) this.schedule();
      await this.commitLoop;
    }
  }

  /** Flushes and stops accepting appends. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }

  /** The oldest pending events, at most maxBatchEvents, or null when the spool is empty. */
  async readBatch(): Promise<OutboxBatch | null> {
    const events: Event[] = [];
    const locations: { segment: string; index: number }[] = [];
    let stopAt: bigint | null = null;
    let firstChecked = false;
    outer: for (const segment of [...this.segments]) {
      const entries = decodeRecords(await readFile(join(this.segmentsDir, segment.name)));
      for (let index = 0; index < entries.length; index++) {
        const event = entries[index].event;
        const seq = BigInt(event.sequence);
        if (!firstChecked) {
          firstChecked = true;
          if (this.inflight !== null && BigInt(this.inflight.first) === seq) stopAt = BigInt(this.inflight.last);
        }
        events.push(event);
        locations.push({ segment: segment.name, index });
        if (events.length >= this.options.maxBatchEvents || (stopAt !== null && seq >= stopAt)) break outer;
      }
    }
    if (events.length === 0) return null;
    const first = events[0].sequence;
    const last = events[events.length - 1].sequence;
    if (this.inflight === null || this.inflight.first !== first || this.inflight.last !== last) {
      this.inflight = { first, last };
      await writeFileAtomic(join(this.options.dir, INFLIGHT_FILE), JSON.stringify(this.inflight));
    }
    return { batchId: batchIdFor(events), events, locations };
  }

  /** The collector acknowledged the batch: remove its events for good. */
  async ack(batch: OutboxBatch): Promise<void> {
    if (batch.events.length === 0) return;
    await this.raiseHighWater(maxSequence(batch.events));
    await this.removeRecords(batch.locations);
    await this.clearInflight();
    if (this.reportFits()) this.schedule();
  }

  /**
   * The collector refused event `index` of the batch as malformed: keep it in `rejected/` with
   * the collector's message (for a human to look at) and take it out of the upload stream.
   */
  async reject(batch: OutboxBatch, index: number, message: string): Promise<string> {
    const event = batch.events[index];
    const location = batch.locations[index];
    if (event === undefined || location === undefined) throw new Error(`no event at index ${index} of batch ${batch.batchId}`);
    const file = join(this.rejectedDir, `${event.sequence.padStart(20, '0')}-${event.eventId}.json`);
    await writeFileAtomic(
      file,
      JSON.stringify({
        eventId: event.eventId,
        sequence: event.sequence,
        rejectedAt: this.clock().toISOString(),
        message,
        eventProtobufBase64: Buffer.from(Event.encode(event).finish()).toString('base64'),
      }),
    );
    await this.raiseHighWater(BigInt(event.sequence));
    await this.removeRecords([location]);
    await this.clearInflight();
    return file;
  }

  private async raiseHighWater(sequence: bigint): Promise<void> {
    if (sequence <= BigInt(this.state.highWaterSequence)) return;
    this.state.highWaterSequence = sequence.toString();
    await this.writeState();
  }

  private async clearInflight(): Promise<void> {
    this.inflight = null;
    await unlink(join(this.options.dir, INFLIGHT_FILE)).catch(() => undefined);
  }

  private async removeRecords(locations: readonly { segment: string; index: number }[]): Promise<void> {
    const bySegment = new Map<string, Set<number>>();
    for (const { segment, index } of locations) {
      const set = bySegment.get(segment) ?? new Set<number>();
      set.add(index);
      bySegment.set(segment, set);
    }
    for (const [name, indices] of bySegment) {
      const info = this.segments.find((s) => s.name === name);
      if (info === undefined) continue;
      const path = join(this.segmentsDir, name);
      const entries = decodeRecords(await readFile(path));
      const remaining = entries.filter((_, i) => !indices.has(i));
      if (remaining.length === 0) {
        await unlink(path);
        this.dropSegment(info);
        continue;
      }
      const data = Buffer.concat(remaining.map((e) => e.record));
      const firstRemaining = BigInt(remaining[0].event.sequence);
      // A removed prefix renames the segment to a higher first sequence (recovery prefers it if
      // the old file survives a crash); anything else is rewritten in place.
      const newName = firstRemaining > info.first ? segmentName(firstRemaining, info.last) : name;
      await writeSegmentFile(join(this.segmentsDir, newName), data);
      if (newName !== name) {
        // The remainder must be durable before its predecessor goes.
        await fsyncDir(this.segmentsDir);
        await unlink(path);
      }
      this.totalBytes += data.length - info.bytes;
      Object.assign(info, { name: newName, first: newName === name ? info.first : firstRemaining, count: remaining.length, bytes: data.length });
    }
    await fsyncDir(this.segmentsDir);
  }

  private dropSegment(info: SegmentInfo): void {
    this.segments = this.segments.filter((s) => s !== info);
    this.totalBytes -= info.bytes;
  }

  stats(): OutboxStats {
    return {
      events: this.segments.reduce((n, s) => n + s.count, 0),
      bytes: this.totalBytes,
      segments: this.segments.length,
      droppedTotal: this.state.droppedTotal,
      droppedReported: this.state.droppedReported,
    };
  }

  /** Every pending event, oldest first (for inspection and tests; not for uploading). */
  async *scan(): AsyncGenerator<Event> {
    for (const segment of [...this.segments]) {
      for (const entry of decodeRecords(await readFile(join(this.segmentsDir, segment.name)))) yield entry.event;
    }
  }
}

async function writeSegmentFile(path: string, data: Buffer): Promise<void> {
  // The caller fsyncs the segments folder once after all its renames (one commit may write
  // several segments), so the per-file folder fsync is skipped here.
  await writeFileAtomic(path, data, 0o600, { syncDir: false });
}

function cmp(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function maxSequence(events: readonly Event[]): bigint {
  let max = 0n;
  for (const e of events) if (BigInt(e.sequence) > max) max = BigInt(e.sequence);
  return max;
}

/** The batch id is a name-based UUID over the event ids, so the same events always form the same batch id. */
export function batchIdFor(events: readonly Event[]): string {
  return uuidV5(`batch:${events.map((e) => e.eventId).join(',')}`);
}

/**
 * Reads a spool without changing it, for `mamori-agent status` while the daemon may be running
 * (files can disappear between listing and reading; those are skipped).
 */
export async function inspectSpool(dir: string): Promise<{ events: number; bytes: number; droppedTotal: number; rejected: number }> {
  let events = 0;
  let bytes = 0;
  let droppedTotal = 0;
  let rejected = 0;
  const segmentsDir = join(dir, SEGMENTS_DIR);
  const names = await readdir(segmentsDir).catch(() => [] as string[]);
  for (const name of names) {
    if (parseSegmentName(name) === null) continue;
    try {
      const data = await readFile(join(segmentsDir, name));
      events += countRecords(data);
      bytes += data.length;
    } catch {
      // Acked and deleted (or rewritten) between readdir and readFile.
    }
  }
  try {
    const state = JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')) as Partial<SpoolState>;
    droppedTotal = Number(state.droppedTotal ?? 0);
  } catch {
    droppedTotal = 0;
  }
  rejected = (await readdir(join(dir, REJECTED_DIR)).catch(() => [] as string[])).filter((n) => n.endsWith('.json')).length;
  return { events, bytes, droppedTotal, rejected };
}
