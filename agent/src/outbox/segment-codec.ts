import { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';
import { Event } from '../generated/mamori/v1/events';

/**
 * A segment file is a run of length-delimited binary protobuf `Event` messages (varint length,
 * then the bytes), the same framing protobuf uses for repeated fields and most tools understand.
 * A segment's name is `<first sequence>-<last sequence>.seg`, both zero-padded to 20 digits, so
 * lexical order is age order and the sequence range is known without opening the file.
 */
export const SEGMENT_SUFFIX = '.seg';
const SEGMENT_NAME = /^(\d{20})-(\d{20})\.seg$/;
/**
 * The head segment, which group commits extend in place (append + fsync) until it holds a
 * batch's worth of events, is named `<first sequence>.open`: its last sequence is only known
 * from its content, and a crash may leave a torn tail after the last durable record.
 */
export const HEAD_SUFFIX = '.open';
const HEAD_NAME = /^(\d{20})\.open$/;

export function headSegmentName(first: bigint): string {
  return `${first.toString().padStart(20, '0')}${HEAD_SUFFIX}`;
}

/** The first sequence of a head segment's name; null for anything else. */
export function parseHeadName(name: string): bigint | null {
  const match = HEAD_NAME.exec(name);
  return match === null ? null : BigInt(match[1]);
}

export function segmentName(first: bigint, last: bigint): string {
  return `${first.toString().padStart(20, '0')}-${last.toString().padStart(20, '0')}${SEGMENT_SUFFIX}`;
}

/** Parses a segment file name; null for anything else (temp files, strangers). */
export function parseSegmentName(name: string): { first: bigint; last: bigint } | null {
  const match = SEGMENT_NAME.exec(name);
  if (match === null) return null;
  const first = BigInt(match[1]);
  const last = BigInt(match[2]);
  return first <= last ? { first, last } : null;
}

/** One framed record: varint length prefix plus the encoded event. */
export function encodeRecord(event: Event): Uint8Array {
  return new BinaryWriter().bytes(Event.encode(event).finish()).finish();
}

export function encodeRecords(records: Uint8Array[]): Buffer {
  return Buffer.concat(records);
}

/**
 * Decodes every record of a segment. Throws when the data is truncated or not protobuf;
 * segments only appear by rename after fsync, so that means corruption on disk, and the outbox
 * quarantines the file rather than guessing.
 */
export function decodeRecords(data: Uint8Array): { event: Event; record: Uint8Array }[] {
  const reader = new BinaryReader(data);
  const out: { event: Event; record: Uint8Array }[] = [];
  while (reader.pos < reader.len) {
    const start = reader.pos;
    const body = reader.bytes();
    if (reader.pos > reader.len) throw new Error(`truncated record at byte ${start}`);
    out.push({ event: Event.decode(body), record: data.subarray(start, reader.pos) });
  }
  return out;
}

/** Counts records without decoding the events (for status and start-up accounting). */
export function countRecords(data: Uint8Array): number {
  const reader = new BinaryReader(data);
  let count = 0;
  while (reader.pos < reader.len) {
    const start = reader.pos;
    reader.bytes();
    if (reader.pos > reader.len) throw new Error(`truncated record at byte ${start}`);
    count += 1;
  }
  return count;
}

/**
 * Decodes a head segment up to the first record that cannot be a durable append: a truncated
 * frame, bytes that are not an Event, or an event whose sequence does not follow the previous
 * one (a torn write leaves zeros or stale blocks, which decode as sequence 0 or an older
 * sequence). Appends are fsynced one after another, so everything before that point was
 * durable; `goodBytes` is where the file must be cut.
 */
export function decodeDurablePrefix(
  data: Uint8Array,
  firstSequence: bigint,
): { entries: { event: Event; record: Uint8Array }[]; goodBytes: number; problem: string | null } {
  const reader = new BinaryReader(data);
  const entries: { event: Event; record: Uint8Array }[] = [];
  let previous = firstSequence - 1n;
  while (reader.pos < reader.len) {
    const start = reader.pos;
    try {
      const body = reader.bytes();
      if (reader.pos > reader.len) return { entries, goodBytes: start, problem: `truncated record at byte ${start}` };
      const event = Event.decode(body);
      const sequence = /^\d+$/.test(event.sequence) ? BigInt(event.sequence) : 0n;
      if (sequence <= previous || event.eventId === '') {
        return { entries, goodBytes: start, problem: `record at byte ${start} is not a durable append (sequence ${event.sequence || 'none'} after ${previous})` };
      }
      previous = sequence;
      entries.push({ event, record: data.subarray(start, reader.pos) });
    } catch (error) {
      return { entries, goodBytes: start, problem: `record at byte ${start} does not decode: ${(error as Error).message}` };
    }
  }
  return { entries, goodBytes: data.length, problem: null };
}

/** Counts whole frames, ignoring a torn tail (for status while the daemon appends to a head). */
export function countCompleteRecords(data: Uint8Array): number {
  const reader = new BinaryReader(data);
  let count = 0;
  while (reader.pos < reader.len) {
    try {
      reader.bytes();
    } catch {
      break;
    }
    if (reader.pos > reader.len) break;
    count += 1;
  }
  return count;
}
