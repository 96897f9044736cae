import type { PersonalDataFinding } from '../../generated/mamori/v1/events';

/** What the inspection of one file found: the content half of a FileTransfer event. */
export interface TransferContent {
  sizeBytes: number;
  sha256: string;
  format: string;
  findings: PersonalDataFinding[];
  inspectionComplete: boolean;
  inspectionNote: string;
  encryptedEntries: number;
}

/** A file that was not read (deleted, pulled out, too many at once): size as last seen, no hash. */
export function unreadContent(sizeBytes: number): TransferContent {
  return { sizeBytes, sha256: '', format: '', findings: [], inspectionComplete: false, inspectionNote: '', encryptedEntries: 0 };
}

/** The budget of one file's inspection, as the inspector takes it. */
export interface InspectionBudget {
  maxBytes: number;
  maxMillis: number;
}

/** The inspector's answer (agent/src/inspect/file-inspector.ts), as far as the watcher uses it. */
export interface InspectionResult {
  sizeBytes: number;
  sha256: string;
  format: string;
  findings: PersonalDataFinding[];
  complete: boolean;
  note: string;
  encryptedEntries: number;
}

/**
 * The inspector port: hashes the whole file and inspects it within the budget. Rejects only when
 * the file cannot be read at all (ENOENT, EIO when a stick is pulled), with the error's `code` kept.
 */
export type InspectFile = (path: string, budget: InspectionBudget, signal?: AbortSignal) => Promise<InspectionResult>;

export function contentOf(result: InspectionResult): TransferContent {
  return {
    sizeBytes: result.sizeBytes,
    sha256: result.sha256,
    format: result.format,
    findings: result.findings.map((f) => ({ kind: f.kind, count: f.count })),
    inspectionComplete: result.complete,
    inspectionNote: result.note,
    encryptedEntries: result.encryptedEntries,
  };
}
