import type { BudgetMeter } from './budget';
import type { FindingTally } from './findings';

/** What one file's inspection accumulates while extractors (possibly nested) run. */
export interface InspectionState {
  readonly meter: BudgetMeter;
  readonly tally: FindingTally;
  /** Things skipped or stopped, for the event's note; each said once. */
  readonly notes: string[];
  encryptedEntries: number;
  /** False once a budget stopped the inspection or content could not be read. */
  complete: boolean;
  readonly signal: AbortSignal | undefined;
}

export function addNote(state: InspectionState, note: string): void {
  if (!state.notes.includes(note)) state.notes.push(note);
}
