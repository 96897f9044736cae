import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { AuditAnchor, AuditChainChecker } from '../../../../server/src/modules/audit/audit-chain';
import { auditRecordHash, AuditRecordContent, canonicalJson, GENESIS_HASH } from '../../../../server/src/modules/audit/audit-hash';
import type { AuditRecordRow } from '../../../../server/src/modules/audit/audit-log';

describe('canonicalJson', () => {
  test('sorts keys at every depth, so the order a value was built in does not matter', () => {
    const one = canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'x' } });
    const other = canonicalJson({ a: { c: 'x', d: [3, { y: 2, z: 1 }] }, b: 1 });
    assert.equal(one, '{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}');
    assert.equal(other, one);
  });

  test('follows JSON.stringify for dates, undefined, non-finite numbers, and writes bigints as text', () => {
    assert.equal(canonicalJson({ at: new Date('2026-01-02T03:04:05.006Z'), gone: undefined, list: [undefined, NaN], big: 12n }), '{"at":"2026-01-02T03:04:05.006Z","big":"12","list":[null,null]}');
    assert.equal(canonicalJson(undefined), 'null');
    assert.equal(canonicalJson('日本語 "quoted"'), JSON.stringify('日本語 "quoted"'));
  });

  test('keys are ordered by code point, not by locale', () => {
    assert.equal(canonicalJson({ b: 1, B: 2, a: 3, é: 4 }), '{"B":2,"a":3,"b":1,"é":4}');
  });
});

function content(sequence: number, previousHash: string, after: unknown = { status: 'active' }): AuditRecordContent {
  return {
    sequence,
    id: `00000000-0000-4000-8000-${String(sequence).padStart(12, '0')}`,
    at: Date.parse('2026-11-01T09:00:00Z') + sequence,
    actorKind: 'admin-token',
    actorId: 'sha256:0123456789abcdef',
    actorName: 'administrator',
    onBehalfOf: 'Taro Suzuki',
    sourceAddress: '192.0.2.10',
    action: 'whitelist.entry.created',
    subjectType: 'whitelist_entry',
    subjectId: `entry-${sequence}`,
    beforeJson: null,
    afterJson: canonicalJson(after),
    previousHash,
  };
}

function rowOf(record: AuditRecordContent, hash = auditRecordHash(record)): AuditRecordRow {
  return {
    sequence: String(record.sequence),
    id: record.id,
    at: record.at,
    actor_kind: record.actorKind,
    actor_id: record.actorId,
    actor_name: record.actorName,
    on_behalf_of: record.onBehalfOf,
    source_address: record.sourceAddress,
    action: record.action,
    subject_type: record.subjectType,
    subject_id: record.subjectId,
    before_state: record.beforeJson,
    after_state: record.afterJson,
    previous_hash: record.previousHash,
    hash,
  };
}

function chain(length: number): AuditRecordRow[] {
  const rows: AuditRecordRow[] = [];
  let previous = GENESIS_HASH;
  for (let sequence = 1; sequence <= length; sequence++) {
    const row = rowOf(content(sequence, previous));
    rows.push(row);
    previous = row.hash;
  }
  return rows;
}

function check(rows: AuditRecordRow[], pageSize = 3, anchor: AuditAnchor | null = null) {
  const sut = new AuditChainChecker(anchor);
  for (let start = 0; start < rows.length; start += pageSize) if (!sut.feed(rows.slice(start, start + pageSize))) break;
  return sut.result();
}

describe('auditRecordHash', () => {
  test('is SHA-256 over the canonical serialization of the content with a version tag', () => {
    const record = content(1, GENESIS_HASH);
    const expected = createHash('sha256').update(canonicalJson({ v: 1, ...record })).digest('hex');
    assert.equal(auditRecordHash(record), expected);
    assert.match(auditRecordHash(record), /^[0-9a-f]{64}$/);
  });

  test('changes with every field, the previous hash included', () => {
    const base = content(2, 'a'.repeat(64));
    const hash = auditRecordHash(base);
    const variants: Array<Partial<AuditRecordContent>> = [
      { sequence: 3 },
      { id: 'other' },
      { at: base.at + 1 },
      { actorKind: 'user' },
      { actorId: 'x' },
      { actorName: 'y' },
      { onBehalfOf: null },
      { sourceAddress: '198.51.100.1' },
      { action: 'whitelist.entry.revoked' },
      { subjectType: 'usb_exception' },
      { subjectId: 'entry-9' },
      { beforeJson: '{}' },
      { afterJson: '{"status":"revoked"}' },
      { previousHash: 'b'.repeat(64) },
    ];
    for (const variant of variants) assert.notEqual(auditRecordHash({ ...base, ...variant }), hash, JSON.stringify(variant));
  });
});

describe('AuditChainChecker', () => {
  test('an intact chain verifies across pages and reports its newest record', () => {
    const rows = chain(10);
    const result = check(rows);
    assert.deepEqual(result, { ok: true, records: 10, firstBroken: null, last: { sequence: 10, id: rows[9].id, hash: rows[9].hash } });
    assert.deepEqual(check([]), { ok: true, records: 0, firstBroken: null, last: null });
  });

  test('an edited record is named by its content no longer matching its hash', () => {
    const rows = chain(6);
    rows[3] = { ...rows[3], after_state: '{"status":"revoked"}' };
    const result = check(rows);
    assert.equal(result.ok, false);
    assert.equal(result.firstBroken?.sequence, 4);
    assert.match(result.firstBroken?.reason ?? '', /edited/);
    assert.equal(result.last?.sequence, 3);
  });

  test('a deleted record shows as a gap at the record after it', () => {
    const rows = chain(6);
    rows.splice(2, 1);
    assert.deepEqual(check(rows).firstBroken, { sequence: 4, id: rows[2].id, reason: 'record 3 is missing: deleted before this one' });
    const first = chain(3).slice(1);
    assert.match(check(first).firstBroken?.reason ?? '', /record 1 is missing/);
  });

  test('a deleted record with the rest renumbered and rehashed breaks at the previous-hash link', () => {
    const rows = chain(5);
    const kept = [rows[0], rows[2], rows[3], rows[4]];
    const renumbered = kept.map((row, index) => {
      const record = { ...content(index + 1, row.previous_hash), id: row.id };
      return rowOf(record);
    });
    const result = check(renumbered);
    assert.equal(result.firstBroken?.sequence, 2);
    assert.match(result.firstBroken?.reason ?? '', /previous hash is not the hash of record 1/);
  });

  test('reordered records are detected', () => {
    const rows = chain(5);
    const swapped = [rows[0], rows[2], rows[1], rows[3], rows[4]];
    assert.equal(check(swapped).firstBroken?.sequence, 3);
    const renumbered = [rows[0], { ...rows[2], sequence: '2' }, { ...rows[1], sequence: '3' }, rows[3], rows[4]];
    const result = check(renumbered);
    assert.equal(result.firstBroken?.sequence, 2);
    assert.match(result.firstBroken?.reason ?? '', /edited/);
  });

  test('a first record that does not chain from the genesis value is broken', () => {
    const record = content(1, 'f'.repeat(64));
    const result = check([rowOf(record)]);
    assert.match(result.firstBroken?.reason ?? '', /genesis/);
  });

  test('an anchor kept from an earlier check catches a chain rewritten from some record on, and one cut short', () => {
    const original = chain(6);
    const anchor = { sequence: 5, hash: original[4].hash };
    assert.equal(check(original, 3, anchor).ok, true);
    // Record 3 changed and every hash after it recomputed: whole by itself, not against the anchor.
    const rewritten = original.slice(0, 2);
    for (let sequence = 3; sequence <= 6; sequence++) rewritten.push(rowOf(content(sequence, rewritten[sequence - 2].hash, sequence === 3 ? { status: 'forged' } : undefined)));
    assert.equal(check(rewritten).ok, true);
    const result = check(rewritten, 3, anchor);
    assert.deepEqual([result.ok, result.firstBroken?.sequence], [false, 5]);
    assert.match(result.firstBroken?.reason ?? '', /anchored hash/);
    const cut = check(original.slice(0, 4), 3, anchor);
    assert.deepEqual(cut.firstBroken, { sequence: 5, id: '', reason: 'the anchored record 5 is missing: the chain ends at 4 (the newest records were removed)' });
  });
});
