import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from '../../../support/temp-dir';
import { Outbox, batchIdFor, inspectSpool, nodeSpoolIo, type OutboxOptions, type SpoolIo } from '../../../../agent/src/outbox/outbox';
import { agentStatusEvent, usbAttachedEvent } from '../../../../agent/src/core/event-factory';
import { AgentState, type Event } from '../../../../agent/src/generated/mamori/v1/events';
import { SerialQuality } from '../../../../agent/src/generated/mamori/v1/common';

function draft(n: number) {
  return usbAttachedEvent({
    device: {
      vendorId: 0x0781,
      productId: 0x5567,
      serial: `SERIAL${n}`,
      manufacturer: 'SanDisk',
      product: 'Cruzer Blade',
      interfaceClasses: [8],
      busPath: `1-${n}`,
      descriptorHash: '',
      serialQuality: SerialQuality.SERIAL_QUALITY_PRESENT,
    },
    presentAtStart: false,
    occurredAt: new Date(1_700_000_000_000 + n),
    userName: 'alice',
  });
}

function tempSpool(t: import('node:test').TestContext): string {
  const dir = makeTempDir('mamori-outbox-');
  t.after(() => dir.cleanup());
  return join(dir.path, 'spool');
}

async function openOutbox(dir: string, overrides: Partial<OutboxOptions> = {}): Promise<Outbox> {
  return Outbox.open({ dir, maxBytes: 10 * 1024 * 1024, maxBatchEvents: 500, ...overrides });
}

async function all(sut: Outbox): Promise<Event[]> {
  const out: Event[] = [];
  for await (const e of sut.scan()) out.push(e);
  return out;
}

test('appends get increasing sequences and are read oldest first in batches, removed only by ack', async (t) => {
  const dir = tempSpool(t);
  const sut = await openOutbox(dir, { maxBatchEvents: 4 });
  const drafts = Array.from({ length: 10 }, (_, i) => draft(i));
  const outcomes = await Promise.all(drafts.map((d) => sut.append(d)));
  assert.deepEqual(
    outcomes.map((o) => (o.accepted ? o.sequence : null)),
    Array.from({ length: 10 }, (_, i) => BigInt(i + 1)),
  );
  assert.equal(sut.stats().events, 10);

  const first = await sut.readBatch();
  assert.ok(first);
  assert.deepEqual(first.events.map((e) => e.eventId), drafts.slice(0, 4).map((d) => d.eventId));
  const again = await sut.readBatch();
  assert.equal(again?.batchId, first.batchId, 'an unacknowledged batch is read again with the same id');

  await sut.ack(first);
  const second = await sut.readBatch();
  assert.ok(second);
  assert.deepEqual(second.events.map((e) => e.sequence), ['5', '6', '7', '8']);
  assert.notEqual(second.batchId, first.batchId);
  await sut.ack(second);
  const third = await sut.readBatch();
  assert.deepEqual(third?.events.map((e) => e.sequence), ['9', '10']);
  await sut.ack(third!);
  assert.equal(await sut.readBatch(), null);
  assert.equal(sut.stats().events, 0);
  assert.equal(sut.stats().bytes, 0);
  await sut.close();
});

test('when the byte bound is hit, events are dropped, counted persistently, and reported once space returns', async (t) => {
  const dir = tempSpool(t);
  const probe = await openOutbox(join(dir, '..', 'probe'));
  await probe.append(draft(0));
  const oneEvent = probe.stats().bytes;
  await probe.close();

  const sut = await openOutbox(dir, { maxBytes: oneEvent * 3 + 10 });
  const outcomes = [];
  for (let i = 0; i < 6; i++) outcomes.push(await sut.append(draft(i)));
  const accepted = outcomes.filter((o) => o.accepted).length;
  const dropped = outcomes.filter((o) => !o.accepted).length;
  assert.equal(accepted, 3);
  assert.equal(dropped, 3);
  assert.equal(sut.stats().droppedTotal, 3);
  await sut.close();

  const reopened = await openOutbox(dir, { maxBytes: oneEvent * 3 + 10 });
  assert.equal(reopened.stats().droppedTotal, 3, 'the drop counter survives a restart');
  assert.equal((await inspectSpool(dir)).droppedTotal, 3);
  const batch = await reopened.readBatch();
  assert.equal(batch?.events.length, 3);
  await reopened.ack(batch!);
  await reopened.flush();

  const events = await all(reopened);
  const reports = events.filter((e) => e.agentStatus?.state === AgentState.AGENT_STATE_EVENTS_DROPPED);
  assert.equal(reports.length, 1, 'exactly one drop report is queued');
  assert.equal(reports[0].agentStatus?.droppedEvents, '3');
  assert.equal(reports[0].sequence, '4', 'the report takes the next sequence');
  await reopened.append(draft(10));
  await reopened.flush();
  const later = (await all(reopened)).filter((e) => e.agentStatus?.state === AgentState.AGENT_STATE_EVENTS_DROPPED);
  assert.equal(later.length, 1, 'the report is not repeated');
  await reopened.close();
});

test('restart after a crash ignores and removes leftover temp files and keeps every committed event', async (t) => {
  const dir = tempSpool(t);
  const sut = await openOutbox(dir);
  for (let i = 0; i < 5; i++) await sut.append(draft(i));
  await sut.close();
  const segmentsDir = join(dir, 'segments');
  // What kill -9 during a commit leaves: a half-written temp file that never got renamed.
  await writeFile(join(segmentsDir, '.00000000000000000006-00000000000000000009.seg.4242.1.tmp'), Buffer.from([0x0a, 0xff, 0x01]));
  await writeFile(join(dir, '.state.json.4242.2.tmp'), '{"highWat');

  const reopened = await openOutbox(dir);
  const names = await readdir(segmentsDir);
  assert.ok(names.every((n) => !n.endsWith('.tmp')), `temp files left: ${names.join(', ')}`);
  const events = await all(reopened);
  assert.deepEqual(events.map((e) => e.sequence), ['1', '2', '3', '4', '5']);
  const next = await reopened.append(draft(99));
  assert.deepEqual(next, { accepted: true, sequence: 6n });
  await reopened.close();
});

test('the batch id and the batch contents are stable across a reopen, even when newer events arrived', async (t) => {
  const dir = tempSpool(t);
  const sut = await openOutbox(dir, { maxBatchEvents: 10 });
  for (let i = 0; i < 3; i++) await sut.append(draft(i));
  const before = await sut.readBatch();
  assert.equal(before?.events.length, 3);
  for (let i = 3; i < 6; i++) await sut.append(draft(i));
  await sut.close();

  const reopened = await openOutbox(dir, { maxBatchEvents: 10 });
  const after = await reopened.readBatch();
  assert.equal(after?.batchId, before!.batchId);
  assert.deepEqual(after?.events.map((e) => e.eventId), before!.events.map((e) => e.eventId));
  await reopened.ack(after!);
  const rest = await reopened.readBatch();
  assert.deepEqual(rest?.events.map((e) => e.sequence), ['4', '5', '6']);
  await reopened.close();
});

test('sequence numbers are never reused after every event was acknowledged and the spool reopened', async (t) => {
  const dir = tempSpool(t);
  const sut = await openOutbox(dir);
  for (let i = 0; i < 3; i++) await sut.append(draft(i));
  await sut.ack((await sut.readBatch())!);
  assert.equal(sut.stats().events, 0);
  await sut.close();

  const reopened = await openOutbox(dir);
  const outcome = await reopened.append(draft(3));
  assert.deepEqual(outcome, { accepted: true, sequence: 4n });
  await reopened.close();
});

test('a partial acknowledgement of a large segment keeps the remainder across a reopen', async (t) => {
  const dir = tempSpool(t);
  const writer = await openOutbox(dir, { maxBatchEvents: 100 });
  await Promise.all(Array.from({ length: 5 }, (_, i) => writer.append(draft(i))));
  await writer.close();
  assert.equal((await readdir(join(dir, 'segments'))).length, 1, 'one group commit, one segment');

  const sut = await openOutbox(dir, { maxBatchEvents: 2 });
  await sut.ack((await sut.readBatch())!);
  await sut.close();
  const reopened = await openOutbox(dir, { maxBatchEvents: 2 });
  assert.deepEqual((await all(reopened)).map((e) => e.sequence), ['3', '4', '5']);
  assert.equal(reopened.stats().events, 3);
  await reopened.close();
});

test('a rejected event moves to rejected/ with the collector message and leaves the upload stream', async (t) => {
  const dir = tempSpool(t);
  const sut = await openOutbox(dir);
  for (let i = 0; i < 3; i++) await sut.append(draft(i));
  await sut.append(
    agentStatusEvent({ state: AgentState.AGENT_STATE_STARTED, message: 'x', droppedEvents: 0, policyVersion: 0n, occurredAt: new Date(), userName: '' }),
  );
  const batch = (await sut.readBatch())!;
  const file = await sut.reject(batch, 1, 'events[1].usb_device_attached.device.vendor_id: must be 0..65535, got 70000');
  const saved = JSON.parse(await readFile(file, 'utf8'));
  assert.equal(saved.eventId, batch.events[1].eventId);
  assert.match(saved.message, /vendor_id/);
  const retry = (await sut.readBatch())!;
  assert.deepEqual(retry.events.map((e) => e.sequence), ['1', '3', '4']);
  assert.notEqual(retry.batchId, batch.batchId);
  assert.equal((await inspectSpool(dir)).rejected, 1);
  await sut.close();
});

test('an unreadable segment is moved aside instead of blocking the spool', async (t) => {
  const dir = tempSpool(t);
  const sut = await openOutbox(dir);
  await sut.append(draft(1));
  await sut.close();
  await writeFile(join(dir, 'segments', '00000000000000000007-00000000000000000008.seg'), Buffer.from([0x20, 0x01]));
  const reopened = await openOutbox(dir);
  assert.deepEqual((await all(reopened)).map((e) => e.sequence), ['1']);
  assert.ok((await readdir(join(dir, 'rejected'))).some((n) => n.endsWith('.corrupt')));
  assert.equal(reopened.stats().droppedTotal, 2, 'its events (framing broken: the name range, 7-8) are counted as dropped');
  const next = await reopened.append(draft(2));
  assert.ok(next.accepted && next.sequence > 8n, 'the corrupt range is not reused');
  await reopened.close();
});

test('single appends extend one head segment: 2,000 appends make about appends / maxBatchEvents files, all read back in order', async (t) => {
  const dir = tempSpool(t);
  const sut = await openOutbox(dir, { maxBatchEvents: 100 });
  for (let i = 0; i < 2000; i++) {
    const outcome = await sut.append(draft(i));
    assert.ok(outcome.accepted);
  }
  const files = await readdir(join(dir, 'segments'));
  assert.ok(files.length <= 2000 / 100 + 1, `${files.length} segment files for 2,000 appends`);
  assert.equal(sut.stats().segments, files.length);
  await sut.close();

  const reopened = await openOutbox(dir, { maxBatchEvents: 100 });
  const events = await all(reopened);
  assert.deepEqual(
    events.map((e) => e.sequence),
    Array.from({ length: 2000 }, (_, i) => String(i + 1)),
  );
  let drained = 0;
  for (let batch = await reopened.readBatch(); batch !== null; batch = await reopened.readBatch()) {
    drained += batch.events.length;
    await reopened.ack(batch);
  }
  assert.equal(drained, 2000);
  assert.deepEqual(await readdir(join(dir, 'segments')), []);
  await reopened.close();
});

test('a torn tail on the head segment (a crash mid-append) is cut off without losing any earlier record', async (t) => {
  for (const tail of [Buffer.from([0x50, 0x0a, 0x24]) /* truncated frame */, Buffer.alloc(40) /* zero-filled blocks */]) {
    const dir = tempSpool(t);
    const sut = await openOutbox(dir);
    for (let i = 0; i < 3; i++) await sut.append(draft(i));
    await sut.close();
    const [head] = await readdir(join(dir, 'segments'));
    assert.match(head, /\.open$/);
    const path = join(dir, 'segments', head);
    await writeFile(path, Buffer.concat([await readFile(path), tail]));

    const reopened = await openOutbox(dir);
    assert.deepEqual((await all(reopened)).map((e) => e.sequence), ['1', '2', '3']);
    assert.ok((await readdir(join(dir, 'rejected'))).some((n) => n.endsWith('.torn')), 'the cut bytes are kept for inspection');
    assert.deepEqual(await reopened.append(draft(9)), { accepted: true, sequence: 4n });
    await reopened.close();
    const again = await openOutbox(dir);
    assert.deepEqual((await all(again)).map((e) => e.sequence), ['1', '2', '3', '4']);
    await again.close();
  }
});

/** Two framed records whose bodies are not Events (field 1 with wire type 7). */
const FRAMED_GARBAGE = Buffer.from([0x02, 0x0f, 0x00, 0x02, 0x0f, 0x00]);

test('a segment whose framing is intact but whose content is not is moved aside at start-up and its events counted as dropped', async (t) => {
  const dir = tempSpool(t);
  const sut = await openOutbox(dir);
  await sut.append(draft(1));
  await sut.close();
  await writeFile(join(dir, 'segments', '00000000000000000005-00000000000000000006.seg'), FRAMED_GARBAGE);

  const reopened = await openOutbox(dir);
  assert.ok((await readdir(join(dir, 'rejected'))).includes('00000000000000000005-00000000000000000006.seg.corrupt'));
  assert.equal(reopened.stats().droppedTotal, 2);
  const batch = await reopened.readBatch();
  assert.deepEqual(batch?.events.map((e) => e.sequence), ['1']);
  await reopened.ack(batch!);
  await reopened.flush();
  const report = (await all(reopened)).find((e) => e.agentStatus?.state === AgentState.AGENT_STATE_EVENTS_DROPPED);
  assert.equal(report?.agentStatus?.droppedEvents, '2', 'the loss is reported');
  await reopened.close();
});

test('a segment that stops decoding while the agent runs is moved aside by readBatch, counted as dropped, and uploads go on', async (t) => {
  const dir = tempSpool(t);
  const sut = await openOutbox(dir, { maxBatchEvents: 2 });
  for (let i = 0; i < 3; i++) await sut.append(draft(i));
  const closed = (await readdir(join(dir, 'segments'))).find((n) => n.endsWith('.seg'));
  assert.equal(closed, '00000000000000000001-00000000000000000002.seg');
  await writeFile(join(dir, 'segments', closed), FRAMED_GARBAGE);

  const batch = await sut.readBatch();
  assert.deepEqual(batch?.events.map((e) => e.sequence), ['3'], 'the events behind the bad file are delivered');
  assert.ok((await readdir(join(dir, 'rejected'))).includes(`${closed}.corrupt`));
  assert.equal(sut.stats().droppedTotal, 2);
  assert.equal(sut.stats().events, 1);
  assert.equal((await inspectSpool(dir)).droppedTotal, 2, 'the drop count is persisted');
  await sut.ack(batch!);
  await sut.flush();
  const report = await sut.readBatch();
  assert.equal(report?.events[0].agentStatus?.state, AgentState.AGENT_STATE_EVENTS_DROPPED);
  assert.equal(report?.events[0].agentStatus?.droppedEvents, '2');
  await sut.close();
});

test('a failing disk while a drop report is owed is retried with backoff, not in a tight loop', async (t) => {
  const dir = tempSpool(t);
  const seed = await openOutbox(dir);
  await seed.close();
  // Drops happened earlier (the persisted counter says so) and the report is still owed.
  await writeFile(join(dir, 'state.json'), JSON.stringify({ highWaterSequence: '0', droppedTotal: 5, droppedReported: 0 }));
  let failing = true;
  let attempts = 0;
  const io: SpoolIo = {
    replaceFile: async (path, data) => {
      if (failing) {
        attempts++;
        throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
      }
      return nodeSpoolIo.replaceFile(path, data);
    },
    writeAt: async (path, data, offset) => {
      if (failing) {
        attempts++;
        throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
      }
      return nodeSpoolIo.writeAt(path, data, offset);
    },
    syncDir: nodeSpoolIo.syncDir,
  };
  const sut = await openOutbox(dir, { io });
  await assert.rejects(sut.append(draft(1)), /EIO/);
  await new Promise((r) => setTimeout(r, 1_000));
  // 100 + 200 + 400 ms of backoff fit in the second; without it this was thousands of attempts.
  assert.ok(attempts <= 10, `${attempts} write attempts in one second`);
  assert.ok(attempts >= 2, 'the owed report is still retried');

  failing = false;
  const deadline = Date.now() + 15_000;
  while (sut.stats().droppedReported !== 5) {
    if (Date.now() > deadline) assert.fail('the drop report was never written after the disk recovered');
    await new Promise((r) => setTimeout(r, 20));
  }
  const after = await sut.append(draft(2));
  assert.equal(after.accepted, true, 'appends work again');
  await sut.close();
});

test('rejected/ keeps at most its bound, deleting the oldest files and counting them', async (t) => {
  const dir = tempSpool(t);
  const sut = await openOutbox(dir, { maxRejectedFiles: 3 });
  for (let i = 0; i < 5; i++) await sut.append(draft(i));
  for (let i = 0; i < 5; i++) {
    const batch = (await sut.readBatch())!;
    await sut.reject(batch, 0, `bad ${i}`);
  }
  const kept = (await readdir(join(dir, 'rejected'))).sort();
  assert.equal(kept.length, 3);
  assert.deepEqual(kept.map((n) => n.slice(0, 20)), ['00000000000000000003', '00000000000000000004', '00000000000000000005'], 'the newest are kept');
  assert.equal(sut.stats().rejectedDiscarded, 2);
  assert.deepEqual({ ...(await inspectSpool(dir)), bytes: 0 }, { events: 0, bytes: 0, droppedTotal: 0, rejected: 3, rejectedDiscarded: 2 });
  await sut.close();

  const bytesBound = tempSpool(t);
  const small = await openOutbox(bytesBound, { maxRejectedBytes: 1500 });
  for (let i = 0; i < 5; i++) await small.append(draft(i));
  for (let i = 0; i < 5; i++) await small.reject((await small.readBatch())!, 0, 'x'.repeat(400));
  const files = await readdir(join(bytesBound, 'rejected'));
  let total = 0;
  for (const f of files) total += (await readFile(join(bytesBound, 'rejected', f))).length;
  assert.ok(total <= 1500 && files.length >= 1, `${files.length} files, ${total} bytes`);
  assert.equal(small.stats().rejectedDiscarded, 5 - files.length);
  await small.close();
});

test('batches are capped by encoded bytes too, and a caller may ask for fewer events; the batch id follows the event set', async (t) => {
  const dir = tempSpool(t);
  const probe = await openOutbox(join(dir, '..', 'probe'));
  await probe.append(draft(3)); // drafts 3..9 encode to the same size (their nanoseconds take 4 varint bytes)
  const oneEvent = probe.stats().bytes;
  await probe.close();

  const sut = await openOutbox(dir, { maxBatchEvents: 100, maxBatchBytes: 64 + (oneEvent + 1) * 4 });
  for (let i = 3; i <= 9; i++) await sut.append(draft(i));
  const batch = (await sut.readBatch())!;
  assert.equal(batch.events.length, 4, `four events of ${oneEvent} bytes fit the byte cap, got ${batch.events.length}`);
  assert.equal(batch.batchId, batchIdFor(batch.events));
  const half = (await sut.readBatch({ maxEvents: 2 }))!;
  assert.deepEqual(half.events.map((e) => e.sequence), ['1', '2']);
  assert.equal(half.batchId, batchIdFor(half.events));
  assert.equal((await sut.readBatch({ maxEvents: 2 }))!.batchId, half.batchId, 'the same set, the same id');

  const tiny = await openOutbox(join(dir, '..', 'tiny'), { maxBatchBytes: 10 });
  await tiny.append(draft(1));
  await tiny.append(draft(2));
  assert.equal((await tiny.readBatch())?.events.length, 1, 'one event is always sent, however large');
  await tiny.close();
  await sut.close();
});
