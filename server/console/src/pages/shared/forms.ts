/**
 * Form helpers the whitelist, USB, devices and users pages share. Pure (no DOM, no React) so the
 * root test suite runs them under node:test.
 */

/**
 * The collector answers a 400 with one message naming every bad field, joined by "; ", each part
 * starting with the field's path ("hostPattern: …", "ports[0] runs from …", "expiresAt must be …").
 * This sorts the parts onto the form's fields (by the leading name, list index and sub-path
 * dropped); parts that name no field of the form stay in `other`, shown above the form.
 */
export function splitFieldErrors(message: string, fields: readonly string[]): { byField: Record<string, string>; other: string[] } {
  const byField: Record<string, string> = {};
  const other: string[] = [];
  for (const raw of message.split('; ')) {
    const part = raw.trim();
    if (part === '') continue;
    const lead = /^([A-Za-z_][A-Za-z0-9_]*)/.exec(part)?.[1];
    if (lead !== undefined && fields.includes(lead)) {
      byField[lead] = byField[lead] === undefined ? part : `${byField[lead]}; ${part}`;
    } else {
      other.push(part);
    }
  }
  return { byField, other };
}

const pad = (n: number) => String(n).padStart(2, '0');

/** An ISO time as the value of an <input type="datetime-local"> in the viewer's time zone ('' for none). */
export function isoToLocalInput(iso: string | null | undefined): string {
  if (iso === null || iso === undefined || iso === '') return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/**
 * The value of an <input type="datetime-local"> ("2026-03-31T18:00", local time) as an ISO time for
 * the collector; null for an empty input, undefined for text that is no time.
 */
export function localInputToIso(value: string): string | null | undefined {
  const text = value.trim();
  if (text === '') return null;
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(text);
  if (match === null) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1).map((part) => (part === undefined ? 0 : Number(part)));
  const date = new Date(year, month - 1, day, hour, minute, second);
  // new Date rolls 2026-02-31 over into March: a date that does not exist is no time.
  if (date.getFullYear() !== year || date.getMonth() !== month - 1 || date.getDate() !== day) return undefined;
  return date.toISOString();
}

/** `days` whole days after `now`, as an <input type="datetime-local"> value (minutes kept, seconds dropped). */
export function localInputDaysFrom(now: Date, days: number): string {
  return isoToLocalInput(new Date(now.getTime() + days * 86_400_000).toISOString());
}

export type ExpiryProblem = 'invalid' | 'past' | 'later-than-requested';

/**
 * Checks an end time chosen in a form: it must be a time, after `now`, and (when an approver
 * shortens a request) not after the end that was asked for. Null when it is fine or left empty.
 */
export function expiryProblem(value: string, now: Date, latest?: string | null): ExpiryProblem | null {
  const iso = localInputToIso(value);
  if (iso === null) return null;
  if (iso === undefined) return 'invalid';
  const at = new Date(iso).getTime();
  if (at <= now.getTime()) return 'past';
  if (latest !== undefined && latest !== null && at > new Date(latest).getTime()) return 'later-than-requested';
  return null;
}

export type Remaining = { kind: 'none' } | { kind: 'ended' } | { kind: 'days'; days: number } | { kind: 'hours'; hours: number };

/** How long until `end`: none (no end), ended, whole days (1 or more) or hours (less than a day, at least 1). */
export function remainingUntil(end: string | null | undefined, now: Date): Remaining {
  if (end === null || end === undefined || end === '') return { kind: 'none' };
  const left = new Date(end).getTime() - now.getTime();
  if (Number.isNaN(left)) return { kind: 'none' };
  if (left <= 0) return { kind: 'ended' };
  if (left >= 86_400_000) return { kind: 'days', days: Math.floor(left / 86_400_000) };
  return { kind: 'hours', hours: Math.max(1, Math.floor(left / 3_600_000)) };
}

/** Roles of `required` the user lacks all of, for a disabled button's title; [] when the user may act. */
export function missingRoles(required: readonly string[], held: readonly string[]): string[] {
  return required.some((role) => held.includes(role)) ? [] : [...required];
}

/** Case-insensitive "does any of these texts contain the query" for the lists filtered in the browser. */
export function matchesQuery(query: string, ...texts: Array<string | null | undefined>): boolean {
  const needle = query.trim().toLowerCase();
  if (needle === '') return true;
  return texts.some((text) => typeof text === 'string' && text.toLowerCase().includes(needle));
}
