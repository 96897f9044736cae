import { createHash } from 'node:crypto';

/** Namespace of every name-based id mamori derives (a fixed random UUID, never change it). */
export const MAMORI_ID_NAMESPACE = '5b0e7c52-3f0a-4a57-9d0e-2c3a6f4be1d9';

function uuidBytes(uuid: string): Buffer {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new Error(`not a UUID: ${uuid}`);
  return Buffer.from(hex, 'hex');
}

function formatUuid(bytes: Buffer): string {
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/**
 * RFC 9562 version-5 (name-based, SHA-1) UUID. Used where an id must come out the same every
 * time for the same thing: a replayed script line, a retried batch, a repeated drop report,
 * so the collector's per-event de-duplication makes replays harmless.
 */
export function uuidV5(name: string, namespace: string = MAMORI_ID_NAMESPACE): string {
  const digest = createHash('sha1').update(uuidBytes(namespace)).update(name, 'utf8').digest();
  const bytes = digest.subarray(0, 16);
  bytes[6] = (bytes[6] & 0x0f) | 0x50;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  return formatUuid(Buffer.from(bytes));
}

/** Base64url without padding, the encoding of the CA pin in enrollment tokens. */
export function base64UrlNoPad(data: Uint8Array): string {
  return Buffer.from(data).toString('base64url').replace(/=+$/, '');
}

export function sha256(data: Uint8Array | string): Buffer {
  return createHash('sha256').update(data).digest();
}
