import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { inspectFile } from '../../../../agent/src/inspect/file-inspector';
import { PersonalDataKind as K } from '../../../../agent/src/generated/mamori/v1/events';
import { writeXlsx } from '../../../support/office-files';
import { pdfDocument } from '../../../support/pdf-writer';
import { makeTempDir } from '../../../support/temp-dir';
import { writeZip } from '../../../support/zip-writer';
import { digitSource, myNumberWithCheckDigit } from './check-digits';
import { counts, sha256sum } from './inspect-fixtures';

const MiB = 1024 * 1024;
const digits = digitSource(99);
const M = myNumberWithCheckDigit(digits(11));

function tempDir(t: { after(fn: () => void): void }) {
  const dir = makeTempDir('mamori-inspect-budget-');
  t.after(() => dir.cleanup());
  return dir.path;
}

/** A text file of `mebibytes` MiB: one My Number in the first line, one in the last, filler between. */
async function largeText(path: string, mebibytes: number): Promise<void> {
  const out = createWriteStream(path);
  const filler = 'この行は個人情報を含まない記録です。 order 12 qty 3 price 4,980\n';
  out.write(`個人番号 ${M}\n`);
  const block = filler.repeat(Math.ceil((64 * 1024) / Buffer.byteLength(filler)));
  for (let written = 0; written < mebibytes * MiB; written += Buffer.byteLength(block)) {
    if (!out.write(block)) await once(out, 'drain');
  }
  out.end(`個人番号 ${M}\n`);
  await once(out, 'finish');
}

test('byte budget: a 20 MiB text file is inspected for its first 8 MiB, says so, and is still hashed whole', async (t) => {
  const path = join(tempDir(t), 'big.txt');
  await largeText(path, 20);
  const result = await inspectFile(path, { maxBytes: 8 * MiB, maxMillis: 60_000 });
  assert.equal(result.complete, false);
  assert.match(result.note, /^stopped after 8 MiB of 20(\.\d)? MiB \(byte budget\)$/);
  assert.deepEqual(counts(result), { [K.PERSONAL_DATA_KIND_MY_NUMBER]: 1 }, 'the number at the end lies beyond the budget');
  assert.equal(result.sha256, sha256sum(path), 'the hash covers the whole file');
  assert.ok(result.sizeBytes > 20 * MiB);
  const whole = await inspectFile(path, { maxBytes: 32 * MiB, maxMillis: 60_000 });
  assert.equal(whole.complete, true, whole.note);
  assert.deepEqual(counts(whole), { [K.PERSONAL_DATA_KIND_MY_NUMBER]: 2 });
});

test('a zero byte budget inspects nothing and hashes everything', async (t) => {
  const path = join(tempDir(t), 'small.txt');
  writeFileSync(path, `個人番号 ${M}\n`);
  const result = await inspectFile(path, { maxBytes: 0, maxMillis: 1000 });
  assert.equal(result.complete, false);
  assert.match(result.note, /^stopped after 0 bytes of \d+ bytes \(byte budget\)$/);
  assert.deepEqual(result.findings, []);
  assert.equal(result.sha256, sha256sum(path));
});

test('zip bomb: 200 MiB of zeros compressed into one entry costs no more than the byte budget of uncompressed bytes', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'bomb.zip');
  await writeZip(path, [
    { name: 'readme.txt', data: 'contact: bomb@example.com' },
    { name: 'zeros.txt', data: Buffer.alloc(200 * MiB, 0x30) },
  ]);
  const started = Date.now();
  const before = process.memoryUsage().rss;
  const result = await inspectFile(path, { maxBytes: 4 * MiB, maxMillis: 60_000 });
  assert.equal(result.complete, false);
  assert.match(result.note, /^stopped after 4 MiB of 200(\.\d)? MiB \(byte budget\)$/);
  assert.deepEqual(counts(result), { [K.PERSONAL_DATA_KIND_EMAIL_ADDRESS]: 1 });
  assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
  assert.ok(process.memoryUsage().rss - before < 150 * MiB, 'the entry was not inflated into memory');
});

test('time budget on text: the note says how far the inspection got; the hash is complete', async (t) => {
  const path = join(tempDir(t), 'slow.txt');
  await largeText(path, 12);
  const result = await inspectFile(path, { maxBytes: 64 * MiB, maxMillis: 1 });
  assert.equal(result.complete, false);
  assert.match(result.note, /^time budget of 1 ms reached after [\d.]+ (KiB|MiB) of 12(\.\d)? MiB$/);
  assert.equal(result.sha256, sha256sum(path));
});

test('time budget on a workbook: the note names the part where it stopped', async (t) => {
  const path = join(tempDir(t), 'big.xlsx');
  const rows: Array<Array<string | number>> = [['氏名', '電話', '備考']];
  for (let i = 0; i < 40_000; i++) rows.push([`利用者${i}`, `090-${String(1000 + (i % 9000))}-${String(1000 + (i % 8999))}`, `メモ ${i} ${digits(8)}`]);
  await writeXlsx(path, [rows, rows, rows]);
  const result = await inspectFile(path, { maxBytes: 256 * MiB, maxMillis: 50 });
  assert.equal(result.format, 'xlsx');
  assert.equal(result.complete, false);
  assert.match(result.note, /^time budget of 50 ms reached (in|before) xl\/(worksheets\/sheet\d|sharedStrings)\.xml$/);
  const whole = await inspectFile(path, { maxBytes: 256 * MiB, maxMillis: 120_000 });
  assert.equal(whole.complete, true, whole.note);
  assert.equal(counts(whole)[K.PERSONAL_DATA_KIND_PERSON_NAME], 120_000);
});

test('a PDF larger than the byte budget is hashed but not parsed, and says so', async (t) => {
  const path = join(tempDir(t), 'report.pdf');
  writeFileSync(path, pdfDocument(Array.from({ length: 200 }, (_, i) => [`Page ${i}`, 'Contact: someone@example.com', 'x'.repeat(2000)])));
  const result = await inspectFile(path, { maxBytes: 64 * 1024, maxMillis: 10_000 });
  assert.equal(result.format, 'pdf');
  assert.equal(result.complete, false);
  assert.match(result.note, /^PDF of [\d.]+ KiB is larger than the byte budget of 64 KiB; its text was not extracted$/);
  assert.deepEqual(result.findings, []);
  assert.equal(result.sha256, sha256sum(path));
});

test('a large zip (past the in-memory limit) is read again from the file, with its own time budget', async (t) => {
  const path = join(tempDir(t), 'large.zip');
  const noise = Buffer.alloc(40 * MiB);
  for (let i = 0; i < noise.length; i += 4) noise.writeUInt32LE((i * 2654435761) >>> 0, i);
  await writeZip(path, [
    { name: 'noise.bin', data: noise, compress: false },
    { name: 'contacts.txt', data: 'a@example.com b@example.com' },
  ]);
  const result = await inspectFile(path, { maxBytes: 64 * MiB, maxMillis: 30_000 });
  assert.equal(result.format, 'zip');
  assert.equal(result.complete, true, result.note);
  assert.deepEqual(counts(result), { [K.PERSONAL_DATA_KIND_EMAIL_ADDRESS]: 2 });
  assert.equal(result.sha256, sha256sum(path));
});

test('a file that cannot be read rejects with its error code; an aborted inspection rejects with the abort reason', async (t) => {
  const dir = tempDir(t);
  await assert.rejects(inspectFile(join(dir, 'gone.txt'), { maxBytes: MiB, maxMillis: 1000 }), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
  mkdirSync(join(dir, 'folder'));
  await assert.rejects(inspectFile(join(dir, 'folder'), { maxBytes: MiB, maxMillis: 1000 }), (e: NodeJS.ErrnoException) => e.code === 'EISDIR');
  const path = join(dir, 'big.txt');
  await largeText(path, 4);
  const controller = new AbortController();
  const pending = inspectFile(path, { maxBytes: 64 * MiB, maxMillis: 60_000 }, controller.signal);
  controller.abort();
  await assert.rejects(pending, (e: Error) => e.name === 'AbortError');
});
