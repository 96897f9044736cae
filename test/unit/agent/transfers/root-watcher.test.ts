import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { appendFile, mkdir, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from '../../../support/temp-dir';
import { CpuGovernor } from '../../../../agent/src/sources/transfers/cpu-governor';
import { InspectionQueue } from '../../../../agent/src/sources/transfers/inspection-queue';
import { RootWatcher } from '../../../../agent/src/sources/transfers/root-watcher';
import type { InspectFile } from '../../../../agent/src/sources/transfers/transfer-content';
import { createLogger } from '../../../../agent/src/logging/logger';
import { FileOperation, TransferChannel, type FileTransfer } from '../../../../agent/src/generated/mamori/v1/events';

/**
 * A stand-in for the inspector (agent/src/inspect), used only in these tests: it streams the
 * file through SHA-256 like the real one and finds nothing. The watcher's behaviour is the subject.
 */
const hashOnly: InspectFile = (path, _budget, signal) =>
  new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let size = 0;
    const stream = createReadStream(path, { signal });
    stream.on('data', (chunk) => {
      size += (chunk as Buffer).length;
      hash.update(chunk as Buffer);
    });
    stream.on('error', reject);
    stream.on('end', () => resolve({ sizeBytes: size, sha256: hash.digest('hex'), format: 'text', findings: [], complete: true, note: '', encryptedEntries: 0 }));
  });

const sha = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

async function until<T>(what: string, check: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function harness(t: { after(fn: () => unknown): void }, root: string, inspect: InspectFile = hashOnly, settleMs = 200) {
  const events: FileTransfer[] = [];
  const queue = new InspectionQueue({ concurrency: 2, maxQueued: 100, governor: new CpuGovernor({ limitPercent: 10_000 }) });
  const sut = new RootWatcher(
    { key: `folder:${root}`, kind: 'folder', root, channel: TransferChannel.TRANSFER_CHANNEL_WATCHED_FOLDER, attachedEventId: '', deviceNode: '', encrypted: false },
    {
      queue,
      inspect,
      budget: () => ({ maxBytes: 1 << 20, maxMillis: 1_000 }),
      emit: async (transfer) => void events.push(transfer),
      logger: createLogger('error'),
      settleMs,
      pairWindowMs: 400,
      maxPending: 1_000,
      maxKnown: 1_000,
    },
  );
  t.after(() => sut.stop());
  return { sut, events, queue };
}

test('files already in the folder are not transfers; a new file is WRITTEN once with its hash, relative path and size', async (t) => {
  const temp = makeTempDir('mamori-watch-');
  t.after(() => temp.cleanup());
  await mkdir(join(temp.path, 'old'));
  await writeFile(join(temp.path, 'old', 'there-before.txt'), 'old content');
  const { sut, events } = harness(t, temp.path);
  await sut.start();
  assert.equal(sut.state, 'watching');
  await mkdir(join(temp.path, 'sub'));
  await writeFile(join(temp.path, 'sub', 'new.csv'), 'name,phone\nA,03-1234-5678\n');
  const written = await until('the WRITTEN event', () => events.find((e) => e.operation === FileOperation.FILE_OPERATION_WRITTEN));
  assert.equal(written.path, 'sub/new.csv');
  assert.equal(written.sha256, sha('name,phone\nA,03-1234-5678\n'));
  assert.equal(written.sizeBytes, String(Buffer.byteLength('name,phone\nA,03-1234-5678\n')));
  assert.equal(written.destination, temp.path);
  assert.equal(written.channel, TransferChannel.TRANSFER_CHANNEL_WATCHED_FOLDER);
  assert.equal(written.processName, '');
  assert.equal(written.problem, '');
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(events.length, 1, 'one event, and none for the file that was there before');
});

test('a file written slowly in chunks is reported once, complete, after the writer stops', async (t) => {
  const temp = makeTempDir('mamori-watch-');
  t.after(() => temp.cleanup());
  // The window is well above the 100 ms gaps, so a stalled test process does not end the file early.
  const { sut, events } = harness(t, temp.path, hashOnly, 1000);
  await sut.start();
  const path = join(temp.path, 'slow.bin');
  const chunks: Buffer[] = [];
  for (let i = 0; i < 8; i++) {
    const chunk = Buffer.alloc(64 * 1024, i);
    chunks.push(chunk);
    await appendFile(path, chunk);
    await new Promise((r) => setTimeout(r, 100)); // gaps shorter than the window
  }
  const written = await until('the WRITTEN event', () => events.find((e) => e.operation === FileOperation.FILE_OPERATION_WRITTEN));
  assert.equal(written.sizeBytes, String(8 * 64 * 1024));
  assert.equal(written.sha256, sha(Buffer.concat(chunks)));
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(events.length, 1, 'not reported while being written, and once only');
});

test('a rename is one RENAMED with the previous path and the known hash; a delete is DELETED with the hash', async (t) => {
  const temp = makeTempDir('mamori-watch-');
  t.after(() => temp.cleanup());
  const { sut, events } = harness(t, temp.path);
  await sut.start();
  await writeFile(join(temp.path, 'draft.txt'), 'hello');
  await until('written', () => events.length === 1);
  await mkdir(join(temp.path, 'final'));
  await rename(join(temp.path, 'draft.txt'), join(temp.path, 'final', 'report.txt'));
  const renamed = await until('renamed', () => events.find((e) => e.operation === FileOperation.FILE_OPERATION_RENAMED));
  assert.equal(renamed.path, 'final/report.txt');
  assert.equal(renamed.previousPath, 'draft.txt');
  assert.equal(renamed.sha256, sha('hello'));
  await unlink(join(temp.path, 'final', 'report.txt'));
  const deleted = await until('deleted', () => events.find((e) => e.operation === FileOperation.FILE_OPERATION_DELETED));
  assert.equal(deleted.path, 'final/report.txt');
  assert.equal(deleted.sha256, sha('hello'));
  await new Promise((r) => setTimeout(r, 600));
  assert.deepEqual(events.map((e) => e.operation), [FileOperation.FILE_OPERATION_WRITTEN, FileOperation.FILE_OPERATION_RENAMED, FileOperation.FILE_OPERATION_DELETED]);
});

test('a file written under a temporary name and renamed into place is reported once, under its final name', async (t) => {
  const temp = makeTempDir('mamori-watch-');
  t.after(() => temp.cleanup());
  const { sut, events } = harness(t, temp.path, hashOnly, 1000);
  await sut.start();
  await writeFile(join(temp.path, 'book.xlsx.part'), 'partial');
  await new Promise((r) => setTimeout(r, 50));
  await appendFile(join(temp.path, 'book.xlsx.part'), ' and the rest');
  await rename(join(temp.path, 'book.xlsx.part'), join(temp.path, 'book.xlsx'));
  const written = await until('written', () => events.find((e) => e.operation === FileOperation.FILE_OPERATION_WRITTEN));
  assert.equal(written.path, 'book.xlsx');
  assert.equal(written.sha256, sha('partial and the rest'));
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(events.length, 1, `no event for the temporary name: ${JSON.stringify(events.map((e) => [e.operation, e.path]))}`);
});

test('a file that cannot be read gets an event with the problem; the watcher goes on', async (t) => {
  const temp = makeTempDir('mamori-watch-');
  t.after(() => temp.cleanup());
  const failing: InspectFile = async (path, budget, signal) => {
    if (path.endsWith('bad.txt')) throw Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
    return hashOnly(path, budget, signal);
  };
  const { sut, events } = harness(t, temp.path, failing);
  await sut.start();
  await writeFile(join(temp.path, 'bad.txt'), 'x');
  await writeFile(join(temp.path, 'good.txt'), 'y');
  await until('both', () => events.length === 2);
  const bad = events.find((e) => e.path === 'bad.txt')!;
  assert.match(bad.problem, /could not be read: EIO/);
  assert.equal(bad.sha256, '');
  assert.equal(events.find((e) => e.path === 'good.txt')!.sha256, sha('y'));
});

test('the folder removed mid-copy: the watcher stops by itself, files being written are reported with a problem, nothing hangs', async (t) => {
  const temp = makeTempDir('mamori-watch-');
  t.after(() => temp.cleanup());
  const root = join(temp.path, 'share');
  await mkdir(root);
  const { sut, events } = harness(t, root, hashOnly, 1_500);
  await sut.start();
  await writeFile(join(root, 'done.txt'), 'complete');
  await until('the complete file', () => events.length === 1);
  await writeFile(join(root, 'midway.bin'), Buffer.alloc(1000));
  await new Promise((r) => setTimeout(r, 100));
  await rm(root, { recursive: true, force: true });
  await until('the watcher stopped', () => sut.state === 'stopped');
  assert.match(sut.problem, /was removed/);
  const midway = await until('the file that was mid-copy', () => events.find((e) => e.path === 'midway.bin'));
  assert.notEqual(midway.problem, '', 'it was never read, and the event says so');
  assert.equal(midway.sha256, '');
  const done = events.filter((e) => e.path === 'done.txt');
  assert.equal(done[0]!.operation, FileOperation.FILE_OPERATION_WRITTEN);
  assert.ok(done.length <= 2, 'at most its write and its delete');
});

test('a folder that does not exist is reported, not fatal', async (t) => {
  const temp = makeTempDir('mamori-watch-');
  t.after(() => temp.cleanup());
  const { sut } = harness(t, join(temp.path, 'nowhere'));
  await sut.start();
  assert.equal(sut.state, 'failed');
  assert.match(sut.problem, /does not exist on this host/);
});
