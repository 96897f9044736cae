import type { ValueTransformer } from 'typeorm';

/**
 * Times are stored as integer milliseconds since the epoch in both databases, so raw SQL,
 * comparisons and cursors behave the same on SQLite and PostgreSQL. pg hands BIGINT back
 * as a string, better-sqlite3 as a number; both become a Date here.
 */
export const epochMillis: ValueTransformer = {
  to: (value: Date | null | undefined) => (value instanceof Date ? value.getTime() : value),
  from: (value: string | number | null) => (value === null || value === undefined ? null : new Date(Number(value))),
};

/** BIGINT counters (policy versions) read back as numbers. */
export const bigintNumber: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | number | null) => (value === null || value === undefined ? null : Number(value)),
};

/** JSON documents kept in TEXT columns, identical on both databases. */
export const jsonText: ValueTransformer = {
  to: (value: unknown) => (value === undefined ? undefined : value === null ? null : JSON.stringify(value)),
  from: (value: string | null) => (value === null || value === undefined ? null : JSON.parse(value)),
};
