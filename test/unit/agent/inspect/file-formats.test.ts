import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspectFile } from '../../../../agent/src/inspect/file-inspector';
import { PersonalDataKind as K } from '../../../../agent/src/generated/mamori/v1/events';
import { docxEntries, writeDocx, writePptx, writeXlsx, xlsxEntries } from '../../../support/office-files';
import { pdfDocument } from '../../../support/pdf-writer';
import { skipOrFail } from '../../../support/prerequisites';
import { makeTempDir } from '../../../support/temp-dir';
import { writeZip, zipBuffer } from '../../../support/zip-writer';
import { corporateNumberWithCheckDigit, digitSource, myNumberWithCheckDigit, withWrongLastDigit } from './check-digits';
import { counts, hasCommand, sha256sum, shiftJis } from './inspect-fixtures';

const BUDGET = { maxBytes: 16 * 1024 * 1024, maxMillis: 30_000 };
const digits = digitSource(7);
const myNumber = () => {
  for (;;) {
    const n = myNumberWithCheckDigit(digits(11));
    if (!/^(\d)\1+$/.test(n)) return n;
  }
};
const [M1, M2, M3] = [myNumber(), myNumber(), myNumber()];
const CORP = corporateNumberWithCheckDigit('000012050002');

function tempDir(t: { after(fn: () => void): void }) {
  const dir = makeTempDir('mamori-inspect-');
  t.after(() => dir.cleanup());
  return dir.path;
}

const MEMO = [
  '顧客メモ',
  '氏名：山田 太郎',
  '住所：東京都千代田区千代田１－１',
  '〒１００－０００１',
  `個人番号 ${M1.slice(0, 4)}-${M1.slice(4, 8)}-${M1.slice(8)}`,
  `控え（誤記）${withWrongLastDigit(M2)}`,
  '携帯 ０９０－１２３４－５６７８ / 自宅 03-1234-5678',
  'カード 4242 4242 4242 4242',
  'メール taro.yamada@example.co.jp',
  `法人番号 ${CORP}`,
  '注文番号 1700000000005 数量 12 価格 3,980円',
].join('\n');

const MEMO_FINDINGS = {
  [K.PERSONAL_DATA_KIND_MY_NUMBER]: 1,
  [K.PERSONAL_DATA_KIND_CORPORATE_NUMBER]: 1,
  [K.PERSONAL_DATA_KIND_CREDIT_CARD]: 1,
  [K.PERSONAL_DATA_KIND_PHONE_NUMBER]: 2,
  [K.PERSONAL_DATA_KIND_POSTAL_CODE]: 1,
  [K.PERSONAL_DATA_KIND_EMAIL_ADDRESS]: 1,
  [K.PERSONAL_DATA_KIND_PERSON_NAME]: 1,
  [K.PERSONAL_DATA_KIND_POSTAL_ADDRESS]: 1,
};

test('UTF-8 text: every kind is counted once, the failing My Number and the order number are not; the hash is sha256sum\'s', async (t) => {
  const path = join(tempDir(t), 'memo.txt');
  writeFileSync(path, MEMO);
  const result = await inspectFile(path, BUDGET);
  assert.equal(result.format, 'text');
  assert.deepEqual(counts(result), MEMO_FINDINGS);
  assert.equal(result.complete, true);
  assert.equal(result.note, '');
  assert.equal(result.sizeBytes, Buffer.byteLength(MEMO));
  assert.equal(result.sha256, sha256sum(path));
});

test('UTF-16 with a BOM and a file with a misleading name are judged by content', async (t) => {
  const dir = tempDir(t);
  const utf16 = join(dir, 'memo-utf16.txt');
  writeFileSync(utf16, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(MEMO, 'utf16le')]));
  assert.deepEqual(counts(await inspectFile(utf16, BUDGET)), MEMO_FINDINGS);
  const disguised = join(dir, 'photo.jpg');
  writeFileSync(disguised, MEMO);
  const result = await inspectFile(disguised, BUDGET);
  assert.equal(result.format, 'text', 'a .jpg name does not make text binary');
  assert.deepEqual(counts(result), MEMO_FINDINGS);
});

const ROSTER = [
  ['氏名', 'フリガナ', '住所', '電話番号', 'メールアドレス', 'マイナンバー', '備考'],
  ['山田 太郎', 'ヤマダ タロウ', '東京都千代田区千代田1-1', '090-1234-5678', 'taro@example.jp', M1, ''],
  ['佐藤 花子', 'サトウ ハナコ', '大阪府大阪市北区1-2-3, 4F', '06-1234-5678', 'hanako@example.jp', withWrongLastDigit(M2), '"引用"あり'],
  ['鈴木 一郎', '', '', '', '', M3, '改行を\n含む備考'],
];
const ROSTER_FINDINGS = {
  [K.PERSONAL_DATA_KIND_MY_NUMBER]: 2,
  [K.PERSONAL_DATA_KIND_PHONE_NUMBER]: 2,
  [K.PERSONAL_DATA_KIND_EMAIL_ADDRESS]: 2,
  [K.PERSONAL_DATA_KIND_PERSON_NAME]: 3,
  [K.PERSONAL_DATA_KIND_POSTAL_ADDRESS]: 2,
};
const csvText = (rows: string[][], eol = '\r\n') => rows.map((r) => r.map((c) => (/[",\n]/.test(c) ? `"${c.replace(/"/g, '""')}"` : c)).join(',')).join(eol) + eol;

test('CSV from Excel in Shift_JIS (CRLF, quoted fields with commas, quotes and line breaks): header columns count names and addresses per record', async (t) => {
  const bytes = shiftJis(csvText(ROSTER));
  if (bytes === null) return skipOrFail(t, 'iconv (glibc) is needed to write Shift_JIS');
  const path = join(tempDir(t), 'roster.csv');
  writeFileSync(path, bytes);
  const result = await inspectFile(path, BUDGET);
  assert.equal(result.format, 'csv');
  assert.deepEqual(counts(result), ROSTER_FINDINGS);
  assert.equal(result.sha256, sha256sum(path));
});

test('CSV in UTF-8 with a BOM and without a .csv name; a table without name or address headers counts no names', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'export.dat');
  writeFileSync(path, '\ufeff' + csvText(ROSTER, '\n'));
  const result = await inspectFile(path, BUDGET);
  assert.equal(result.format, 'csv');
  assert.deepEqual(counts(result), ROSTER_FINDINGS);
  const products = join(dir, 'products.csv');
  writeFileSync(products, csvText([['商品名', '会社名', '価格'], ['りんご', '山田商店', '120'], ['みかん', '佐藤青果', '98']]));
  const plain = await inspectFile(products, BUDGET);
  assert.equal(plain.format, 'csv');
  assert.deepEqual(plain.findings, [], 'product and company names are not people');
});

test('docx: paragraphs and a table whose label cell names the value cell; full-width digits', async (t) => {
  const path = join(tempDir(t), 'application.docx');
  await writeDocx(path, [
    '申込書',
    { table: [['氏名', '山田 太郎'], ['住所', '〒100-0001 東京都千代田区千代田1-1'], ['電話', '０３－１２３４－５６７８'], ['個人番号', M1]] },
    'ご連絡は taro.yamada@example.co.jp まで。',
    `控え ${withWrongLastDigit(M2)}`,
  ]);
  const result = await inspectFile(path, BUDGET);
  assert.equal(result.format, 'docx');
  assert.deepEqual(counts(result), {
    [K.PERSONAL_DATA_KIND_MY_NUMBER]: 1,
    [K.PERSONAL_DATA_KIND_PHONE_NUMBER]: 1,
    [K.PERSONAL_DATA_KIND_POSTAL_CODE]: 1,
    [K.PERSONAL_DATA_KIND_EMAIL_ADDRESS]: 1,
    [K.PERSONAL_DATA_KIND_PERSON_NAME]: 1,
    [K.PERSONAL_DATA_KIND_POSTAL_ADDRESS]: 1,
  });
  assert.equal(result.complete, true);
  assert.equal(result.sha256, sha256sum(path));
});

test('xlsx: the header row of each sheet gives columns their meaning; shared strings and numeric cells are read', async (t) => {
  const path = join(tempDir(t), 'roster.xlsx');
  await writeXlsx(path, [
    [
      ['氏名', '住所', '電話', 'マイナンバー'],
      ['山田 太郎', '東京都千代田区1-1', '090-1234-5678', Number(M1)],
      ['佐藤 花子', '', '080-1111-2222', Number(withWrongLastDigit(M2))],
      ['', '', '', ''],
    ],
    [
      ['取引先', '法人番号', '担当者メール'],
      ['国税庁', Number(CORP), 'info@example.go.jp'],
    ],
  ]);
  const result = await inspectFile(path, BUDGET);
  assert.equal(result.format, 'xlsx');
  assert.deepEqual(counts(result), {
    [K.PERSONAL_DATA_KIND_MY_NUMBER]: 1,
    [K.PERSONAL_DATA_KIND_CORPORATE_NUMBER]: 1,
    [K.PERSONAL_DATA_KIND_PHONE_NUMBER]: 2,
    [K.PERSONAL_DATA_KIND_EMAIL_ADDRESS]: 1,
    [K.PERSONAL_DATA_KIND_PERSON_NAME]: 2,
    [K.PERSONAL_DATA_KIND_POSTAL_ADDRESS]: 1,
  });
});

test('pptx: text of every slide', async (t) => {
  const path = join(tempDir(t), 'deck.pptx');
  await writePptx(path, [['四半期報告', '担当: sales@example.co.jp'], ['Name: Taro Yamada', '直通 +81-3-1234-5678', `card 5555 5555 5555 4444`]]);
  const result = await inspectFile(path, BUDGET);
  assert.equal(result.format, 'pptx');
  assert.deepEqual(counts(result), {
    [K.PERSONAL_DATA_KIND_CREDIT_CARD]: 1,
    [K.PERSONAL_DATA_KIND_PHONE_NUMBER]: 1,
    [K.PERSONAL_DATA_KIND_EMAIL_ADDRESS]: 1,
    [K.PERSONAL_DATA_KIND_PERSON_NAME]: 1,
  });
});

test('PDF: text that pdfjs extracts from a generated two-page document', async (t) => {
  const path = join(tempDir(t), 'statement.pdf');
  writeFileSync(path, pdfDocument([['Customer statement', 'Name: Taro Yamada', `My Number ${M1}`, 'Card 4242-4242-4242-4242'], ['Contact: taro.yamada@example.co.jp', `Wrong ${withWrongLastDigit(M2)}`, 'Tel (03) 1234-5678 (a parenthesis)']]));
  const result = await inspectFile(path, BUDGET);
  assert.equal(result.format, 'pdf');
  assert.equal(result.note, '');
  assert.deepEqual(counts(result), {
    [K.PERSONAL_DATA_KIND_MY_NUMBER]: 1,
    [K.PERSONAL_DATA_KIND_CREDIT_CARD]: 1,
    [K.PERSONAL_DATA_KIND_PHONE_NUMBER]: 1,
    [K.PERSONAL_DATA_KIND_EMAIL_ADDRESS]: 1,
    [K.PERSONAL_DATA_KIND_PERSON_NAME]: 1,
  });
  assert.equal(result.sha256, sha256sum(path));
});

test('zip: text, CSV, an inner zip holding an xlsx, and a PDF are inspected by content; a picture is not', async (t) => {
  const path = join(tempDir(t), 'bundle.zip');
  const inner = await zipBuffer([{ name: 'nested/roster.xlsx', data: await zipBuffer(xlsxEntries([[['氏名', '携帯'], ['山田', '090-1234-5678']]])) }]);
  await writeZip(path, [
    { name: 'memo.txt', data: MEMO },
    { name: 'data/roster.csv', data: csvText(ROSTER) },
    { name: 'inner.zip', data: inner, compress: false },
    { name: 'scan.pdf', data: pdfDocument([[`Contact: hanako@example.com`]]) },
    { name: 'photo.png', data: Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.alloc(2000, 7)]) },
  ]);
  const result = await inspectFile(path, BUDGET);
  assert.equal(result.format, 'zip');
  assert.equal(result.complete, true, result.note);
  assert.deepEqual(counts(result), {
    [K.PERSONAL_DATA_KIND_MY_NUMBER]: 1 + 2,
    [K.PERSONAL_DATA_KIND_CORPORATE_NUMBER]: 1,
    [K.PERSONAL_DATA_KIND_CREDIT_CARD]: 1,
    [K.PERSONAL_DATA_KIND_PHONE_NUMBER]: 2 + 2 + 1,
    [K.PERSONAL_DATA_KIND_POSTAL_CODE]: 1,
    [K.PERSONAL_DATA_KIND_EMAIL_ADDRESS]: 1 + 2 + 1,
    [K.PERSONAL_DATA_KIND_PERSON_NAME]: 1 + 3 + 1,
    [K.PERSONAL_DATA_KIND_POSTAL_ADDRESS]: 1 + 2,
  });
});

test('zip made by zip -P: password-protected entries are counted and never opened; the open entry beside them is inspected', async (t) => {
  if (!hasCommand('zip')) return skipOrFail(t, "Debian's zip is needed for password-protected archives (apt-get install zip)");
  const dir = tempDir(t);
  writeFileSync(join(dir, 'secret.txt'), MEMO);
  writeFileSync(join(dir, 'secret2.csv'), csvText(ROSTER));
  writeFileSync(join(dir, 'open.txt'), 'contact: open@example.com');
  const archive = join(dir, 'mixed.zip');
  const protect = spawnSync('zip', ['-q', '-P', 'correct horse', archive, 'secret.txt', 'secret2.csv'], { cwd: dir, encoding: 'utf8' });
  assert.equal(protect.status, 0, protect.stderr);
  const add = spawnSync('zip', ['-q', archive, 'open.txt'], { cwd: dir, encoding: 'utf8' });
  assert.equal(add.status, 0, add.stderr);
  const result = await inspectFile(archive, BUDGET);
  assert.equal(result.format, 'zip');
  assert.equal(result.encryptedEntries, 2);
  assert.match(result.note, /2 password-protected entries not opened/);
  assert.deepEqual(counts(result), { [K.PERSONAL_DATA_KIND_EMAIL_ADDRESS]: 1 }, 'only the open entry was read');
  assert.equal(result.sha256, sha256sum(archive));
});

test('binary and empty files: hashed, nothing found; a file that starts like a zip but is not one says so', async (t) => {
  const dir = tempDir(t);
  const binary = join(dir, 'random.bin');
  const bytes = Buffer.alloc(300_000);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
  writeFileSync(binary, bytes);
  const b = await inspectFile(binary, BUDGET);
  assert.equal(b.format, 'binary');
  assert.deepEqual(b.findings, []);
  assert.equal(b.sha256, sha256sum(binary));
  const empty = join(dir, 'empty.txt');
  writeFileSync(empty, '');
  const e = await inspectFile(empty, BUDGET);
  assert.equal(e.format, 'empty');
  assert.equal(e.sizeBytes, 0);
  assert.equal(e.sha256, 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  const broken = join(dir, 'broken.docx');
  const real = await zipBuffer(docxEntries(['氏名：山田太郎']));
  writeFileSync(broken, real.subarray(0, real.length - 30));
  const r = await inspectFile(broken, BUDGET);
  assert.equal(r.format, 'zip');
  assert.equal(r.complete, false);
  assert.match(r.note, /not a readable zip archive/);
  assert.equal(r.sha256, sha256sum(broken), 'the hash is there even when the content cannot be read');
});

test('prose with one comma a line is text, not a two-column table; two columns under a known header are CSV', async (t) => {
  const dir = tempDir(t);
  const prose = join(dir, 'notes.txt');
  writeFileSync(prose, '本日の売上は4,980円でした\n明日の予定は3,200円です\n来週は1,000円の予定\n');
  assert.equal((await inspectFile(prose, BUDGET)).format, 'text');
  const pairs = join(dir, 'pairs.txt');
  writeFileSync(pairs, '氏名,電話\n山田,090-1234-5678\n佐藤,080-1234-5678\n');
  const result = await inspectFile(pairs, BUDGET);
  assert.equal(result.format, 'csv');
  assert.deepEqual(counts(result), { [K.PERSONAL_DATA_KIND_PHONE_NUMBER]: 2, [K.PERSONAL_DATA_KIND_PERSON_NAME]: 2 });
});
