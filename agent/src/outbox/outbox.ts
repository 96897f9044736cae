import { open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { eventsDroppedEvent, type EventDraft } from '../core/event-factory';
import { uuidV5 } from '../core/ids';
import { Event } from '../generated/mamori/v1/events';
import { silentLogger, type Logger } from '../logging/logger';
import { ensurePrivateDir, fsyncDir, TEMP_SUFFIX, writeFileAtomic } from '../state/atomic-file';
import {
  countCompleteRecords,
  countRecords,
  decodeDurablePrefix,
  decodeRecords,
  encodeRecord,
  headSegmentName,
  parseHeadName,
  parseSegmentName,
  segmentName,
} from './segment-codec';

/**
 * The outcome of an append. `accepted` means the event is on disk (fsynced) and will be
 * uploaded; `spool-full` means it was dropped and counted in the persisted drop counter, which
 * the agent reports.
 */
export type AppendOutcome = { accepted: true; sequence: bigint } | { accepted: false; reason: 'spool-full' };

/** Where a batch's event lives: the segment's stable key and the event's sequence. */
export interface EventLocation {
  segment: string;
  sequence: bigint;
}

/** A batch read from the outbox: the oldest pending events, with an id stable across retries and restarts. */
export interface OutboxBatch {
  readonly batchId: string;
  readonly events: readonly Event[];
  /** Where each event lives, so ack/reject can remove exactly these records. */
  readonly locations: readonly EventLocation[];
}

export interface OutboxStats {
  events: number;
  bytes: number;
  segments: number;
  droppedTotal: number;
  droppedReported: number;
  rejectedDiscarded: number;
}

/**
 * The file operations whose failure the outbox must survive (a full or failing disk). A seam so
 * tests can make them fail; the default is node:fs with fsync.
 */
export interface SpoolIo {
  /** Replaces `path` with `data` via temp file, fsync and rename; the caller fsyncs the folder. */
  replaceFile(path: string, data: Uint8Array): Promise<void>;
  /** Writes `data` at `offset` (creating the file), cuts the file right after it, and fsyncs it. */
  writeAt(path: string, data: Uint8Array, offset: number): Promise<void>;
  /** Makes renames, creations and deletions in `dir` durable. */
  syncDir(dir: string): Promise<void>;
}

export const nodeSpoolIo: SpoolIo = {
  replaceFile: (path, data) => writeFileAtomic(path, data, 0o600, { syncDir: false }),
  writeAt: async (path, data, offset) => {
    const handle = await open(path, offset === 0 ? 'w' : 'r+', 0o600);
    try {
      let written = 0;
      while (written < data.length) {
        const { bytesWritten } = await handle.write(data, written, data.length - written, offset + written);
        written += bytesWritten;
      }
      // Bytes a failed earlier append may have left beyond the durable end go.
      await handle.truncate(offset + data.length);
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
  syncDir: fsyncDir,
};

export interface OutboxOptions {
  /** The spool folder; created 0700. One outbox per folder at a time (the daemon holds a lock). */
  dir: string;
  /** Upper bound of the bytes the spool's segments may hold; appends beyond it are dropped and counted. */
  maxBytes: number;
  /** Most events in one batch; also the most events one segment file holds. */
  maxBatchEvents: number;
  /** Most bytes one batch's UploadEventsRequest may take (at least one event is always sent). Default 1 MiB. */
  maxBatchBytes?: number;
  /** rejected/ keeps at most this many files (oldest deleted first, and counted). Default 1,000. */
  maxRejectedFiles?: number;
  /** rejected/ keeps at most this many bytes. Default 10 MiB. */
  maxRejectedBytes?: number;
  /** How long a commit waits to gather concurrent appends into one fsync (group commit). */
  commitDelayMs?: number;
  logger?: Logger;
  clock?: () => Date;
  /** Builds the report queued after drops; defaults to an AgentStatus without policy version. */
  dropReport?: (droppedTotal: number, at: Date) => EventDraft;
  io?: SpoolIo;
}

export const DEFAULT_MAX_BATCH_BYTES = 1024 * 1024;
export const DEFAULT_MAX_REJECTED_FILES = 1000;
export const DEFAULT_MAX_REJECTED_BYTES = 10 * 1024 * 1024;
/** The UploadEventsRequest's own bytes besides its events (tag, length and a 36-character batch id), rounded up. */
const BATCH_OVERHEAD_BYTES = 64;
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 5_000;

interface SegmentInfo {
  /** Stable for the segment's life in this process, though its file name changes. */
  key: string;
  name: string;
  first: bigint;
  /** The highest sequence the segment was given (an upper bound once records were removed). */
  last: bigint;
  count: number;
  bytes: number;
}

interface SpoolState {
  /** Highest sequence ever handed out and then removed from the spool (acked or rejected). */
  highWaterSequence: string;
  droppedTotal: number;
  droppedReported: number;
  /** Files deleted from rejected/ to keep it within its bound. */
  rejectedDiscarded: number;
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
 * - `append` resolves only after the event is durable. Group commits extend an open head
 *   segment (`<first>.open`) in place: write after its last durable byte, cut the file there,
 *   fsync (a new head's name is fsynced into the folder too). When the head holds
 *   maxBatchEvents records it is renamed `<first>-<last>.seg` and closed, so a long outage
 *   makes about one file per maxBatchEvents events, not one per commit. `append` rejects when
 *   the disk write fails (the caller keeps the event and retries; the commit loop backs off
 *   100 ms doubling to 5 s), and resolves `spool-full` when the byte bound is hit: the event is
 *   dropped, the persisted drop counter says so, and an AGENT_STATE_EVENTS_DROPPED event is
 *   queued once there is room again.
 * - Sequence numbers are assigned here, per spool, strictly increasing, and never reused after a
 *   crash: the highest sequence removed from the spool is persisted before the removal.
 * - `readBatch` returns the oldest events, at most maxBatchEvents and maxBatchBytes (or the
 *   smaller limit the caller asks for); the batch id is derived from the event ids it carries,
 *   and the batch's range is persisted (`inflight.json`) so the first batch after a restart is
 *   the same batch with the same id. A segment whose content does not decode is moved to
 *   `rejected/` and its events are counted as dropped, so one bad file cannot stop uploads.
 * - `ack` deletes exactly the batch's events; `reject` moves one event to `rejected/`.
 *   rejected/ is bounded (files and bytes); what is deleted to keep it so is counted.
 * - After kill -9 or power loss at any point: temp files are deleted at open; a closed segment
 *   is either fully present or absent; a head's torn tail (appends that never resolved) is cut
 *   off, never a resolved record before it; an acked-but-not-yet-deleted batch is resent with
 *   the same event ids (the collector stores each id once).
 * One consumer (the uploader) calls readBatch/ack/reject; any number of producers append.
 * Everything that touches segment files runs one at a time (commits, reads, removals).
 */
export class Outbox {
  private readonly segmentsDir: string;
  private readonly rejectedDir: string;
  private readonly logger: Logger;
  private readonly clock: () => Date;
  private readonly commitDelayMs: number;
  private readonly maxBatchBytes: number;
  private readonly dropReport: (droppedTotal: number, at: Date) => EventDraft;
  private readonly io: SpoolIo;
  /** Oldest first (insertion order), keyed by SegmentInfo.key. */
  private readonly segments = new Map<string, SegmentInfo>();
  /** The segment commits extend, or null when the next commit starts one. */
  private head: SegmentInfo | null = null;
  private totalBytes = 0;
  private totalEvents = 0;
  private nextSequence = 1n;
  private state: SpoolState = { highWaterSequence: '0', droppedTotal: 0, droppedReported: 0, rejectedDiscarded: 0 };
  private inflight: InflightRecord | null = null;
  private pending: PendingAppend[] = [];
  private commitLoop: Promise<void> | null = null;
  /** 0 while writes succeed; else how long the commit loop waits before trying again. */
  private retryDelayMs = 0;
  private fileQueue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(private readonly options: OutboxOptions) {
    this.segmentsDir = join(options.dir, SEGMENTS_DIR);
    this.rejectedDir = join(options.dir, REJECTED_DIR);
    this.logger = options.logger ?? silentLogger;
    this.clock = options.clock ?? (() => new Date());
    this.commitDelayMs = options.commitDelayMs ?? 2;
    this.maxBatchBytes = options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
    this.dropReport = options.dropReport ?? ((total, at) => eventsDroppedEvent(total, at));
    this.io = options.io ?? nodeSpoolIo;
    if (!(options.maxBytes > 0)) throw new Error('outbox maxBytes must be positive');
    if (!(options.maxBatchEvents > 0)) throw new Error('outbox maxBatchEvents must be positive');
    if (!(this.maxBatchBytes > 0)) throw new Error('outbox maxBatchBytes must be positive');
  }

  /** Opens (creating if needed) the spool in `options.dir` and recovers from whatever a crash left. */
  static async open(options: OutboxOptions): Promise<Outbox> {
    const outbox = new Outbox(options);
    await outbox.recover();
    return outbox;
  }

  /** Runs `task` after every earlier file task, so no two of them touch the segments at once. */
  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.fileQueue.then(task, task);
    this.fileQueue = run.catch(() => undefined);
    return run;
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
    this.state = await this.loadState();

    interface Found {
      name: string;
      first: bigint;
      last: bigint;
      /** Decoded records of a head (read first, to learn its range); closed segments are decoded later. */
      head: { entries: { event: Event; record: Uint8Array }[] } | null;
    }
    const found: Found[] = [];
    let highest = BigInt(this.state.highWaterSequence);
    for (const name of await readdir(this.segmentsDir)) {
      const range = parseSegmentName(name);
      if (range !== null) {
        found.push({ name, ...range, head: null });
        if (range.last > highest) highest = range.last;
        continue;
      }
      const first = parseHeadName(name);
      if (first === null) continue;
      const head = await this.recoverHead(name, first);
      if (head === null) continue;
      found.push({ name, first, last: BigInt(head.entries[head.entries.length - 1].event.sequence), head });
    }
    for (const f of found) if (f.last > highest) highest = f.last;
    // A closed file sorts after a head with the same range: it is the head's rewrite, and newer.
    found.sort((a, b) => cmp(a.first, b.first) || cmp(a.last, b.last) || (a.head === null ? 1 : 0) - (b.head === null ? 1 : 0));

    const kept: Found[] = [];
    for (const segment of found) {
      const previous = kept[kept.length - 1];
      if (previous !== undefined && previous.last === segment.last) {
        // A removal rewrites the remainder under a higher first sequence (or a head under a closed
        // name), then deletes the old file; a crash in between leaves both, and the remainder is the truth.
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
      let path = join(this.segmentsDir, segment.name);
      if (segment.head !== null) {
        // Close recovered heads: the next commit starts a fresh one, so a head is only ever
        // extended by the process that created it and knows where its durable end is.
        const closedName = segmentName(segment.first, segment.last);
        await rename(path, join(this.segmentsDir, closedName));
        segment.name = closedName;
        path = join(this.segmentsDir, closedName);
        const bytes = segment.head.entries.reduce((n, e) => n + e.record.length, 0);
        this.addSegment({ key: segment.first.toString(), name: closedName, first: segment.first, last: segment.last, count: segment.head.entries.length, bytes });
        continue;
      }
      let data: Buffer;
      try {
        data = await readFile(path);
        // Decode every event, not just the framing: a segment whose framing is intact but whose
        // content is not would otherwise stop readBatch on every attempt.
        const entries = decodeRecords(data);
        if (entries.length === 0) {
          await unlink(path);
          continue;
        }
        this.addSegment({ key: segment.first.toString(), name: segment.name, first: segment.first, last: segment.last, count: entries.length, bytes: data.length });
      } catch (error) {
        await this.quarantine(segment.name, error as Error, estimateCount(await readFile(path).catch(() => null), segment.first, segment.last)).catch(
          (moveError: Error) => this.logger.error('could not move the unreadable segment aside; it is skipped until the next start', { segment: segment.name, error: moveError }),
        );
      }
    }

    this.inflight = await this.loadJson<InflightRecord>(join(this.options.dir, INFLIGHT_FILE));
    // Every named segment counts, quarantined ones too: their sequences were handed out once.
    this.nextSequence = highest + 1n;
    await this.io.syncDir(this.segmentsDir);
    await this.pruneRejected();
  }

  /** Reads a head left by a previous run, cuts a torn tail (saved aside), and returns its durable records; null when it has none. */
  private async recoverHead(name: string, first: bigint): Promise<{ entries: { event: Event; record: Uint8Array }[] } | null> {
    const path = join(this.segmentsDir, name);
    const data = await readFile(path);
    const { entries, goodBytes, problem } = decodeDurablePrefix(data, first);
    if (problem !== null) {
      // Appends resolve only after their fsync, so what follows the last good record was never
      // promised to anyone; it is kept in rejected/ in case it is bit rot rather than a torn write.
      const aside = join(this.rejectedDir, `${name}.${goodBytes}.torn`);
      this.logger.warn('outbox head segment has a torn tail (a crash during an append); cutting it off', {
        segment: name,
        problem,
        durableRecords: entries.length,
        cutBytes: data.length - goodBytes,
        savedAs: aside,
      });
      await writeFileAtomic(aside, data.subarray(goodBytes)).catch((error: Error) => this.logger.error('could not save the torn tail', { error }));
      if (entries.length > 0) await this.io.writeAt(path, new Uint8Array(0), goodBytes);
    }
    if (entries.length === 0) {
      await unlink(path);
      return null;
    }
    return { entries };
  }

  /** Moves an unreadable segment aside and counts its events as dropped (they will never be uploaded). */
  private async quarantine(name: string, error: Error, events: number): Promise<void> {
    const target = join(this.rejectedDir, `${name}.corrupt`);
    this.logger.error('OUTBOX SEGMENT IS UNREADABLE: moved aside for inspection, its events counted as dropped', {
      segment: name,
      error,
      events,
      movedTo: target,
    });
    await rename(join(this.segmentsDir, name), target);
    this.state.droppedTotal += events;
    // The file is gone from segments/ now; a failure to persist the counter must not undo that
    // (the counter is in memory and goes out with the next state write).
    await this.writeState().catch((error: Error) => this.logger.error('outbox could not persist its drop counter', { error }));
    await this.pruneRejected();
  }

  private async loadState(): Promise<SpoolState> {
    const loaded = await this.loadJson<Partial<SpoolState>>(join(this.options.dir, STATE_FILE));
    const count = (value: unknown) => (Number.isSafeInteger(value) && (value as number) >= 0 ? (value as number) : 0);
    return {
      highWaterSequence: typeof loaded?.highWaterSequence === 'string' && /^\d+$/.test(loaded.highWaterSequence) ? loaded.highWaterSequence : '0',
      droppedTotal: count(loaded?.droppedTotal),
      droppedReported: count(loaded?.droppedReported),
      rejectedDiscarded: count(loaded?.rejectedDiscarded),
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

  private async writeSmallFile(name: string, text: string): Promise<void> {
    await this.io.replaceFile(join(this.options.dir, name), Buffer.from(text));
    await this.io.syncDir(this.options.dir);
  }

  private async writeState(): Promise<void> {
    await this.writeSmallFile(STATE_FILE, JSON.stringify(this.state));
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
    // After a failed write, wait before the next try: a failing disk must not be hammered
    // (a drop report that is owed would otherwise be retried in a tight loop).
    const delay = this.retryDelayMs > 0 ? this.retryDelayMs : this.commitDelayMs;
    this.commitLoop = new Promise<void>((r) => setTimeout(r, delay))
      .then(() => this.drain())
      .finally(() => {
        this.commitLoop = null;
        if (!this.closed && (this.pending.length > 0 || this.reportFits())) this.schedule();
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
      const committed = await this.exclusive(() => this.commitGroup(group));
      if (!committed) {
        this.retryDelayMs = Math.min(RETRY_MAX_MS, Math.max(RETRY_FIRST_MS, this.retryDelayMs * 2));
        return;
      }
      this.retryDelayMs = 0;
    }
  }

  /** Commits one group; false when the disk write failed (its appends were rejected). */
  private async commitGroup(group: PendingAppend[]): Promise<boolean> {
    let sequence = this.nextSequence;
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

    try {
      await this.writeRecords(records);
    } catch (error) {
      // Never hand out these sequence numbers again, even though the write failed: the bytes may
      // have reached the disk (a failed fsync says nothing about that).
      this.nextSequence = sequence;
      this.logger.error('outbox write failed; the events were not taken', { error: error as Error, events: group.length });
      for (const item of group) item.reject(error as Error);
      return false;
    }
    this.nextSequence = sequence;

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
    return true;
  }

  /** Appends records to the head (starting a new one, closing full ones); durable when it returns. */
  private async writeRecords(records: { record: Uint8Array; sequence: bigint }[]): Promise<void> {
    const max = this.options.maxBatchEvents;
    let i = 0;
    while (i < records.length) {
      const head = this.head;
      if (head === null) {
        const chunk = records.slice(i, i + max);
        const data = Buffer.concat(chunk.map((c) => c.record));
        const first = chunk[0].sequence;
        const name = headSegmentName(first);
        await this.io.writeAt(join(this.segmentsDir, name), data, 0);
        // The new name must survive a power loss before any of its appends resolves.
        await this.io.syncDir(this.segmentsDir);
        const info: SegmentInfo = { key: first.toString(), name, first, last: chunk[chunk.length - 1].sequence, count: chunk.length, bytes: data.length };
        this.addSegment(info);
        this.head = info;
        i += chunk.length;
      } else {
        const chunk = records.slice(i, i + (max - head.count));
        const data = Buffer.concat(chunk.map((c) => c.record));
        await this.io.writeAt(join(this.segmentsDir, head.name), data, head.bytes);
        head.last = chunk[chunk.length - 1].sequence;
        head.count += chunk.length;
        head.bytes += data.length;
        this.totalEvents += chunk.length;
        this.totalBytes += data.length;
        i += chunk.length;
      }
      if (this.head !== null && this.head.count >= max) await this.closeHead();
    }
  }

  /**
   * Gives a full head its closed name. Its records are already durable, so a failure here is not
   * a failed append: the file keeps its head name (recovery closes it) and the next commit
   * starts a new head.
   */
  private async closeHead(): Promise<void> {
    const head = this.head!;
    this.head = null;
    const closedName = segmentName(head.first, head.last);
    try {
      await rename(join(this.segmentsDir, head.name), join(this.segmentsDir, closedName));
      head.name = closedName;
      await this.io.syncDir(this.segmentsDir);
    } catch (error) {
      this.logger.warn('outbox could not close a full head segment; it is closed at the next start', { segment: head.name, error: error as Error });
    }
  }

  private addSegment(info: SegmentInfo): void {
    this.segments.set(info.key, info);
    this.totalBytes += info.bytes;
    this.totalEvents += info.count;
  }

  private dropSegment(info: SegmentInfo): void {
    this.segments.delete(info.key);
    this.totalBytes -= info.bytes;
    this.totalEvents -= info.count;
    if (this.head === info) this.head = null;
  }

  /** Resolves once every append made so far has been committed, dropped or refused. */
  async flush(): Promise<void> {
    while (this.pending.length > 0) {
      if (this.commitLoop === null) this.schedule();
      await this.commitLoop;
    }
    // A commit without appends (a drop report) may be under way; let it finish, but do not wait
    // for the retries of a failing disk.
    if (this.commitLoop !== null) await this.commitLoop;
  }

  /** Flushes and stops accepting appends. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }

  /**
   * The oldest pending events: at most maxBatchEvents (or `limit.maxEvents` when smaller) and
   * maxBatchBytes of UploadEventsRequest, at least one event; null when the spool is empty.
   */
  readBatch(limit: { maxEvents?: number } = {}): Promise<OutboxBatch | null> {
    return this.exclusive(() => this.readBatchNow(Math.max(1, Math.min(this.options.maxBatchEvents, limit.maxEvents ?? Infinity))));
  }

  private async readBatchNow(maxEvents: number): Promise<OutboxBatch | null> {
    const events: Event[] = [];
    const locations: EventLocation[] = [];
    let stopAt: bigint | null = null;
    let firstChecked = false;
    let bytes = BATCH_OVERHEAD_BYTES;
    outer: for (const segment of [...this.segments.values()]) {
      let entries;
      try {
        entries = decodeRecords(await readFile(join(this.segmentsDir, segment.name)));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== undefined) throw error; // a read error: retried by the caller
        // The content changed under us (bit rot, a stray writer): it can never be sent, and
        // retrying it would stop every upload behind it.
        await this.quarantine(segment.name, error as Error, segment.count);
        this.dropSegment(segment);
        if (this.reportFits()) this.schedule();
        continue;
      }
      for (const { event, record } of entries) {
        const seq = BigInt(event.sequence);
        if (!firstChecked) {
          firstChecked = true;
          if (this.inflight !== null && BigInt(this.inflight.first) === seq) stopAt = BigInt(this.inflight.last);
        }
        // The event's size inside the request: its tag byte plus the same length-prefixed bytes as the record.
        const size = record.length + 1;
        if (events.length > 0 && bytes + size > this.maxBatchBytes) break outer;
        events.push(event);
        locations.push({ segment: segment.key, sequence: seq });
        bytes += size;
        if (events.length >= maxEvents || (stopAt !== null && seq >= stopAt)) break outer;
      }
    }
    if (events.length === 0) return null;
    const first = events[0].sequence;
    const last = events[events.length - 1].sequence;
    if (this.inflight === null || this.inflight.first !== first || this.inflight.last !== last) {
      this.inflight = { first, last };
      await this.writeSmallFile(INFLIGHT_FILE, JSON.stringify(this.inflight));
    }
    return { batchId: batchIdFor(events), events, locations };
  }

  /** The collector acknowledged the batch: remove its events for good. */
  async ack(batch: OutboxBatch): Promise<void> {
    if (batch.events.length === 0) return;
    await this.exclusive(async () => {
      await this.raiseHighWater(maxSequence(batch.events));
      await this.removeRecords(batch.locations);
      await this.clearInflight();
    });
    if (this.reportFits()) this.schedule();
  }

  /**
   * The collector refused event `index` of the batch (malformed, or too large to ever be
   * accepted): keep it in `rejected/` with the collector's message (for a human to look at) and
   * take it out of the upload stream.
   */
  async reject(batch: OutboxBatch, index: number, message: string): Promise<string> {
    const event = batch.events[index];
    const location = batch.locations[index];
    if (event === undefined || location === undefined) throw new Error(`no event at index ${index} of batch ${batch.batchId}`);
    const file = join(this.rejectedDir, `${event.sequence.padStart(20, '0')}-${event.eventId}.json`);
    await this.exclusive(async () => {
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
      await this.pruneRejected();
    });
    return file;
  }

  /**
   * Keeps rejected/ within maxRejectedFiles and maxRejectedBytes by deleting the oldest files;
   * the number deleted is persisted and shown by `status`. Failures are logged, not thrown: the
   * bound is housekeeping and must not stop uploads.
   */
  private async pruneRejected(): Promise<void> {
    const maxFiles = this.options.maxRejectedFiles ?? DEFAULT_MAX_REJECTED_FILES;
    const maxBytes = this.options.maxRejectedBytes ?? DEFAULT_MAX_REJECTED_BYTES;
    try {
      const files: { name: string; size: number; mtimeMs: number }[] = [];
      for (const name of await readdir(this.rejectedDir)) {
        if (name.endsWith(TEMP_SUFFIX)) continue;
        const info = await stat(join(this.rejectedDir, name)).catch(() => null);
        if (info?.isFile()) files.push({ name, size: info.size, mtimeMs: info.mtimeMs });
      }
      files.sort((a, b) => a.mtimeMs - b.mtimeMs || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      let bytes = files.reduce((n, f) => n + f.size, 0);
      let count = files.length;
      const discarded: string[] = [];
      for (const file of files) {
        if (count <= maxFiles && bytes <= maxBytes) break;
        await unlink(join(this.rejectedDir, file.name));
        discarded.push(file.name);
        count -= 1;
        bytes -= file.size;
      }
      if (discarded.length === 0) return;
      this.state.rejectedDiscarded += discarded.length;
      this.logger.warn('rejected/ is full: deleted its oldest files (counted in status)', {
        deleted: discarded.length,
        oldestDeleted: discarded[0],
        rejectedDiscardedTotal: this.state.rejectedDiscarded,
        maxFiles,
        maxBytes,
      });
      await this.writeState();
    } catch (error) {
      this.logger.error('could not keep rejected/ within its bound', { error: error as Error });
    }
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

  private async removeRecords(locations: readonly EventLocation[]): Promise<void> {
    const bySegment = new Map<string, Set<string>>();
    for (const { segment, sequence } of locations) {
      const set = bySegment.get(segment) ?? new Set<string>();
      set.add(sequence.toString());
      bySegment.set(segment, set);
    }
    for (const [key, sequences] of bySegment) {
      const info = this.segments.get(key);
      if (info === undefined) continue;
      const path = join(this.segmentsDir, info.name);
      const entries = decodeRecords(await readFile(path));
      const remaining = entries.filter((e) => !sequences.has(e.event.sequence));
      if (remaining.length === 0) {
        await unlink(path);
        this.dropSegment(info);
        continue;
      }
      const data = Buffer.concat(remaining.map((e) => e.record));
      const firstRemaining = BigInt(remaining[0].event.sequence);
      // The remainder is written as a closed segment (a head stops being extended here). A
      // removed prefix gives it a higher first sequence, and a head's rewrite gets a closed name;
      // recovery prefers the rewrite if the old file survives a crash. A closed segment losing
      // later records is replaced in place.
      const newName = segmentName(firstRemaining, info.last);
      await this.io.replaceFile(join(this.segmentsDir, newName), data);
      if (newName !== info.name) {
        // The remainder must be durable before its predecessor goes.
        await this.io.syncDir(this.segmentsDir);
        await unlink(path);
      }
      if (this.head === info) this.head = null;
      this.totalBytes += data.length - info.bytes;
      this.totalEvents += remaining.length - info.count;
      Object.assign(info, { name: newName, first: firstRemaining, count: remaining.length, bytes: data.length });
    }
    await this.io.syncDir(this.segmentsDir);
  }

  stats(): OutboxStats {
    return {
      events: this.totalEvents,
      bytes: this.totalBytes,
      segments: this.segments.size,
      droppedTotal: this.state.droppedTotal,
      droppedReported: this.state.droppedReported,
      rejectedDiscarded: this.state.rejectedDiscarded,
    };
  }

  /** Every pending event, oldest first (for inspection and tests; not for uploading). */
  async *scan(): AsyncGenerator<Event> {
    for (const segment of [...this.segments.values()]) {
      const data = await this.exclusive(() => (this.segments.has(segment.key) ? readFile(join(this.segmentsDir, segment.name)) : Promise.resolve(null)));
      if (data === null) continue;
      for (const entry of decodeRecords(data)) yield entry.event;
    }
  }
}

function cmp(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** How many events an unreadable segment held: its framing count when that is intact, else its name's range (an upper bound). */
function estimateCount(data: Buffer | null, first: bigint, last: bigint): number {
  if (data !== null) {
    try {
      return countRecords(data);
    } catch {
      // Framing broken too; fall back to the range.
    }
  }
  return Number(last - first + 1n);
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
export async function inspectSpool(
  dir: string,
): Promise<{ events: number; bytes: number; droppedTotal: number; rejected: number; rejectedDiscarded: number }> {
  let events = 0;
  let bytes = 0;
  let droppedTotal = 0;
  let rejectedDiscarded = 0;
  const segmentsDir = join(dir, SEGMENTS_DIR);
  const names = await readdir(segmentsDir).catch(() => [] as string[]);
  for (const name of names) {
    const closed = parseSegmentName(name) !== null;
    if (!closed && parseHeadName(name) === null) continue;
    try {
      const data = await readFile(join(segmentsDir, name));
      // A head may be mid-append while we read it; count its whole records only.
      events += closed ? countRecords(data) : countCompleteRecords(data);
      bytes += data.length;
    } catch {
      // Acked and deleted (or rewritten) between readdir and readFile.
    }
  }
  try {
    const state = JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')) as Partial<SpoolState>;
    droppedTotal = Number(state.droppedTotal ?? 0);
    rejectedDiscarded = Number(state.rejectedDiscarded ?? 0);
  } catch {
    droppedTotal = 0;
  }
  const rejected = (await readdir(join(dir, REJECTED_DIR)).catch(() => [] as string[])).filter((n) => n.endsWith('.json')).length;
  return { events, bytes, droppedTotal, rejected, rejectedDiscarded };
}
