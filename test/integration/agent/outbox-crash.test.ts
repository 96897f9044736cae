import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { makeTempDir } from '../../support/temp-dir';
import { Outbox } from '../../../agent/src/outbox/outbox';

const WRITER = join(__dirname, 'fixtures', 'outbox-crash-writer.js');
const ROUNDS = 6;

interface RoundOutput {
  ok: Map<string, string>;
  acking: Set<string>;
  acked: Set<string>;
}

/** Runs the writer until it has printed at least `minLines` complete lines, then kill -9s it. */
async function runAndKill(t: import('node:test').TestContext, dir: string, minLines: number): Promise<RoundOutput> {
  const child = spawn(process.execPath, [WRITER, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines: string[] = [];
  let partial = '';
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error(`writer printed only ${lines.length} lines within 60 s: ${stderr}`)), 60_000);
    child.stdout.on('data', (chunk: Buffer) => {
      const parts = (partial + chunk.toString('utf8')).split('\n');
      partial = parts.pop() ?? '';
      lines.push(...parts);
      if (lines.length >= minLines && child.signalCode === null && child.exitCode === null) {
        clearTimeout(deadline);
        child.kill('SIGKILL');
        resolve();
      }
    });
    child.once('exit', (code, signal) => {
      if (signal !== 'SIGKILL') {
        clearTimeout(deadline);
        reject(new Error(`writer exited on its own (code ${code}): ${stderr}`));
      }
    });
  });
  await exited;
  // Anything still in the pipe was written before the kill and is equally valid evidence.
  const out: RoundOutput = { ok: new Map(), acking: new Set(), acked: new Set() };
  for (const line of lines) {
    const [kind, rest, seq] = line.split(' ');
    if (kind === 'ok') out.ok.set(rest, seq);
    else if (kind === 'acking') rest.split(',').forEach((id) => out.acking.add(id));
    else if (kind === 'acked') rest.split(',').forEach((id) => out.acked.add(id));
  }
  return out;
}

test('outbox survives kill -9 at random moments: every taken event present exactly once, acked ones gone, sequences never reused', async (t) => {
  const temp = makeTempDir('mamori-outbox-crash-');
  t.after(() => temp.cleanup());
  const dir = join(temp.path, 'spool');

  const taken = new Map<string, string>(); // eventId -> sequence, from every round
  const sequenceOwner = new Map<string, string>(); // sequence -> eventId
  const ackStarted = new Set<string>();
  const acked = new Set<string>();

  for (let round = 0; round < ROUNDS; round++) {
    const minLines = 50 + Math.floor(Math.random() * 1500);
    const out = await runAndKill(t, dir, minLines);
    for (const [id, seq] of out.ok) {
      taken.set(id, seq);
      const owner = sequenceOwner.get(seq);
      assert.ok(owner === undefined || owner === id, `sequence ${seq} was handed out twice (${owner}, ${id}) in round ${round}`);
      sequenceOwner.set(seq, id);
    }
    out.acking.forEach((id) => ackStarted.add(id));
    out.acked.forEach((id) => acked.add(id));

    const sut = await Outbox.open({ dir, maxBytes: 64 * 1024 * 1024, maxBatchEvents: 25 });
    const counts = new Map<string, number>();
    let previous = 0n;
    for await (const event of sut.scan()) {
      counts.set(event.eventId, (counts.get(event.eventId) ?? 0) + 1);
      const seq = BigInt(event.sequence);
      assert.ok(seq > previous, `spool order broken at sequence ${seq} after ${previous}`);
      previous = seq;
      const owner = sequenceOwner.get(event.sequence);
      assert.ok(owner === undefined || owner === event.eventId, `sequence ${event.sequence} reused`);
    }
    await sut.close();

    for (const [id, n] of counts) assert.equal(n, 1, `event ${id} is in the spool ${n} times`);
    for (const id of acked) assert.equal(counts.has(id), false, `acknowledged event ${id} came back after round ${round}`);
    let checked = 0;
    for (const id of taken.keys()) {
      if (ackStarted.has(id)) continue; // its ack may have completed just before the kill
      assert.equal(counts.get(id), 1, `taken event ${id} (sequence ${taken.get(id)}) missing after round ${round}`);
      checked++;
    }
    assert.ok(out.ok.size > 0, `round ${round} took no events`);
    t.diagnostic(`round ${round}: ${out.ok.size} appended, ${out.acked.size} acked, ${counts.size} in spool, ${checked} verified present`);
  }
});
