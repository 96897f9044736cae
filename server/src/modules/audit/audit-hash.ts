import { createHash } from 'node:crypto';

/** What the first record chains from: no record before it. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * JSON with object keys in code-point order at every depth, so the same value always serializes
 * to the same text whatever order its keys were built in (a hash over plain JSON.stringify would
 * change when a service builds its `after` object in another order). Follows JSON.stringify for
 * everything else: toJSON (dates) is applied, undefined members are left out, non-finite numbers
 * become null; a bigint becomes its decimal text.
 */
export function canonicalJson(value: unknown): string {
  const text = canonicalText(value);
  return text === undefined ? 'null' : text;
}

function canonicalText(value: unknown): string | undefined {
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    value = (value as { toJSON: () => unknown }).toJSON();
  }
  switch (typeof value) {
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    case 'bigint':
      return JSON.stringify(value.toString());
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : 'null';
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
  }
  if (value === null) return 'null';
  if (Array.isArray(value)) return `[${value.map((item) => canonicalText(item) ?? 'null').join(',')}]`;
  const members: string[] = [];
  for (const key of Object.keys(value as object).sort()) {
    const member = canonicalText((value as Record<string, unknown>)[key]);
    if (member !== undefined) members.push(`${JSON.stringify(key)}:${member}`);
  }
  return `{${members.join(',')}}`;
}

/** The fields of a record that its hash covers: everything but the hash itself. */
export interface AuditRecordContent {
  sequence: number;
  id: string;
  /** Epoch milliseconds. */
  at: number;
  actorKind: string;
  actorId: string;
  actorName: string;
  /** The person the request named (approvedBy, changedBy, …), null when it named none. */
  onBehalfOf: string | null;
  sourceAddress: string;
  action: string;
  subjectType: string;
  subjectId: string;
  /** The subject before the change, as stored: canonical JSON text, null when it did not exist. */
  beforeJson: string | null;
  /** The subject after the change, as stored: canonical JSON text, null when it no longer exists. */
  afterJson: string | null;
  previousHash: string;
}

/**
 * SHA-256 (hex) over the canonical JSON of the record's content, the previous record's hash
 * included, so a record cannot be edited, removed or moved without breaking every hash after
 * it. `v` names this serialization, so a later change of what is covered can be told apart.
 */
export function auditRecordHash(content: AuditRecordContent): string {
  return createHash('sha256').update(canonicalJson({ v: 1, ...content }), 'utf8').digest('hex');
}
