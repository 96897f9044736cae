import { test } from 'node:test';
import assert from 'node:assert/strict';
import { quantile, ratio, round, summarize } from '../../bench/stats';

test('summary of ten samples: p95 lies between the ninth and the tenth, the median between the fifth and sixth', () => {
  const s = summarize([10, 1, 9, 2, 8, 3, 7, 4, 6, 5])!;
  assert.deepEqual({ ...s, p95: round(s.p95) }, { n: 10, min: 1, median: 5.5, p95: 9.55, max: 10 });
});

test('samples that could not be taken (null, NaN) are left out and do not count', () => {
  const s = summarize([null, 4, Number.NaN, undefined, 2])!;
  assert.deepEqual({ ...s, p95: round(s.p95) }, { n: 2, min: 2, median: 3, p95: 3.9, max: 4 });
  assert.equal(summarize([null, undefined]), null);
  assert.equal(summarize([]), null);
});

test('one sample is its own min, median, p95 and max', () => {
  assert.deepEqual(summarize([42]), { n: 1, min: 42, median: 42, p95: 42, max: 42 });
});

test('quantile refuses what has no answer', () => {
  assert.throws(() => quantile([], 0.5), /no values/);
  assert.throws(() => quantile([1, 2], 1.5), /outside 0\.\.1/);
});

test('ratio is subject median over baseline median, and null when it would say nothing', () => {
  assert.equal(ratio(summarize([30, 40, 50]), summarize([10, 20, 30])), 2);
  assert.equal(ratio(summarize([30]), null), null);
  assert.equal(ratio(null, summarize([3])), null);
  assert.equal(ratio(summarize([30]), summarize([0, 0, 0])), null);
});

test('round keeps three significant digits below 100 and whole numbers above', () => {
  assert.equal(round(26.4449), 26.4);
  assert.equal(round(0.012345), 0.0123);
  assert.equal(round(1234.56), 1235);
  assert.equal(round(0), 0);
});
