import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from '../../../support/temp-dir';
import { Outbox, inspectSpool, type OutboxOptions } from '../../../../agent/src/outbox/outbox';
import { agentStatusEvent, usbAttachedEvent } from '../../../../agent/src/core/event-factory';
import { AgentState, type Event } from '../../../../agent/src/generated/mamori/v1/events';

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
  assert.deepEqual(await reopened.append(draft(2)), { accepted: true, sequence: 9n }, 'the corrupt range is not reused');
  await reopened.close();
});
