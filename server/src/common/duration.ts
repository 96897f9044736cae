const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** Parses "90m", "24h", "7d", "30s" into seconds; null for anything else. */
export function parseDurationSeconds(text: string): number | null {
  const match = /^(\d{1,7})([smhd])$/.exec(text.trim());
  if (match === null) return null;
  const seconds = Number(match[1]) * UNIT_SECONDS[match[2]];
  return seconds > 0 ? seconds : null;
}
