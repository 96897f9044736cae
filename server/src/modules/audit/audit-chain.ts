import { auditRecordHash, GENESIS_HASH } from './audit-hash';
import { AuditRecordRow, contentOfRow } from './audit-log';

/**
 * A record's hash kept outside the database (printed by an earlier verification). A chain
 * rewritten from some record on, or cut short, verifies by itself; it no longer matches this.
 */
export interface AuditAnchor {
  sequence: number;
  hash: string;
}

/** Parses "<sequence>:<hash>" as `audit verify` prints them; null when the text is not that. */
export function parseAuditAnchor(text: string): AuditAnchor | null {
  const match = /^([1-9][0-9]{0,14}):([0-9a-f]{64})$/i.exec(text.trim());
  return match === null ? null : { sequence: Number(match[1]), hash: match[2].toLowerCase() };
}

export interface BrokenAuditRecord {
  /** The first record that does not fit the chain (for a deletion: the one after the gap). */
  sequence: number;
  id: string;
  reason: string;
}

export interface AuditChainResult {
  ok: boolean;
  /** Records checked (all of them when ok, up to and including the broken one otherwise). */
  records: number;
  firstBroken: BrokenAuditRecord | null;
  /** The newest record checked: keep its sequence and hash elsewhere to anchor the chain. */
  last: { sequence: number; id: string; hash: string } | null;
}

/**
 * Checks records in sequence order, one page at a time, keeping only the previous record's
 * hash: a million records need no more memory than one page. Pure over the rows it is fed.
 */
export class AuditChainChecker {
  private expectedSequence = 1;
  private previousHash = GENESIS_HASH;
  private records = 0;
  private last: AuditChainResult['last'] = null;
  private broken: BrokenAuditRecord | null = null;

  constructor(private readonly anchor: AuditAnchor | null = null) {}

  /** Feeds the next rows in sequence order; returns false once the chain is broken (stop reading). */
  feed(rows: readonly AuditRecordRow[]): boolean {
    for (const row of rows) {
      if (this.broken !== null) return false;
      this.records++;
      const content = contentOfRow(row);
      const reason = this.problemOf(row, content.sequence);
      if (reason !== null) {
        this.broken = { sequence: content.sequence, id: row.id, reason };
        return false;
      }
      this.expectedSequence = content.sequence + 1;
      this.previousHash = row.hash;
      this.last = { sequence: content.sequence, id: row.id, hash: row.hash };
    }
    return true;
  }

  result(): AuditChainResult {
    if (this.broken === null && this.anchor !== null && (this.last?.sequence ?? 0) < this.anchor.sequence) {
      // Nothing after the end can be named; the anchored record is the first one that is not there.
      this.broken = {
        sequence: this.anchor.sequence,
        id: '',
        reason: `the anchored record ${this.anchor.sequence} is missing: the chain ends at ${this.last?.sequence ?? 0} (the newest records were removed)`,
      };
    }
    return { ok: this.broken === null, records: this.records, firstBroken: this.broken, last: this.last };
  }

  private problemOf(row: AuditRecordRow, sequence: number): string | null {
    if (auditRecordHash(contentOfRow(row)) !== row.hash) return 'its content does not match its hash: the record was edited';
    if (sequence !== this.expectedSequence) {
      const missing = sequence - 1 === this.expectedSequence ? `record ${this.expectedSequence} is` : `records ${this.expectedSequence} to ${sequence - 1} are`;
      return sequence > this.expectedSequence ? `${missing} missing: deleted before this one` : `sequence ${sequence} follows ${this.expectedSequence - 1}: records were reordered`;
    }
    if (row.previous_hash !== this.previousHash) {
      return sequence === 1
        ? 'it does not chain from the genesis value: earlier records were removed or replaced'
        : `its previous hash is not the hash of record ${sequence - 1}: a record before it was replaced, deleted or moved`;
    }
    if (this.anchor !== null && sequence === this.anchor.sequence && row.hash !== this.anchor.hash) {
      return `its hash is not the anchored hash ${this.anchor.hash}: the chain was rewritten from this record or an earlier one`;
    }
    return null;
  }
}
