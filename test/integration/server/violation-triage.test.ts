import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Event } from '../../../agent/src/generated/mamori/v1/events';
import type { UploadEventsResponse } from '../../../agent/src/generated/mamori/v1/telemetry';
import { ViolationFeed } from '../../../server/src/modules/violations/violation-feed.service';
import { DATABASE_KINDS } from '../../support/databases';
import { ADMIN_TOKEN, EnrolledAgent, enrollAgent, startTestCollector, telemetryClient, TestCollector, unary, usbAttached } from './collector-harness';
import { apiToken, signIn } from './role-users';

const PASSWORD = 'correct horse battery staple 42';

async function upload(t: TestContext, sut: TestCollector, agent: EnrolledAgent, events: Event[]): Promise<void> {
  await unary<UploadEventsResponse>((cb) => telemetryClient(t, sut, agent.credentials).uploadEvents({ batchId: randomUUID(), events }, cb));
}

/** Sends a USB attach of an unregistered stick and returns the violation it raised. */
async function violationFrom(t: TestContext, sut: TestCollector, agent: EnrolledAgent, serial: string): Promise<{ event: Event; violation: Record<string, any> }> {
  const event = usbAttached({ serial });
  await upload(t, sut, agent, [event]);
  const all = (await sut.rest('GET', `/api/v1/violations?agentId=${agent.agentId}&limit=500`)).body.items as Array<Record<string, any>>;
  const violation = all.find((item) => item.eventId === event.eventId);
  assert.ok(violation, `the attach of ${serial} raised a violation`);
  return { event, violation };
}

async function createUser(sut: TestCollector, username: string, roles: string[]): Promise<Record<string, any>> {
  const created = await sut.rest('POST', '/api/v1/users', { username, displayName: username, roles, password: PASSWORD });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body;
}

interface StreamEvent {
  event: string;
  id: string;
  data: any;
  at: number;
}

/** An open GET /violations/stream read as Server-Sent Events. */
class EventStreamReader {
  readonly events: StreamEvent[] = [];
  readonly comments: string[] = [];
  private waiters: Array<() => void> = [];
  private buffer = '';
  private readonly abort = new AbortController();
  status = 0;
  contentType = '';

  /** Opens the stream as the administrator token, or with `credential` headers (a session cookie, an API token). */
  static async open(t: TestContext, sut: TestCollector, lastEventId?: string, credential: Record<string, string> = { authorization: `Bearer ${ADMIN_TOKEN}` }): Promise<EventStreamReader> {
    const reader = new EventStreamReader();
    t.after(() => reader.close());
    const headers: Record<string, string> = { ...credential, accept: 'text/event-stream' };
    if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
    const response = await fetch(`${sut.httpBase}/api/v1/violations/stream`, { headers, signal: reader.abort.signal });
    reader.status = response.status;
    reader.contentType = response.headers.get('content-type') ?? '';
    if (response.body !== null && response.status === 200) void reader.pump(response.body);
    return reader;
  }

  close(): void {
    this.abort.abort();
  }

  private async pump(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
        this.buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = this.buffer.indexOf('\n\n')) !== -1) {
          this.take(this.buffer.slice(0, end));
          this.buffer = this.buffer.slice(end + 2);
        }
      }
    } catch {
      // aborted by close()
    }
    this.finished = true;
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** True once the server ended the response. */
  finished = false;

  private take(block: string): void {
    const fields: Record<string, string> = {};
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) this.comments.push(line.slice(1).trim());
      const colon = line.indexOf(':');
      if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 1).replace(/^ /, '');
    }
    if (fields.data !== undefined) this.events.push({ event: fields.event ?? 'message', id: fields.id ?? '', data: JSON.parse(fields.data), at: Date.now() });
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** The first event (from index `from`) matching `match`, waiting at most `ms`. */
  async next(match: (event: StreamEvent) => boolean, ms: number, from = 0): Promise<StreamEvent> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.events.slice(from).find(match);
      if (found !== undefined) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching stream event within ${ms} ms; got ${JSON.stringify(this.events.map((e) => [e.event, e.data?.id, e.data?.status]))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

async function eventually<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, ms = 5_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

for (const kind of DATABASE_KINDS) {
  describe(`violation triage, filters and trail (${kind})`, () => {
    test('false positive with a note, assignment to a security user (validated), each with its audit record; filters; the trail', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const agent = await enrollAgent(t, sut, 'sales-pc-01');
      const other = await enrollAgent(t, sut, 'lab-pc-02');
      const { event, violation } = await violationFrom(t, sut, agent, 'TRIAGE-1');
      const { violation: elsewhere } = await violationFrom(t, sut, other, 'TRIAGE-2');
      assert.equal(violation.status, 'open');
      assert.equal(violation.assignee, null);
      assert.equal(violation.department, '', 'the machine is not in the ledger yet');

      const marked = await sut.rest('PATCH', `/api/v1/violations/${violation.id}`, { status: 'false_positive', note: 'the IT test stick, registered next week' });
      assert.equal(marked.status, 200, JSON.stringify(marked.body));
      assert.equal(marked.body.status, 'false_positive');
      assert.equal(marked.body.note, 'the IT test stick, registered next week');

      const empty = await sut.rest('PATCH', `/api/v1/violations/${violation.id}`, {});
      assert.equal(empty.status, 400);
      assert.match(empty.body.message, /at least one of status, note or assignee/);

      // Assignment: only an existing, enabled user holding security.
      const reviewer = await createUser(sut, 'sato', ['security', 'auditor']);
      await createUser(sut, 'tanaka', ['it']);
      const leaver = await createUser(sut, 'suzuki', ['security']);
      assert.equal((await sut.rest('PATCH', `/api/v1/users/${leaver.id}`, { disabled: true })).status, 200);
      for (const [assignee, message] of [
        ['nobody', /assignee "nobody" is not a user/],
        ['tanaka', /assignee "tanaka" does not hold the role security \(holds it\)/],
        ['suzuki', /assignee "suzuki" is a disabled user/],
      ] as const) {
        const refused: { status: number; body: { message: string } } = await sut.rest('PATCH', `/api/v1/violations/${violation.id}`, { assignee });
        assert.equal(refused.status, 400, assignee);
        assert.match(refused.body.message, message);
      }
      const assigned = await sut.rest('PATCH', `/api/v1/violations/${violation.id}`, { assignee: 'Sato' });
      assert.equal(assigned.status, 200, JSON.stringify(assigned.body));
      assert.equal(assigned.body.assignee, reviewer.username, 'stored as the user is named');
      assert.equal(assigned.body.status, 'false_positive', 'an assignment leaves the status');

      const records = (await sut.rest('GET', `/api/v1/audit?subjectType=violation&subjectId=${violation.id}`)).body.items as Array<Record<string, any>>;
      assert.equal(records.length, 2, 'the false positive and the assignment; refused changes leave none');
      const [assignment, falsePositive] = records;
      assert.equal(falsePositive.action, 'violation.triaged');
      assert.equal(falsePositive.before.status, 'open');
      assert.equal(falsePositive.after.status, 'false_positive');
      assert.equal(falsePositive.after.note, 'the IT test stick, registered next week');
      assert.equal(assignment.before.assignee, null);
      assert.equal(assignment.after.assignee, 'sato');
      assert.equal(assignment.actor.kind, 'admin-token');

      // Filters: severity, assignee, department (from the ledger), status.
      const ids = async (query: string) => ((await sut.rest('GET', `/api/v1/violations?limit=500&${query}`)).body.items as Array<{ id: string }>).map((item) => item.id).sort();
      assert.deepEqual(await ids(`severity=${violation.severity}`), [violation.id, elsewhere.id].sort());
      assert.deepEqual(await ids(`severity=${violation.severity === 'critical' ? 'low' : 'critical'}`), []);
      assert.deepEqual(await ids('assignee=sato'), [violation.id]);
      assert.deepEqual(await ids('unassigned=true'), [elsewhere.id], 'what nobody has picked up yet');
      assert.deepEqual(await ids('unassigned=false'), [violation.id]);
      const badUnassigned = await sut.rest('GET', '/api/v1/violations?unassigned=maybe');
      assert.equal(badUnassigned.status, 400);
      assert.match(badUnassigned.body.message, /unassigned must be true or false/);
      assert.deepEqual(await ids('status=false_positive'), [violation.id]);
      // The people the console offers to assign to: enabled users holding security, not IT, not the disabled one.
      const assignees = await sut.rest('GET', '/api/v1/violations/assignees');
      assert.equal(assignees.status, 200, JSON.stringify(assignees.body));
      assert.deepEqual(assignees.body.items, [{ username: 'sato', displayName: 'sato' }]);
      const badSeverity = await sut.rest('GET', '/api/v1/violations?severity=urgent');
      assert.equal(badSeverity.status, 400);
      assert.match(badSeverity.body.message, /severity must be one of low, medium, high, critical/);
      const row = await sut.rest('POST', '/api/v1/ledger/devices', { assetTag: 'PC-SALES-001', hostname: 'sales-pc-01', department: 'Sales', holder: 'Hanako Yamada', status: 'in_stock' });
      assert.equal(row.status, 201, JSON.stringify(row.body));
      if (row.body.agent?.id !== agent.agentId) {
        const linked = await sut.rest('PATCH', `/api/v1/ledger/devices/${row.body.id}`, { agentId: agent.agentId });
        assert.equal(linked.status, 200, JSON.stringify(linked.body));
      }
      assert.deepEqual(await ids('department=Sales'), [violation.id]);
      assert.deepEqual(await ids('department=Lab'), []);
      assert.equal((await sut.rest('GET', `/api/v1/violations/${violation.id}`)).body.department, 'Sales');
      // A condition about a machine no agent runs on (an overdue loan) takes the department of the ledger row it names, as the ledger has it now.
      const yesterday = new Date(Date.now() - 86_400_000);
      const loan = await sut.rest('POST', '/api/v1/ledger/devices', {
        assetTag: 'PC-LATE',
        hardwareSerial: 'L-1',
        department: 'Finance',
        holder: 'Jiro Sato',
        status: 'on_loan',
        loanedSince: '2020-01-01',
        dueBack: `${yesterday.getFullYear()}-${String(yesterday.getMonth() + 1).padStart(2, '0')}-${String(yesterday.getDate()).padStart(2, '0')}`,
      });
      assert.equal(loan.status, 201, JSON.stringify(loan.body));
      const overdue = (await sut.rest('GET', '/api/v1/violations?rule=ledger.overdue')).body.items as Array<{ id: string; department: string }>;
      assert.equal(overdue.length, 1);
      assert.equal(overdue[0].department, 'Finance');
      assert.deepEqual(await ids('department=Finance'), [overdue[0].id]);
      assert.equal((await sut.rest('PATCH', `/api/v1/ledger/devices/${loan.body.id}`, { department: 'Audit' })).status, 200);
      assert.deepEqual(await ids('department=Audit'), [overdue[0].id]);
      assert.deepEqual(await ids('department=Finance'), []);

      const unassigned = await sut.rest('PATCH', `/api/v1/violations/${violation.id}`, { assignee: null });
      assert.equal(unassigned.body.assignee, null);
      assert.deepEqual(await ids('assignee=sato'), []);

      // The trail: the attach that raised it, the plug's later storage report, and its audit records.
      const storage = Event.fromPartial({
        eventId: randomUUID(),
        occurredAt: { seconds: String(Math.floor(Date.now() / 1000) + 1), nanos: 0 },
        sequence: '900001',
        userName: 'alice',
        usbStorageVolumes: {
          device: event.usbDeviceAttached!.device,
          attachedEventId: event.eventId,
          blockDevices: [{ deviceNode: '/dev/sdb', parentNode: '', sizeBytes: '16008609792' }],
          allDataVolumesEncrypted: false,
        },
      });
      await upload(t, sut, agent, [storage, usbAttached({ serial: 'UNRELATED-3' })]);
      const trail = await sut.rest('GET', `/api/v1/violations/${violation.id}/trail`);
      assert.equal(trail.status, 200, JSON.stringify(trail.body));
      assert.deepEqual(
        trail.body.events.map((item: Record<string, any>) => [item.eventId, item.role]),
        [
          [event.eventId, 'trigger'],
          [storage.eventId, 'plug_event'],
        ],
        'the attach and the storage report naming the plug; not the agent\'s other events',
      );
      assert.equal(trail.body.events[1].payload.attachedEventId, event.eventId);
      const audit = trail.body.audit as Array<Record<string, any>>;
      assert.equal(audit.length, 3, 'three triage records: false positive, assigned, unassigned');
      assert.deepEqual([audit[0].after.assignee, audit[1].after.assignee, audit[2].after.status], [null, 'sato', 'false_positive'], 'newest first');
      assert.equal((await sut.rest('GET', `/api/v1/violations/${randomUUID()}/trail`)).status, 404);
      const badId = await sut.rest('GET', '/api/v1/violations/not-a-uuid/trail');
      assert.equal(badId.status, 400);
      assert.match(badId.body.message, /id must be a UUID/);
    });
  });

  describe(`violation stream (${kind})`, () => {
    test('a stream ends with the reason when its caller may no longer read it: a disabled user, a role taken away, a revoked API token', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const feed = sut.collector.app.get(ViolationFeed);
      // The caller is checked again at every keepalive (15 s in production).
      feed.timing = { ...feed.timing, keepaliveMs: 200 };
      const agent = await enrollAgent(t, sut);
      const sato = await createUser(sut, 'sato', ['security']);
      const suzuki = await createUser(sut, 'suzuki', ['auditor']);
      await createUser(sut, 'kimura', ['security']);
      const satoSession = await signIn(sut, 'sato', PASSWORD);
      const suzukiSession = await signIn(sut, 'suzuki', PASSWORD);
      const kimuraToken = await apiToken(sut, await signIn(sut, 'kimura', PASSWORD), ['security']);
      const streams = {
        sato: await EventStreamReader.open(t, sut, undefined, { cookie: satoSession.cookie }),
        suzuki: await EventStreamReader.open(t, sut, undefined, { cookie: suzukiSession.cookie }),
        kimura: await EventStreamReader.open(t, sut, undefined, { authorization: `Bearer ${kimuraToken.token}` }),
      };
      for (const [who, stream] of Object.entries(streams)) assert.equal(stream.status, 200, `${who} opens the stream`);
      await eventually('keepalives on every stream', () => (Object.values(streams).every((stream) => stream.comments.includes('keepalive')) ? true : undefined), 10_000);

      assert.equal((await sut.rest('PATCH', `/api/v1/users/${sato.id}`, { disabled: true })).status, 200);
      assert.equal((await sut.rest('PATCH', `/api/v1/users/${suzuki.id}`, { roles: ['it'] })).status, 200);
      const tokens = await sut.rest('GET', '/api/v1/api-tokens?all=true');
      const kimuraTokenId = (tokens.body.items as Array<Record<string, any>>).find((item) => item.username === 'kimura')?.id;
      assert.ok(kimuraTokenId, `kimura's token is listed: ${JSON.stringify(tokens.body)}`);
      assert.equal((await sut.rest('DELETE', `/api/v1/api-tokens/${kimuraTokenId}`)).status, 204);

      const endedSato = await streams.sato.next((item) => item.event === 'ended', 10_000);
      assert.equal(endedSato.data.statusCode, 401);
      assert.match(endedSato.data.message, /session has ended|disabled/);
      const endedSuzuki = await streams.suzuki.next((item) => item.event === 'ended', 10_000);
      assert.equal(endedSuzuki.data.statusCode, 403);
      assert.match(endedSuzuki.data.message, /this needs the role admin, security or auditor; you hold it/);
      const endedKimura = await streams.kimura.next((item) => item.event === 'ended', 10_000);
      assert.equal(endedKimura.data.statusCode, 401);
      assert.match(endedKimura.data.message, /was revoked/);
      await eventually('every ended response to finish', () => (Object.values(streams).every((stream) => stream.finished) ? true : undefined), 10_000);
      await eventually('the ended streams to unsubscribe', () => (feed.listenerCount === 0 ? true : undefined), 10_000);

      // A caller still allowed keeps its stream and sees new violations.
      const admin = await EventStreamReader.open(t, sut);
      const { violation } = await violationFrom(t, sut, agent, 'STILL-ALLOWED-1');
      await admin.next((item) => item.data.id === violation.id, 10_000);
      await eventually('a keepalive after the re-check', () => (admin.comments.includes('keepalive') ? true : undefined), 10_000);
      assert.ok(!admin.events.some((item) => item.event === 'ended'));
    });

    test('a new violation arrives live (asserted under 5 s, the latency printed), a triage arrives as a change, Last-Event-ID resumes without repeating; closing cleans up', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const feed = sut.collector.app.get(ViolationFeed);
      // Keepalives every 15 s in production; sooner here so the test sees one.
      feed.timing = { ...feed.timing, keepaliveMs: 300 };
      const agent = await enrollAgent(t, sut);
      const { violation: before } = await violationFrom(t, sut, agent, 'BEFORE-1');

      const stream = await EventStreamReader.open(t, sut);
      assert.equal(stream.status, 200, 'GET /violations/stream is not taken for /violations/:id');
      assert.match(stream.contentType, /^text\/event-stream/);
      const sentAt = Date.now();
      const { event, violation } = await violationFrom(t, sut, agent, 'LIVE-1');
      const created = await stream.next((item) => item.data.id === violation.id, 10_000);
      const latency = created.at - sentAt;
      assert.ok(latency < 5_000, `the new violation reached the stream ${latency} ms after the event was sent`);
      t.diagnostic(`event sent to violation on the stream: ${latency} ms`);
      assert.equal(created.event, 'violation');
      assert.equal(created.data.eventId, event.eventId);
      assert.equal(created.data.status, 'open');
      assert.ok(!stream.events.some((item) => item.data.id === before.id), 'a violation from before connecting is not sent');

      const acknowledged = await sut.rest('PATCH', `/api/v1/violations/${violation.id}`, { status: 'acknowledged', note: 'looking' });
      assert.equal(acknowledged.status, 200);
      const change = await stream.next((item) => item.data.id === violation.id && item.data.status === 'acknowledged', 10_000);
      assert.equal(change.data.note, 'looking');
      assert.notEqual(change.id, created.id);
      await eventually('a keepalive comment', () => (stream.comments.includes('keepalive') ? true : undefined), 10_000);

      // Disconnect after the creation; meanwhile the violation is resolved and a new one is made.
      stream.close();
      await eventually('the stream to unsubscribe', () => (feed.listenerCount === 0 ? true : undefined));
      await eventually('the poller to stop with the last stream', () => (feed.running ? undefined : true));
      assert.equal((await sut.rest('PATCH', `/api/v1/violations/${violation.id}`, { status: 'resolved' })).status, 200);
      const { violation: whileAway } = await violationFrom(t, sut, agent, 'AWAY-1');

      const resumed = await EventStreamReader.open(t, sut, created.id);
      assert.equal(resumed.status, 200);
      const resolved = await resumed.next((item) => item.data.id === violation.id, 10_000);
      assert.equal(resolved.data.status, 'resolved', 'the newest state of a violation changed since Last-Event-ID');
      await resumed.next((item) => item.data.id === whileAway.id, 10_000);
      // One more live change after the resume, then check nothing came twice and nothing from before the cursor.
      assert.equal((await sut.rest('PATCH', `/api/v1/violations/${whileAway.id}`, { status: 'acknowledged' })).status, 200);
      await resumed.next((item) => item.data.id === whileAway.id && item.data.status === 'acknowledged', 10_000);
      // A writer whose change commits 3 s after it stamped updated_at (it waited for a lock) is still streamed.
      await sut.collector.core.database.transaction((sql) =>
        sql.run('UPDATE violations SET note = ?, updated_at = ? WHERE id = ?', ['stamped before a long lock wait', new Date(Date.now() - 3_000), before.id]),
      );
      const late = await resumed.next((item) => item.data.id === before.id, 10_000);
      assert.equal(late.data.note, 'stamped before a long lock wait');
      await new Promise((resolve) => setTimeout(resolve, 600));
      const seen = resumed.events.map((item) => item.id);
      assert.equal(new Set(seen).size, seen.length, `no event twice: ${JSON.stringify(resumed.events.map((e) => [e.data.id, e.data.status]))}`);
      assert.deepEqual(
        resumed.events.map((item) => [item.data.id, item.data.status]),
        [
          [violation.id, 'resolved'],
          [whileAway.id, 'open'],
          [whileAway.id, 'acknowledged'],
          [before.id, 'open'],
        ],
        'nothing from before the cursor but the later change',
      );

      const refused = await fetch(`${sut.httpBase}/api/v1/violations/stream`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'last-event-id': 'bogus' } });
      assert.equal(refused.status, 400);
      assert.match(((await refused.json()) as { message: string }).message, /Last-Event-ID is not an event id this stream sent/);
      const anonymous = await fetch(`${sut.httpBase}/api/v1/violations/stream`);
      assert.equal(anonymous.status, 401);
      await anonymous.body?.cancel();

      // The collector closes promptly with a stream still open.
      assert.equal(feed.listenerCount, 1);
      const closing = Date.now();
      await Promise.race([sut.collector.close(), new Promise((_, reject) => setTimeout(() => reject(new Error('close() hung with an open stream')), 5_000))]);
      t.diagnostic(`collector closed in ${Date.now() - closing} ms with a stream open`);
      assert.equal(feed.listenerCount, 0);
      assert.equal(feed.running, false);
    });
  });
}

describe('violation stream across collector processes on one PostgreSQL', () => {
  test('a violation made through collector B reaches a stream on collector A live (asserted under 5 s, the latency printed), and a triage through A reaches a stream on B', async (t) => {
    const first = await startTestCollector(t, 'postgres');
    if (first === null) return;
    const second = await startTestCollector(t, 'postgres', { MAMORI_DATABASE_URL: first.collector.core.config.databaseUrl! });
    if (second === null) return;
    // Close B before A's database is dropped.
    t.after(() => second.collector.close());
    const onFirst = await EventStreamReader.open(t, first);
    const onSecond = await EventStreamReader.open(t, second);
    assert.equal(onFirst.status, 200);
    const agent = await enrollAgent(t, second, 'b-host');
    const sentAt = Date.now();
    const { violation } = await violationFrom(t, second, agent, 'CROSS-1');
    const arrived = await onFirst.next((item) => item.data.id === violation.id, 10_000);
    const latency = arrived.at - sentAt;
    assert.ok(latency < 5_000, `collector A streamed B's violation ${latency} ms after the event was sent to B`);
    t.diagnostic(`event sent to collector B, violation on collector A's stream: ${latency} ms`);

    assert.equal((await first.rest('PATCH', `/api/v1/violations/${violation.id}`, { status: 'false_positive' })).status, 200);
    const change = await onSecond.next((item) => item.data.id === violation.id && item.data.status === 'false_positive', 10_000);
    assert.equal(change.event, 'violation');
  });
});
