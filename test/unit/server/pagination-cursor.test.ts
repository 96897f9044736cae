import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cursorIdFits, decodeCursor, encodeCursor, pageOf } from '../../../server/src/common/pagination-cursor';

test('a cursor round-trips its position', () => {
  const position = { at: 1_740_819_600_250, id: '5b0e5a4e-4c1a-4f0e-9d0b-1d2c3b4a5f60' };
  assert.deepEqual(decodeCursor(encodeCursor(position)), position);
});

test('text that is not a cursor is refused', () => {
  for (const bad of ['', 'not a cursor', Buffer.from('{"at":1}').toString('base64url'), Buffer.from('[1.5,"x"]').toString('base64url'), Buffer.from('[1,""]').toString('base64url')]) {
    assert.equal(decodeCursor(bad), null, bad);
  }
});

test('pageOf returns a cursor only when more rows exist, pointing at the last item returned', () => {
  const rows = [5, 4, 3].map((n) => ({ at: n, id: String(n) }));
  const full = pageOf(rows, 2, (row) => row);
  assert.deepEqual(full.items, rows.slice(0, 2));
  assert.deepEqual(decodeCursor(full.nextCursor ?? ''), { at: 4, id: '4' });
  assert.equal(pageOf(rows.slice(0, 2), 2, (row) => row).nextCursor, null);
});

test('a cursor id must fit the list: a safe positive integer for events, a UUID for violations', () => {
  for (const id of ['1', '42', String(Number.MAX_SAFE_INTEGER)]) assert.equal(cursorIdFits(id, 'row-number'), true, id);
  for (const id of ['abc', '0', '-1', '1.5', '01', ' 1', '1e3', '12345678901234567890123', String(Number.MAX_SAFE_INTEGER + 2), '5b0e5a4e-4c1a-4f0e-9d0b-1d2c3b4a5f60']) {
    assert.equal(cursorIdFits(id, 'row-number'), false, id);
  }
  assert.equal(cursorIdFits('5b0e5a4e-4c1a-4f0e-9d0b-1d2c3b4a5f60', 'uuid'), true);
  for (const id of ['abc', '1', '5b0e5a4e-4c1a-4f0e-9d0b-1d2c3b4a5f6', "5b0e5a4e-4c1a-4f0e-9d0b-1d2c3b4a5f60' OR 1=1"]) assert.equal(cursorIdFits(id, 'uuid'), false, id);
});
