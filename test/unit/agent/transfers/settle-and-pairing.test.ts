import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SettleTracker, type FileSnapshot } from '../../../../agent/src/sources/transfers/settle-tracker';
import { KnownFiles, RenamePairer } from '../../../../agent/src/sources/transfers/rename-pairer';
import { unreadContent } from '../../../../agent/src/sources/transfers/transfer-content';

const snap = (size: number, ino = 100, mtimeMs = 1_000, dev = 7): FileSnapshot => ({ size, mtimeMs, ino, dev });

test('a file counts as complete only after it was quiet for the window and a stat then finds it unchanged', () => {
  let now = 0;
  const sut = new SettleTracker({ settleMs: 1_000, maxPending: 10, now: () => now });
  sut.touch('a.csv', snap(10));
  now = 999;
  assert.deepEqual(sut.due(), [], 'not quiet long enough');
  now = 1_000;
  assert.deepEqual(sut.due(), ['a.csv']);
  // The writer went on without an event reaching us: the stat differs, the window starts over.
  assert.equal(sut.confirm('a.csv', snap(20, 100, 1_500)), 'changed');
  assert.deepEqual(sut.due(), []);
  now = 2_000;
  assert.deepEqual(sut.due(), ['a.csv']);
  assert.equal(sut.confirm('a.csv', snap(20, 100, 1_500)), 'settled');
  assert.equal(sut.size, 0, 'a settled file is no longer tracked');
  assert.equal(sut.confirm('a.csv', snap(20)), 'unknown');
});

test('each write event restarts the quiet window, and due files come oldest activity first, limited', () => {
  let now = 0;
  const sut = new SettleTracker({ settleMs: 100, maxPending: 10, now: () => now });
  sut.touch('first', snap(1, 1));
  now = 10;
  sut.touch('second', snap(1, 2));
  now = 50;
  sut.touch('first', snap(2, 1)); // still being written
  now = 140;
  assert.deepEqual(sut.due(), ['second']);
  now = 200;
  assert.deepEqual(sut.due(), ['second', 'first']);
  assert.deepEqual(sut.due(1), ['second']);
});

test('the tracker is bounded: beyond maxPending a new file overflows, a known one is still tracked', () => {
  const sut = new SettleTracker({ settleMs: 100, maxPending: 2, now: () => 0 });
  assert.equal(sut.touch('a', snap(1, 1)), 'tracked');
  assert.equal(sut.touch('b', snap(1, 2)), 'tracked');
  assert.equal(sut.touch('c', snap(1, 3)), 'overflow');
  assert.equal(sut.touch('a', snap(5, 1)), 'tracked', 'more writes to a tracked file are not an overflow');
  assert.deepEqual(sut.drain().map((p) => p.path).sort(), ['a', 'b']);
  assert.equal(sut.size, 0);
});

const known = (s: FileSnapshot) => ({ snapshot: s, content: { ...unreadContent(s.size), sha256: 'ab'.repeat(32) } });

test('unlink + add of the same inode and size within the window pair into a rename, in either order of arrival', () => {
  let now = 0;
  const sut = new RenamePairer({ windowMs: 500, now: () => now });
  sut.vanish('old/report.csv', { known: known(snap(42, 9)) });
  now = 100;
  const paired = sut.pair('new/report.csv', snap(42, 9));
  assert.equal(paired?.path, 'old/report.csv');
  assert.equal(paired?.known?.content.sha256, 'ab'.repeat(32));
  assert.equal(sut.size, 0);
  now = 10_000;
  assert.deepEqual(sut.expired(), [], 'nothing left to report as deleted');
});

test('a vanished path nobody claims within the window is a delete; an unrelated new file is not paired with it', () => {
  let now = 0;
  const sut = new RenamePairer({ windowMs: 500, now: () => now });
  sut.vanish('gone.txt', { known: known(snap(42, 9)) });
  assert.equal(sut.pair('other.txt', snap(42, 10, 2_000)), null, 'different inode and different mtime: not the same file');
  now = 499;
  assert.deepEqual(sut.expired(), []);
  now = 500;
  assert.deepEqual(sut.expired().map((v) => v.path), ['gone.txt']);
});

test('when inode numbers change (vfat renumbers), size and mtime pair only when exactly one vanished file matches', () => {
  const sut = new RenamePairer({ windowMs: 500, now: () => 0 });
  sut.vanish('a.txt', { known: known(snap(42, 1, 5_000)) });
  assert.equal(sut.pair('b.txt', snap(42, 77, 5_000))?.path, 'a.txt');
  sut.vanish('c.txt', { known: known(snap(42, 2, 6_000)) });
  sut.vanish('d.txt', { known: known(snap(42, 3, 6_000)) });
  assert.equal(sut.pair('e.txt', snap(42, 78, 6_000)), null, 'two candidates: cannot tell which, so no rename is claimed');
  assert.equal(sut.pair('f.txt', snap(42, 3, 6_000))?.path, 'd.txt', 'the inode still decides when it matches');
});

test('the same path appearing again is a replacement, never a rename of itself; paths already on the volume cannot be paired', () => {
  const sut = new RenamePairer({ windowMs: 500, now: () => 0 });
  sut.vanish('same.txt', { known: known(snap(42, 1)) });
  assert.equal(sut.pair('same.txt', snap(42, 1)), null);
  assert.equal(sut.size, 0);
  sut.vanish('preexisting.txt', {});
  assert.equal(sut.pair('moved.txt', snap(0, 0, 0)), null, 'no inode was ever recorded for it');
  sut.vanish('preexisting.txt', {});
  assert.equal(sut.drain().length, 1, 'a second report of the same vanished path is ignored');
});

test('a file still being written that is renamed (temporary name put in place) is carried over as pending', () => {
  const sut = new RenamePairer({ windowMs: 500, now: () => 0 });
  sut.vanish('.~report.tmp', { pending: snap(10, 5) });
  const paired = sut.pair('report.docx', snap(10, 5));
  assert.equal(paired?.pending?.ino, 5);
  assert.equal(paired?.known, undefined);
});

test('pairing stays cheap when thousands of files move at once', () => {
  const sut = new RenamePairer({ windowMs: 500, now: () => 0 });
  for (let i = 0; i < 20_000; i++) sut.vanish(`a/${i}`, { known: known(snap(i, i)) });
  const started = performance.now();
  for (let i = 0; i < 20_000; i++) assert.equal(sut.pair(`b/${i}`, snap(i, i))?.path, `a/${i}`);
  assert.ok(performance.now() - started < 2_000, 'indexed, not a scan per add');
});

test('the known-file index forgets the oldest beyond its bound', () => {
  const sut = new KnownFiles(2);
  sut.set('a', known(snap(1)));
  sut.set('b', known(snap(2)));
  sut.set('a', known(snap(3))); // refreshed: now newest
  sut.set('c', known(snap(4)));
  assert.equal(sut.get('b'), undefined);
  assert.equal(sut.get('a')?.snapshot.size, 3);
  assert.equal(sut.take('c')?.snapshot.size, 4);
  assert.equal(sut.size, 1);
});
