/**
 * Keyset pagination over (occurred_at DESC, id DESC). The cursor is opaque to clients: the
 * position of the last item of the previous page, base64url JSON.
 */
export interface CursorPosition {
  /** Epoch milliseconds of the last item returned. */
  at: number;
  /** The id of the last item returned (a string, so UUIDs and BIGINT surrogate keys both fit). */
  id: string;
}

export function encodeCursor(position: CursorPosition): string {
  return Buffer.from(JSON.stringify([position.at, position.id]), 'utf8').toString('base64url');
}

/** Returns null when the text is not a cursor this collector made. */
export function decodeCursor(text: string): CursorPosition | null {
  if (!/^[A-Za-z0-9_-]{1,512}$/.test(text)) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (!Array.isArray(parsed) || parsed.length !== 2) return null;
  const [at, id] = parsed;
  if (typeof at !== 'number' || !Number.isSafeInteger(at) || typeof id !== 'string' || id.length === 0 || id.length > 64) return null;
  return { at, id };
}

/** What the id part of a list's cursor must look like, so a forged cursor is a 400 and never reaches SQL. */
export type CursorIdShape = 'row-number' | 'uuid';

const ROW_NUMBER = /^[1-9][0-9]{0,15}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Whether a decoded cursor's id fits the list it is used on: events are keyed by a BIGINT
 * identity (a positive integer within JavaScript's safe range, which PostgreSQL compares as
 * BIGINT; anything else there is a type error, i.e. a 500), violations by a UUID.
 */
export function cursorIdFits(id: string, shape: CursorIdShape): boolean {
  return shape === 'uuid' ? UUID.test(id) : ROW_NUMBER.test(id) && Number.isSafeInteger(Number(id));
}

/** Splits a fetched page of `limit + 1` rows into the items and the cursor for the next page. */
export function pageOf<T>(rows: T[], limit: number, position: (row: T) => CursorPosition): { items: T[]; nextCursor: string | null } {
  if (rows.length <= limit) return { items: rows, nextCursor: null };
  const items = rows.slice(0, limit);
  return { items, nextCursor: encodeCursor(position(items[items.length - 1])) };
}
