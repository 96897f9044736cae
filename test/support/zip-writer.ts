import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import yazl from 'yazl';

/** One file inside a zip a test writes. */
export interface ZipEntrySpec {
  name: string;
  data: string | Buffer;
  /** Deflate (default) or store. */
  compress?: boolean;
}

/** Writes a zip archive with yazl (the counterpart of the yauzl reader the agent uses). */
export async function writeZip(path: string, entries: readonly ZipEntrySpec[]): Promise<void> {
  const zip = new yazl.ZipFile();
  for (const entry of entries) {
    zip.addBuffer(typeof entry.data === 'string' ? Buffer.from(entry.data, 'utf8') : entry.data, entry.name, { compress: entry.compress ?? true, mtime: new Date('2024-04-01T00:00:00Z') });
  }
  zip.end();
  await pipeline(zip.outputStream, createWriteStream(path));
}

/** The same archive in memory, for archives inside archives. */
export async function zipBuffer(entries: readonly ZipEntrySpec[]): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const entry of entries) zip.addBuffer(typeof entry.data === 'string' ? Buffer.from(entry.data, 'utf8') : entry.data, entry.name, { compress: entry.compress ?? true, mtime: new Date('2024-04-01T00:00:00Z') });
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
