import { spawnSync } from 'node:child_process';
import { createWriteStream, readFileSync, statSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { inspectFile } from '../../../agent/src/inspect/file-inspector';
import { myNumberCheckDigit } from '../../../agent/src/inspect/detectors/my-number';
import { docxEntries, xlsxEntries } from '../../support/office-files';
import { pdfDocument } from '../../support/pdf-writer';
import { makeTempDir } from '../../support/temp-dir';
import { writeZip } from '../../support/zip-writer';
import { figure, type BenchContext, type BenchOutcome, type Benchmark, type Figure, type Side } from '../benchmark';

/**
 * Personal-data inspection: the SHA-256 of inspectFile against coreutils' sha256sum on the same
 * file in the same run (page cache warm for both), and inspection throughput per format on files
 * written here with a realistic share of personal data (rosters, memos, statements).
 *
 * Env: MAMORI_BENCH_INSPECT_ROUNDS (default 5), MAMORI_BENCH_INSPECT_HASH_MIB (default 128).
 */

const MiB = 1024 * 1024;
const SIDES: Side[] = [
  { id: 'mamori', label: 'inspectFile (Node, streamed SHA-256 + inspection)' },
  { id: 'sha256sum', label: 'sha256sum (coreutils)', baseline: true },
];
const UNLIMITED = { maxBytes: 1024 * MiB, maxMillis: 600_000 };

function positiveInteger(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a whole number above 0, got "${raw}"`);
  return value;
}

/** Deterministic people: names, addresses, phones, valid My Numbers, e-mail. */
function person(i: number): { name: string; kana: string; address: string; phone: string; myNumber: string; email: string } {
  const family = ['山田', '佐藤', '鈴木', '高橋', '田中', '伊藤', '渡辺', '中村'][i % 8]!;
  const given = ['太郎', '花子', '一郎', '美咲', '健', '陽菜', '翔', '結衣'][(i >> 3) % 8]!;
  const body = String(10_000_000_000 + ((i * 7_919_113) % 89_999_999_999)).slice(0, 11);
  return {
    name: `${family} ${given}`,
    kana: 'ヤマダ タロウ',
    address: `東京都千代田区千代田${(i % 9) + 1}-${(i % 30) + 1}-${(i % 12) + 1}`,
    phone: `090-${String(1000 + (i % 9000))}-${String(1000 + ((i * 7) % 9000))}`,
    myNumber: body + String(myNumberCheckDigit(body)),
    email: `user${i}@example.co.jp`,
  };
}

function memoLines(count: number): string[] {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const p = person(i);
    if (i % 10 === 0) lines.push(`氏名：${p.name}`, `住所：${p.address}`, `連絡先 ${p.phone} / ${p.email}`);
    else if (i % 10 === 5) lines.push(`個人番号 ${p.myNumber} 〒100-000${i % 10}`);
    else lines.push(`${i}件目の打ち合わせ記録。見積もり金額は${(i * 37) % 100_000}円、納期は2024-0${(i % 9) + 1}-15。担当者の所感を記す。`);
  }
  return lines;
}

async function writeLines(path: string, lines: Iterable<string>): Promise<void> {
  const out = createWriteStream(path);
  for (const line of lines) if (!out.write(line + '\n')) await once(out, 'drain');
  out.end();
  await once(out, 'finish');
}

interface Sample {
  format: string;
  path: string;
  contentBytes: number;
}

async function makeFiles(dir: string, log: (m: string) => void): Promise<Sample[]> {
  log('writing sample files');
  const memo = memoLines(200_000);
  const text = join(dir, 'memo.txt');
  await writeLines(text, memo);
  const rows = Array.from({ length: 150_000 }, (_, i) => person(i));
  const csv = join(dir, 'roster.csv');
  await writeLines(csv, ['氏名,フリガナ,住所,電話番号,メールアドレス,マイナンバー,備考', ...rows.map((p, i) => `${p.name},${p.kana},${p.address},${p.phone},${p.email},${p.myNumber},備考${i}`)]);
  const docx = join(dir, 'minutes.docx');
  const docEntries = docxEntries([...memo.slice(0, 40_000), { table: rows.slice(0, 2000).map((p) => [p.name, p.address, p.phone]) }]);
  await writeZip(docx, docEntries);
  const xlsx = join(dir, 'roster.xlsx');
  const sheetEntries = xlsxEntries([[['氏名', '住所', '電話', 'マイナンバー', 'メール'], ...rows.slice(0, 60_000).map((p) => [p.name, p.address, p.phone, Number(p.myNumber), p.email])]]);
  await writeZip(xlsx, sheetEntries);
  const pdf = join(dir, 'statement.pdf');
  const pdfPages: string[][] = [];
  for (let page = 0; page < 300; page++) pdfPages.push(Array.from({ length: 45 }, (_, l) => { const p = person(page * 45 + l); return l % 3 === 0 ? `Customer ${page * 45 + l}: ${p.email} tel ${p.phone}` : `Statement line ${l} amount ${(page * l) % 9999} yen, my number ${p.myNumber}`; }));
  writeFileSync(pdf, pdfDocument(pdfPages));
  const zip = join(dir, 'bundle.zip');
  const zipEntries = [{ name: 'memo.txt', data: readFileSync(text) }, { name: 'roster.csv', data: readFileSync(csv) }];
  await writeZip(zip, zipEntries);
  const size = (p: string) => statSync(p).size;
  const sum = (entries: Array<{ data: string | Buffer }>) => entries.reduce((s, e) => s + Buffer.byteLength(e.data), 0);
  return [
    { format: 'text', path: text, contentBytes: size(text) },
    { format: 'csv', path: csv, contentBytes: size(csv) },
    { format: 'docx', path: docx, contentBytes: sum(docEntries) },
    { format: 'xlsx', path: xlsx, contentBytes: sum(sheetEntries) },
    { format: 'pdf', path: pdf, contentBytes: size(pdf) },
    { format: 'zip', path: zip, contentBytes: sum(zipEntries) },
  ];
}

async function writeRandom(path: string, mebibytes: number): Promise<void> {
  const out = createWriteStream(path);
  const block = Buffer.alloc(MiB);
  for (let i = 0; i < mebibytes; i++) {
    for (let j = 0; j < block.length; j += 4) block.writeUInt32LE(((i * MiB + j) * 2654435761) >>> 0, j);
    if (!out.write(Buffer.from(block))) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

function sha256sumSeconds(path: string): { seconds: number; hash: string } {
  const started = process.hrtime.bigint();
  const result = spawnSync('sha256sum', ['-b', path], { encoding: 'utf8' });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.status !== 0) throw new Error(`sha256sum failed: ${result.stderr}`);
  return { seconds, hash: result.stdout.split(' ')[0]! };
}

async function inspectSeconds(path: string) {
  const started = process.hrtime.bigint();
  const result = await inspectFile(path, UNLIMITED);
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, result };
}

export const inspectBenchmark: Benchmark = {
  name: 'inspect',
  title: 'File inspection: SHA-256 against sha256sum, inspection MB/s per format',
  async run(context: BenchContext): Promise<BenchOutcome> {
    if (spawnSync('sh', ['-c', 'command -v sha256sum']).status !== 0) return { status: 'skipped', reason: 'sha256sum (coreutils) is not installed' };
    const rounds = positiveInteger('MAMORI_BENCH_INSPECT_ROUNDS', 5);
    const hashMiB = positiveInteger('MAMORI_BENCH_INSPECT_HASH_MIB', 128);
    const dir = makeTempDir('mamori-bench-inspect-');
    try {
      const big = join(dir.path, 'random.bin');
      context.log(`writing ${hashMiB} MiB of binary content`);
      await writeRandom(big, hashMiB);
      const samples = await makeFiles(dir.path, context.log);
      // Warm the page cache so that both sides read from memory.
      readFileSync(big);
      const hashMBps: Record<string, number[]> = { mamori: [], sha256sum: [] };
      const bytes = statSync(big).size;
      const notes: string[] = [];
      for (let round = 0; round < rounds; round++) {
        const mamori = await inspectSeconds(big);
        const baseline = sha256sumSeconds(big);
        if (mamori.result.sha256 !== baseline.hash) throw new Error(`hashes differ on ${big}: ${mamori.result.sha256} vs ${baseline.hash}`);
        hashMBps.mamori!.push(bytes / 1e6 / mamori.seconds);
        hashMBps.sha256sum!.push(bytes / 1e6 / baseline.seconds);
        context.log(`hash round ${round + 1}/${rounds}: inspectFile ${(bytes / 1e6 / mamori.seconds).toFixed(0)} MB/s, sha256sum ${(bytes / 1e6 / baseline.seconds).toFixed(0)} MB/s`);
      }
      const figures: Figure[] = [figure(SIDES, 'sha256-throughput', `SHA-256 of a ${hashMiB} MiB binary file`, 'MB/s', hashMBps)];
      const parameters: Record<string, string | number> = { rounds, hashFileMiB: hashMiB };
      for (const sample of samples) {
        const fileMBps: number[] = [];
        const contentMBps: number[] = [];
        let last = null as Awaited<ReturnType<typeof inspectSeconds>>['result'] | null;
        for (let round = 0; round < rounds; round++) {
          const { seconds, result } = await inspectSeconds(sample.path);
          if (result.format !== sample.format || !result.complete) throw new Error(`${sample.path}: expected a complete ${sample.format} inspection, got ${result.format} (${result.note})`);
          fileMBps.push(statSync(sample.path).size / 1e6 / seconds);
          contentMBps.push(sample.contentBytes / 1e6 / seconds);
          last = result;
        }
        const fileMB = statSync(sample.path).size / 1e6;
        parameters[`${sample.format}FileMB`] = Number(fileMB.toFixed(1));
        parameters[`${sample.format}ContentMB`] = Number((sample.contentBytes / 1e6).toFixed(1));
        figures.push(figure(SIDES, `inspect-${sample.format}`, `inspection of ${sample.format} (file bytes)`, 'MB/s', { mamori: fileMBps }));
        if (sample.format !== 'text' && sample.format !== 'csv' && sample.format !== 'pdf') figures.push(figure(SIDES, `inspect-${sample.format}-content`, `inspection of ${sample.format} (uncompressed bytes)`, 'MB/s', { mamori: contentMBps }));
        notes.push(`${sample.format}: ${last!.findings.map((f) => `${f.kind.replace('PERSONAL_DATA_KIND_', '').toLowerCase()} ${f.count}`).join(', ')}`);
        context.log(`${sample.format}: median ${[...fileMBps].sort((a, b) => a - b)[Math.floor(rounds / 2)]!.toFixed(1)} MB/s of file`);
      }
      notes.unshift('Inspection figures include the SHA-256 of the file; sha256sum has no inspection, so they have no ratio. The machine is shared: read ratios, not absolutes.');
      return { status: 'measured', sides: SIDES, figures, counts: [], parameters, notes };
    } finally {
      dir.cleanup();
    }
  },
};
