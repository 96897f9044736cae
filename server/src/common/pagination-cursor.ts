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

/** Splits a fetched page of `limit + 1` rows into the items and the cursor for the next page. */
export function pageOf<T>(rows: T[], limit: number, position: (row: T) => CursorPosition): { items: T[]; nextCursor: string | null } {
  if (rows.length <= limit) return { items: rows, nextCursor: null };
  const items = rows.slice(0, limit);
  return { items, nextCursor: encodeCursor(position(items[items.length - 1])) };
}
