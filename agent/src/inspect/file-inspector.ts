import { TextDecoder } from 'node:util';
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { BudgetExhausted, BudgetMeter, DEFAULT_INSPECTION_BUDGET, formatBytes, type InspectionBudget } from './budget';
import { csvDelimiter, sniffContent, SNIFF_BYTES, type Sniffed } from './content-sniffer';
import { inspectPdf } from './extractors/pdf-text';
import { TextContentInspector } from './extractors/text-content';
import { inspectZip, openZip } from './extractors/zip-archive';
import { FindingTally, type PersonalDataCount } from './findings';
import { addNote, type InspectionState } from './inspection-state';

export { DEFAULT_INSPECTION_BUDGET, type InspectionBudget } from './budget';

/** What the inspection of one file found; counts only, never the matched values. */
export interface FileInspection {
  /** Bytes hashed: the whole file as it was read. */
  sizeBytes: number;
  /** Lower-case hex SHA-256 of the whole file, streamed; always complete, whatever the budgets. */
  sha256: string;
  /** "text" | "csv" | "docx" | "xlsx" | "pptx" | "pdf" | "zip" | "ole" | "office-encrypted" | "binary" | "empty". */
  format: string;
  findings: PersonalDataCount[];
  /** The inspection read all the content it could: no budget stopped it and nothing readable was skipped. */
  complete: boolean;
  /** Why not complete, and what was skipped (password-protected entries); "" when there is nothing to say. */
  note: string;
  /** Password-protected zip entries (and password-protected Office files and PDFs) that were not opened. */
  encryptedEntries: number;
}

const READ_CHUNK = 256 * 1024;
/** A zip up to this size (and within the byte budget) is kept from the hashing read and opened in memory; larger ones are read again. */
const IN_MEMORY_ZIP = 32 * 1024 * 1024;
/** pdfjs needs the whole PDF in memory: a larger PDF is not parsed whatever the budget. */
const MAX_PDF = 128 * 1024 * 1024;

/** What happens to the file's bytes while they are hashed. */
interface ContentSink {
  write(chunk: Buffer): void;
  finish(): Promise<void>;
}

/**
 * Hashes the whole file and inspects its content for personal data within the budget.
 *
 * The file is read once, in chunks: every chunk is hashed, and the inspection sees the chunks as
 * they pass (text, CSV) or keeps them when the format needs random access (a zip or PDF that fits
 * the byte budget). Only a zip larger than that is read a second time, by the zip reader. A budget
 * that runs out stops the inspection, never the hash.
 *
 * Rejects only when the file cannot be read (ENOENT, EACCES, EIO when a stick is pulled) with the
 * system error and its `code`, or with the signal's reason when `signal` aborts. Content that
 * cannot be parsed (a broken zip or PDF) resolves with complete=false and a note.
 */
export async function inspectFile(path: string, budget: InspectionBudget = DEFAULT_INSPECTION_BUDGET, signal?: AbortSignal): Promise<FileInspection> {
  signal?.throwIfAborted();
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const meter = new BudgetMeter(budget, size);
    const state: InspectionState = { meter, tally: new FindingTally(), notes: [], encryptedEntries: 0, complete: true, signal };
    const hash = createHash('sha256');
    let hashed = 0;
    let sink: ContentSink | null = null;
    let format = 'empty';
    let head = Buffer.alloc(0);
    let inspecting = true;

    const stop = (error: unknown) => {
      if (!(error instanceof BudgetExhausted)) throw error;
      inspecting = false;
      state.complete = false;
      addNote(state, error.note);
    };
    const feed = (chunk: Buffer) => {
      if (!inspecting) return;
      try {
        sink!.write(chunk);
      } catch (error) {
        stop(error);
      }
    };

    for (;;) {
      signal?.throwIfAborted();
      const buffer = Buffer.allocUnsafe(READ_CHUNK);
      const { bytesRead } = await handle.read(buffer, 0, READ_CHUNK, null);
      if (bytesRead === 0) break;
      const chunk = buffer.subarray(0, bytesRead);
      hash.update(chunk);
      hashed += bytesRead;
      if (sink === null) {
        // Judge the content on its first 64 KiB (or all of it when the file is smaller).
        head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
        if (head.length < SNIFF_BYTES && hashed < size) continue;
        ({ sink, format } = chooseSink(sniffContent(head), head, path, state));
        feed(head);
        head = Buffer.alloc(0);
      } else feed(chunk);
    }
    if (sink === null) ({ sink, format } = chooseSink(sniffContent(head), head, path, state)), feed(head);
    if (inspecting) {
      try {
        await sink!.finish();
      } catch (error) {
        if (error instanceof BudgetExhausted) stop(error);
        else if ((error as Error).name === 'AbortError' || signal?.aborted) throw error;
        else {
          state.complete = false;
          addNote(state, `content could not be inspected: ${(error as Error).message}`);
        }
      }
    }
    if (sink instanceof ArchiveSink) format = sink.format ?? format;
    return {
      sizeBytes: hashed,
      sha256: hash.digest('hex'),
      format,
      findings: state.tally.toFindings(),
      complete: state.complete,
      note: state.notes.join('; '),
      encryptedEntries: state.encryptedEntries,
    };
  } finally {
    await handle.close();
  }
}

function chooseSink(sniffed: Sniffed, head: Buffer, path: string, state: InspectionState): { sink: ContentSink; format: string } {
  switch (sniffed.kind) {
    case 'text': {
      const sample = new TextDecoder(sniffed.encoding).decode(head.subarray(0, SNIFF_BYTES));
      const delimiter = csvDelimiter(sample, basename(path));
      return { sink: new TextSink(new TextContentInspector(sniffed.encoding, delimiter, state.tally), state), format: delimiter === null ? 'text' : 'csv' };
    }
    case 'zip':
      return { sink: new ArchiveSink(path, state), format: 'zip' };
    case 'pdf':
      return { sink: new PdfSink(state), format: 'pdf' };
    case 'ole':
      if (sniffed.encryptedOffice) {
        state.encryptedEntries++;
        addNote(state, 'password-protected Office document; not opened');
        return { sink: IGNORE, format: 'office-encrypted' };
      }
      state.complete = false;
      addNote(state, 'legacy Office binary file (OLE compound file); its content is not inspected');
      return { sink: IGNORE, format: 'ole' };
    case 'empty':
      return { sink: IGNORE, format: 'empty' };
    case 'binary':
      return { sink: IGNORE, format: 'binary' };
  }
}

const IGNORE: ContentSink = { write: () => undefined, finish: async () => undefined };

/** Text and CSV: inspected as the chunks pass, within the byte and time budgets. */
class TextSink implements ContentSink {
  constructor(private readonly text: TextContentInspector, private readonly state: InspectionState) {}

  write(chunk: Buffer): void {
    const meter = this.state.meter;
    const granted = meter.take(chunk.length);
    this.text.write(granted < chunk.length ? chunk.subarray(0, granted) : chunk);
    if (granted < chunk.length) throw meter.bytesExhausted();
    meter.checkTime(`after ${formatBytes(meter.bytesUsed)} of ${formatBytes(meter.totalBytes)}`);
  }

  async finish(): Promise<void> {
    this.text.end();
  }
}

/** Keeps the chunks of a file that needs random access, up to a limit; past it, `kept` is null. */
class KeptBytes {
  private chunks: Buffer[] | null = [];
  private length = 0;
  constructor(private readonly limit: number) {}

  add(chunk: Buffer): void {
    if (this.chunks === null) return;
    this.length += chunk.length;
    if (this.length > this.limit) this.chunks = null;
    else this.chunks.push(chunk);
  }

  get kept(): Buffer | null {
    return this.chunks === null ? null : Buffer.concat(this.chunks, this.length);
  }
}

/** Zip and Office Open XML: opened from the kept bytes when small, from the file otherwise. */
class ArchiveSink implements ContentSink {
  format: string | null = null;
  private readonly bytes: KeptBytes;
  constructor(private readonly path: string, private readonly state: InspectionState) {
    this.bytes = new KeptBytes(Math.min(IN_MEMORY_ZIP, state.meter.budget.maxBytes));
  }

  write(chunk: Buffer): void {
    this.bytes.add(chunk);
  }

  async finish(): Promise<void> {
    const kept = this.bytes.kept;
    if (kept === null) this.state.meter.restartClock();
    const zip = await openZip(kept === null ? { path: this.path } : { buffer: kept }).catch((error: Error) => {
      throw new Error(`not a readable zip archive (${error.message})`);
    });
    await inspectZip(zip, this.state, 1, '', (format) => (this.format = format));
  }
}

/** PDF: pdfjs needs the whole document, so it is parsed only when it fits the byte budget. */
class PdfSink implements ContentSink {
  private readonly bytes: KeptBytes;
  constructor(private readonly state: InspectionState) {
    this.bytes = new KeptBytes(Math.min(MAX_PDF, state.meter.budget.maxBytes));
  }

  write(chunk: Buffer): void {
    this.bytes.add(chunk);
  }

  async finish(): Promise<void> {
    const kept = this.bytes.kept;
    const meter = this.state.meter;
    if (kept === null) {
      this.state.complete = false;
      addNote(this.state, `PDF of ${formatBytes(meter.totalBytes)} is larger than the byte budget of ${formatBytes(Math.min(MAX_PDF, meter.budget.maxBytes))}; its text was not extracted`);
      return;
    }
    meter.take(kept.length);
    await inspectPdf(new Uint8Array(kept.buffer, kept.byteOffset, kept.length), this.state, 'the PDF');
  }
}
