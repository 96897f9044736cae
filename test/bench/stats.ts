/** The spread of one figure over its samples. */
export interface Summary {
  n: number;
  min: number;
  median: number;
  p95: number;
  max: number;
}

/**
 * The q-quantile (0..1) of sorted values by linear interpolation between closest ranks (the
 * method of NumPy's default and of Excel's PERCENTILE.INC), so that p95 of ten samples lies
 * between the ninth and the tenth rather than snapping to the maximum.
 */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) throw new Error('quantile of no values');
  if (!(q >= 0 && q <= 1)) throw new Error(`quantile ${q} is outside 0..1`);
  const rank = q * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (rank - low);
}

/**
 * min/median/p95/max of the finite numbers among `values`; null and NaN (a sample that could
 * not be taken) are left out and do not count in n. Null when nothing is left.
 */
export function summarize(values: ReadonlyArray<number | null | undefined>): Summary | null {
  const v = values.filter((x): x is number => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  return { n: v.length, min: v[0]!, median: quantile(v, 0.5), p95: quantile(v, 0.95), max: v[v.length - 1]! };
}

/**
 * subject/baseline of the medians: above 1 the subject is slower (bigger), below 1 faster.
 * Null when either side is missing or the baseline's median is 0 (a ratio against nothing says nothing).
 */
export function ratio(subject: Summary | null, baseline: Summary | null): number | null {
  if (subject === null || baseline === null || baseline.median === 0) return null;
  return subject.median / baseline.median;
}

/** A number rounded for a report: 3 significant digits below 100, whole numbers above. */
export function round(value: number): number {
  if (!Number.isFinite(value) || value === 0) return value;
  const abs = Math.abs(value);
  if (abs >= 100) return Math.round(value);
  const digits = 3 - Math.ceil(Math.log10(abs));
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
