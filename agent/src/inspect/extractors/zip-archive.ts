import { TextDecoder } from 'node:util';
import yauzl, { type Entry, type ZipFile } from 'yauzl';
import { BudgetExhausted, formatBytes } from '../budget';
import { csvDelimiter, sniffContent, SNIFF_BYTES } from '../content-sniffer';
import { addNote, type InspectionState } from '../inspection-state';
import { OfficeTextCollector, SharedStringsCollector, WorksheetCollector } from './office-xml';
import { inspectPdf } from './pdf-text';
import { TextContentInspector } from './text-content';
import { XmlTokenizer, type XmlHandler } from './xml-tokens';

/** Archives inside archives are opened this deep (the file itself is level 1). */
export const MAX_ARCHIVE_DEPTH = 3;
/** An archive or PDF inside an archive is read into memory to be opened: never more than this. */
export const MAX_NESTED_BYTES = 64 * 1024 * 1024;
/** A central directory listing more entries than this is read only this far (entry-count bombs). */
export const MAX_ENTRIES = 100_000;

const ZIP_OPTIONS = { lazyEntries: true, autoClose: false, decodeStrings: true, validateEntrySizes: true, strictFileNames: false } as const;

export type ZipSource = { path: string } | { buffer: Buffer };

export async function openZip(source: ZipSource): Promise<ZipFile> {
  return 'path' in source ? yauzl.openPromise(source.path, ZIP_OPTIONS) : yauzl.fromBufferPromise(source.buffer, ZIP_OPTIONS);
}

async function listEntries(zip: ZipFile, state: InspectionState, label: string): Promise<Entry[]> {
  const entries: Entry[] = [];
  for await (const entry of zip.eachEntry()) {
    if (entries.length >= MAX_ENTRIES) {
      addNote(state, `${label} lists ${zip.entryCount} entries; only the first ${MAX_ENTRIES} were looked at`);
      state.complete = false;
      break;
    }
    entries.push(entry);
  }
  return entries;
}

const isDirectory = (entry: Entry) => entry.fileName.endsWith('/');
const isEncrypted = (entry: Entry) => (entry.generalPurposeBitFlag & 0x1) !== 0;

/**
 * Streams one entry's uncompressed bytes through the byte budget to `onChunk`, which returns false
 * when it has seen enough. Throws BudgetExhausted when the budget ends inside the entry; the
 * decompression stream is destroyed then, so a zip bomb costs no more than the budget.
 */
async function readEntry(zip: ZipFile, entry: Entry, state: InspectionState, where: string, onChunk: (chunk: Buffer) => boolean | void): Promise<void> {
  const stream = await zip.openReadStreamPromise(entry);
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      state.signal?.throwIfAborted();
      const granted = state.meter.take(chunk.length);
      const more = onChunk(granted < chunk.length ? chunk.subarray(0, granted) : chunk);
      if (granted < chunk.length) throw state.meter.bytesExhausted();
      state.meter.checkTime(`in ${where}`);
      if (more === false) break;
    }
  } finally {
    stream.destroy();
  }
}

/** Feeds an XML part, decoded as UTF-8 (or UTF-16 when it starts with a BOM), to a handler. */
async function readXmlPart(zip: ZipFile, entry: Entry, state: InspectionState, where: string, handler: XmlHandler & { end?(): void }): Promise<void> {
  const tokenizer = new XmlTokenizer(handler);
  let decoder: TextDecoder | null = null;
  await readEntry(zip, entry, state, where, (chunk) => {
    decoder ??= new TextDecoder(chunk[0] === 0xff && chunk[1] === 0xfe ? 'utf-16le' : chunk[0] === 0xfe && chunk[1] === 0xff ? 'utf-16be' : 'utf-8');
    tokenizer.write(decoder.decode(chunk, { stream: true }));
  });
  tokenizer.write(decoder === null ? '' : (decoder as TextDecoder).decode());
  tokenizer.end();
  handler.end?.();
}

const numbered = (pattern: RegExp) => (entries: Entry[]) =>
  entries
    .map((entry) => ({ entry, n: pattern.exec(entry.fileName) }))
    .filter((x) => x.n !== null)
    .sort((a, b) => Number(a.n![1] || 0) - Number(b.n![1] || 0) || a.entry.fileName.localeCompare(b.entry.fileName))
    .map((x) => x.entry);

const WORD_PARTS = [/^word\/document\.xml$/, /^word\/header(\d*)\.xml$/, /^word\/footer(\d*)\.xml$/, /^word\/(?:foot|end)notes\.xml$/, /^word\/comments\.xml$/].map((p) => numbered(p));
const SLIDE_PARTS = [/^ppt\/slides\/slide(\d+)\.xml$/, /^ppt\/notesSlides\/notesSlide(\d+)\.xml$/].map((p) => numbered(p));
const SHEETS = numbered(/^xl\/worksheets\/sheet(\d+)\.xml$/);
const EMBEDDINGS = /^(?:word|xl|ppt)\/embeddings\//;

export type ArchiveFormat = 'docx' | 'xlsx' | 'pptx' | 'zip';

export function archiveFormat(names: ReadonlySet<string>): ArchiveFormat {
  if (names.has('word/document.xml')) return 'docx';
  if (names.has('xl/workbook.xml')) return 'xlsx';
  if (names.has('ppt/presentation.xml')) return 'pptx';
  return 'zip';
}

/**
 * Inspects a zip file: Office Open XML parts by their meaning (docx text, xlsx sheets with their
 * header rows, pptx slides and notes), any other zip entry by its content (text, CSV, PDF, inner
 * archives to MAX_ARCHIVE_DEPTH). Password-protected entries (general-purpose bit 0) are counted
 * and never opened. Resolves with the format the archive turned out to be.
 */
export async function inspectZip(zip: ZipFile, state: InspectionState, depth: number, label: string, onFormat?: (format: ArchiveFormat) => void): Promise<ArchiveFormat> {
  try {
    const entries = await listEntries(zip, state, label || 'the archive');
    const names = new Set(entries.map((e) => e.fileName));
    const format = archiveFormat(names);
    // Told before the parts are read, so that a budget running out inside them still leaves the format known.
    onFormat?.(format);
    const where = (entry: Entry) => (label === '' ? entry.fileName : `${label}/${entry.fileName}`);
    const encrypted = entries.filter((e) => !isDirectory(e) && isEncrypted(e));
    state.encryptedEntries += encrypted.length;
    if (encrypted.length > 0) addNote(state, `${encrypted.length} password-protected ${encrypted.length === 1 ? 'entry' : 'entries'} ${label === '' ? '' : `in ${label} `}not opened`);
    const readable = entries.filter((e) => !isDirectory(e) && !isEncrypted(e));

    const plan: Array<{ entry: Entry; run: () => Promise<void> }> = [];
    if (format === 'docx' || format === 'pptx') {
      const parts = (format === 'docx' ? WORD_PARTS : SLIDE_PARTS).flatMap((select) => select(readable));
      for (const entry of parts) plan.push({ entry, run: () => readXmlPart(zip, entry, state, where(entry), new OfficeTextCollector(state.tally)) });
    } else if (format === 'xlsx') {
      const shared = new SharedStringsCollector();
      const sharedEntry = readable.find((e) => e.fileName === 'xl/sharedStrings.xml');
      if (sharedEntry !== undefined) plan.push({ entry: sharedEntry, run: () => readXmlPart(zip, sharedEntry, state, where(sharedEntry), shared) });
      for (const entry of SHEETS(readable)) plan.push({ entry, run: () => readXmlPart(zip, entry, state, where(entry), new WorksheetCollector(state.tally, shared.strings)) });
    }
    const others = format === 'zip' ? readable : readable.filter((e) => EMBEDDINGS.test(e.fileName));
    for (const entry of others) plan.push({ entry, run: () => inspectEntryByContent(zip, entry, state, depth, where(entry)) });

    if (depth === 1) state.meter.totalBytes = plan.reduce((sum, p) => sum + p.entry.uncompressedSize, 0);
    for (const step of plan) {
      state.signal?.throwIfAborted();
      state.meter.checkTime(`before ${where(step.entry)}`);
      try {
        await step.run();
      } catch (error) {
        if (error instanceof BudgetExhausted || (error as Error).name === 'AbortError') throw error;
        // One broken entry (bad deflate data, wrong size) does not hide the others.
        state.complete = false;
        addNote(state, `${where(step.entry)} could not be read: ${(error as Error).message}`);
      }
    }
    return format;
  } finally {
    zip.close();
  }
}

/** An entry of a plain zip, judged by its first bytes like a file. */
async function inspectEntryByContent(zip: ZipFile, entry: Entry, state: InspectionState, depth: number, where: string): Promise<void> {
  let handler: { write(chunk: Buffer): boolean; end(): Promise<void> } | null = null;
  let head = Buffer.alloc(0);
  const choose = (first: Buffer) => {
    const sniffed = sniffContent(first);
    if (sniffed.kind === 'text') {
      const text = new TextContentInspector(sniffed.encoding, csvDelimiter(new TextDecoder(sniffed.encoding).decode(first.subarray(0, SNIFF_BYTES)), entry.fileName), state.tally);
      return { write: (c: Buffer) => (text.write(c), true), end: async () => text.end() };
    }
    if (sniffed.kind === 'zip' || sniffed.kind === 'pdf') return nestedContainer(sniffed.kind, entry, state, depth, where);
    if (sniffed.kind === 'ole') return oleEntry(sniffed.encryptedOffice, state, where);
    return { write: () => false, end: async () => undefined };
  };
  await readEntry(zip, entry, state, where, (chunk) => {
    if (handler === null) {
      // The first chunk of a stored entry may be tiny; judge on at least a few kilobytes when there are.
      head = Buffer.concat([head, chunk]);
      if (head.length < Math.min(4096, entry.uncompressedSize)) return true;
      handler = choose(head);
      return handler.write(head);
    }
    return handler.write(chunk);
  });
  if (handler === null && head.length > 0) (handler = choose(head)).write(head);
  if (handler !== null) await (handler as { end(): Promise<void> }).end();
}

function oleEntry(encryptedOffice: boolean, state: InspectionState, where: string): { write(chunk: Buffer): boolean; end(): Promise<void> } {
  if (encryptedOffice) {
    state.encryptedEntries++;
    addNote(state, `${where} is a password-protected Office document; not opened`);
  } else {
    state.complete = false;
    addNote(state, `${where} is a legacy Office binary file (OLE); its content is not inspected`);
  }
  return { write: () => false, end: async () => undefined };
}

/** An archive or PDF inside the archive: read into memory (bounded) and opened from there. */
function nestedContainer(kind: 'zip' | 'pdf', entry: Entry, state: InspectionState, depth: number, where: string): { write(chunk: Buffer): boolean; end(): Promise<void> } {
  const limit = Math.min(MAX_NESTED_BYTES, state.meter.bytesLeft + SNIFF_BYTES);
  if (kind === 'zip' && depth >= MAX_ARCHIVE_DEPTH) {
    state.complete = false;
    addNote(state, `${where} is an archive nested deeper than ${MAX_ARCHIVE_DEPTH} levels; not opened`);
    return { write: () => false, end: async () => undefined };
  }
  if (entry.uncompressedSize > limit) {
    state.complete = false;
    addNote(state, `${where} (${formatBytes(entry.uncompressedSize)}) is larger than what is left of the byte budget; not opened`);
    return { write: () => false, end: async () => undefined };
  }
  const chunks: Buffer[] = [];
  return {
    write: (chunk) => (chunks.push(Buffer.from(chunk)), true),
    end: async () => {
      const buffer = Buffer.concat(chunks);
      if (kind === 'pdf') await inspectPdf(new Uint8Array(buffer), state, where);
      else await inspectZip(await openZip({ buffer }), state, depth + 1, where);
    },
  };
}
