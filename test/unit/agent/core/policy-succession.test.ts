import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decidePolicySuccession } from '../../../../agent/src/core/policy-succession';

const A = '0b6f3c52-5f7e-4c43-9d7c-1c1f7f0e0a01';
const B = '7d1e9a40-2f55-4b7e-8f0e-3b7d2f6c9b02';

test('within one lineage only a strictly higher version replaces the running policy', () => {
  assert.deepEqual(decidePolicySuccession({ version: '5', lineageId: A }, { version: '6', lineageId: A }), { take: true, lineageChanged: false });
  assert.deepEqual(decidePolicySuccession({ version: '5', lineageId: A }, { version: '5', lineageId: A }), { take: false });
  assert.deepEqual(decidePolicySuccession({ version: '5', lineageId: A }, { version: '4', lineageId: A }), { take: false });
});

test('another lineage replaces the running policy whatever its number, and says the lineage changed', () => {
  assert.deepEqual(decidePolicySuccession({ version: '40', lineageId: A }, { version: '1', lineageId: B }), { take: true, lineageChanged: true });
  assert.deepEqual(decidePolicySuccession({ version: '1', lineageId: A }, { version: '9', lineageId: B }), { take: true, lineageChanged: true });
  // A cache written before lineages existed has none: the collector's current lineage supersedes it.
  assert.deepEqual(decidePolicySuccession({ version: '12', lineageId: '' }, { version: '3', lineageId: B }), { take: true, lineageChanged: true });
});

test('the first policy is always taken', () => {
  assert.deepEqual(decidePolicySuccession(null, { version: '1', lineageId: A }), { take: true, lineageChanged: false });
});
