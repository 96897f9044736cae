import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { DATABASE_KINDS, provideDatabase } from '../../support/databases';
import { runNodeProgram, SERVER_BIN } from '../../support/processes';
import { enrollAgent, startTestCollector, telemetryClient, TestCollector, unary, usbAttached } from './collector-harness';

interface AuditItem {
  sequence: number;
  id: string;
  actor: { kind: string; id: string; name: string };
  onBehalfOf: string | null;
  sourceAddress: string;
  action: string;
  subject: { type: string; id: string };
  before: any;
  after: any;
  previousHash: string;
  hash: string;
}

async function records(sut: TestCollector, query: string): Promise<AuditItem[]> {
  const answer = await sut.rest('GET', `/api/v1/audit${query}`);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body.items;
}

async function only(sut: TestCollector, query: string): Promise<AuditItem> {
  const items = await records(sut, query);
  assert.equal(items.length, 1, `${query}: ${JSON.stringify(items.map((item) => item.action))}`);
  return items[0];
}

/** The environment that points `mamori-server` at the test collector's database and data folder. */
function cliEnvironment(sut: TestCollector): Record<string, string | undefined> {
  const config = sut.collector.core.config;
  return { MAMORI_DATA_DIR: config.dataDir, MAMORI_DATABASE_URL: config.databaseUrl, MAMORI_SERVER_NAMES: 'localhost,127.0.0.1' };
}

async function tamper(sut: TestCollector, statement: string, params: unknown[]): Promise<void> {
  const changed = await sut.collector.core.database.transaction((sql) => sql.run(statement, params));
  assert.equal(changed, 1, statement);
}

async function registerStick(sut: TestCollector, serial: string): Promise<string> {
  const created = await sut.rest('POST', '/api/v1/usb-register', { vendorId: '0781', productId: '5567', serial, label: `stick ${serial}`, holder: 'Hanako', department: 'Sales' });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body.id;
}

for (const kind of DATABASE_KINDS) {
  describe(`audit log on ${kind}`, () => {
    test('changes by the administrator leave chained records with actor, source address, before and after; 20 parallel changes keep the chain whole', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;

      const filed = await sut.rest('POST', '/api/v1/whitelist/requests', { hostPattern: 'git.example.com', ports: ['443'], justification: 'customer repository', requestedBy: 'Hanako Yamada' });
      assert.equal(filed.status, 201, JSON.stringify(filed.body));
      const approved = await sut.rest('POST', `/api/v1/whitelist/requests/${filed.body.id}/approve`, { approvedBy: 'Taro Suzuki' });
      assert.equal(approved.status, 200, JSON.stringify(approved.body));
      const approval = await only(sut, '?action=whitelist.request.approved');
      assert.equal(approval.actor.kind, 'admin-token');
      assert.match(approval.actor.id, /^sha256:[0-9a-f]{16}$/);
      assert.equal(approval.actor.name, 'administrator');
      assert.equal(approval.onBehalfOf, 'Taro Suzuki');
      assert.equal(approval.sourceAddress, '127.0.0.1');
      assert.deepEqual([approval.subject, approval.before.status, approval.after.status], [{ type: 'whitelist_request', id: filed.body.id }, 'pending', 'approved']);
      const entry = await only(sut, '?action=whitelist.entry.created');
      assert.deepEqual([entry.before, entry.after.hostPattern, entry.after.id, entry.onBehalfOf], [null, 'git.example.com', approved.body.entryId, 'Taro Suzuki']);
      assert.equal(approval.previousHash, entry.hash, 'the approval chains from the entry it made, in the same transaction');

      // The expiry timer is armed while serving this request, yet its step is the collector's own.
      const brief = await sut.rest('POST', '/api/v1/whitelist', { cidr: '10.30.0.0/16', justification: 'install', requestedBy: 'hanako', approvedBy: 'taro', expiresAt: new Date(Date.now() + 1500).toISOString() });
      assert.equal(brief.status, 201, JSON.stringify(brief.body));

      const stick = await registerStick(sut, 'S-1');
      const relabelled = await sut.rest('PATCH', `/api/v1/usb-register/${stick}`, { label: 'Sales 12' });
      assert.equal(relabelled.status, 200, JSON.stringify(relabelled.body));
      for (let waited = 0; (await records(sut, '?action=whitelist.entry.expired')).length === 0 && waited < 10_000; waited += 100) await new Promise((resolve) => setTimeout(resolve, 100));
      const expiry = await only(sut, '?action=whitelist.entry.expired');
      assert.deepEqual([expiry.subject.id, expiry.actor, expiry.onBehalfOf, expiry.sourceAddress, expiry.before.status, expiry.after.status], [
        brief.body.id,
        { kind: 'system', id: 'collector', name: 'mamori collector' },
        null,
        '',
        'active',
        'expired',
      ]);
      const spoof = await sut.rest('POST', '/api/v1/whitelist', { cidr: '10.31.0.0/16', justification: 'named like the collector', requestedBy: 'collector', approvedBy: 'collector' });
      assert.equal(spoof.status, 201, JSON.stringify(spoof.body));
      const spoofed = await only(sut, `?action=whitelist.entry.created&subjectId=${spoof.body.id}`);
      assert.deepEqual([spoofed.actor.kind, spoofed.onBehalfOf, spoofed.sourceAddress], ['admin-token', 'collector', '127.0.0.1'], 'a name in the body does not make a change the collector\'s own');
      const registerChange = await only(sut, `?action=usb_register.entry.updated&subjectId=${stick}`);
      assert.deepEqual([registerChange.before.label, registerChange.after.label, registerChange.subject.type], ['stick S-1', 'Sales 12', 'usb_register_entry']);
      assert.equal((await sut.rest('DELETE', `/api/v1/usb-register/${stick}`)).status, 204);
      const removal = await only(sut, '?action=usb_register.entry.deleted');
      assert.deepEqual([removal.before.label, removal.after], ['Sales 12', null]);

      const agent = await enrollAgent(t, sut, 'alice-pc');
      await unary((cb) => telemetryClient(t, sut, agent.credentials).uploadEvents({ batchId: randomUUID(), events: [usbAttached({ serial: 'UNKNOWN-1' })] }, cb));
      const violation = (await sut.rest('GET', '/api/v1/violations')).body.items[0];
      const triaged = await sut.rest('PATCH', `/api/v1/violations/${violation.id}`, { status: 'acknowledged', note: 'asked the user' });
      assert.equal(triaged.status, 200, JSON.stringify(triaged.body));
      const triage = await only(sut, '?action=violation.triaged');
      assert.deepEqual([triage.subject.id, triage.before.status, triage.before.note, triage.after.status, triage.after.note], [violation.id, 'open', null, 'acknowledged', 'asked the user']);
      assert.equal(triage.sourceAddress, '127.0.0.1');

      const exception = await sut.rest('POST', '/api/v1/usb-exceptions', {
        vendorId: '0781',
        productId: '5567',
        serial: 'TRIP-1',
        agentId: agent.agentId,
        notAfter: new Date(Date.now() + 86_400_000).toISOString(),
        justification: 'customer workshop',
        requestedBy: 'Hanako',
        mode: 'allow',
      });
      assert.equal(exception.status, 201, JSON.stringify(exception.body));
      assert.equal((await sut.rest('POST', `/api/v1/usb-exceptions/${exception.body.id}/approve`, { approvedBy: 'Taro' })).status, 200);
      const exceptionSteps = await records(sut, `?subjectType=usb_exception&subjectId=${exception.body.id}`);
      assert.deepEqual(exceptionSteps.map((step) => [step.action, step.onBehalfOf, step.before?.status ?? null, step.after.status]), [
        ['usb_exception.approved', 'Taro', 'requested', 'approved'],
        ['usb_exception.requested', 'Hanako', null, 'requested'],
      ]);
      assert.equal((await sut.rest('PUT', '/api/v1/policy/usb', { unregisteredDeviceMode: 'block' })).status, 200);
      const settings = await only(sut, '?action=policy.usb_settings.updated');
      assert.deepEqual([settings.before.unregisteredDeviceMode, settings.after.unregisteredDeviceMode], ['audit', 'block']);
      const machine = await sut.rest('POST', '/api/v1/ledger/devices', { assetTag: 'PC-SALES-001', hardwareSerial: 'PF3ABC01', hostname: 'sales-pc-01', department: 'Sales', holder: 'Hanako Yamada', status: 'in_stock' });
      assert.equal(machine.status, 201, JSON.stringify(machine.body));
      const ledgerStep = await only(sut, '?action=ledger.device.created');
      assert.deepEqual([ledgerStep.subject.id, ledgerStep.before, ledgerStep.after.assetTag], [machine.body.id, null, 'PC-SALES-001']);

      const token = await sut.rest('POST', '/api/v1/enrollment-tokens', { label: 'to revoke' });
      assert.equal((await sut.rest('POST', `/api/v1/enrollment-tokens/${token.body.id}/revoke`)).status, 200);
      assert.equal((await sut.rest('POST', `/api/v1/enrollment-tokens/${token.body.id}/revoke`)).status, 200, 'revoking again is harmless');
      const revocation = await only(sut, `?action=enrollment_token.revoked`);
      assert.deepEqual([revocation.subject.id, revocation.before.revoked_at, revocation.before.label], [token.body.id, null, 'to revoke']);
      assert.notEqual(revocation.after.revoked_at, null);
      assert.equal('secret_hash' in revocation.after, false, 'the token secret is not recorded');
      assert.equal((await records(sut, `?subjectId=${token.body.id}`)).length, 2, 'created and revoked; the second revocation changed nothing');
      assert.ok((await records(sut, '?actor=Taro%20Suzuki')).length >= 2);

      // Several requests at once: on PostgreSQL each runs in its own transaction on its own connection.
      // Register changes also publish a policy version (serialized by its own lock); tokens publish
      // nothing, so only the audit log's lock keeps their appends in line.
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          i % 4 === 0
            ? sut.rest('POST', '/api/v1/usb-register', { vendorId: '0781', productId: '5567', serial: `P-${i}`, label: `p${i}`, holder: 'Jiro', department: 'Dev' })
            : sut.rest('POST', '/api/v1/enrollment-tokens', { label: `parallel ${i}` }),
        ),
      );
      assert.deepEqual(answers.map((answer) => answer.status), Array(20).fill(201));

      const all: AuditItem[] = [];
      let cursor: string | null = null;
      do {
        const page: { status: number; body: { items: AuditItem[]; nextCursor: string | null } } = await sut.rest('GET', `/api/v1/audit?limit=7${cursor === null ? '' : `&cursor=${cursor}`}`);
        assert.equal(page.status, 200);
        all.push(...page.body.items);
        cursor = page.body.nextCursor;
      } while (cursor !== null);
      const sequences = all.map((item) => item.sequence);
      assert.deepEqual(sequences, Array.from({ length: all.length }, (_, i) => all.length - i), 'newest first, from 1 without gaps');
      assert.equal(all.filter((item) => item.action === 'usb_register.entry.created').length, 6);
      assert.equal(all.filter((item) => item.action === 'enrollment_token.created').length, 17);
      for (let i = 0; i < all.length - 1; i++) assert.equal(all[i].previousHash, all[i + 1].hash, `record ${all[i].sequence} chains from ${all[i + 1].sequence}`);

      const verified = await sut.rest('GET', '/api/v1/audit/verify');
      assert.deepEqual(verified.body, { ok: true, records: all.length, firstBroken: null, last: { sequence: all[0].sequence, id: all[0].id, hash: all[0].hash } });
      const middle = all[Math.floor(all.length / 2)];
      assert.equal((await sut.rest('GET', `/api/v1/audit/verify?anchor=${middle.sequence}:${middle.hash}`)).body.ok, true);
      const rewritten = await sut.rest('GET', `/api/v1/audit/verify?anchor=${middle.sequence}:${'e'.repeat(64)}`);
      assert.deepEqual([rewritten.body.ok, rewritten.body.firstBroken.sequence], [false, middle.sequence]);
      assert.match(rewritten.body.firstBroken.reason, /anchored hash/);
      const badAnchor = await sut.rest('GET', '/api/v1/audit/verify?anchor=latest');
      assert.equal(badAnchor.status, 400);
      assert.match(badAnchor.body.message, /anchor must be/);
      assert.equal((await sut.rest('GET', '/api/v1/audit', undefined, null)).status, 401, 'the log is not public');
      for (const [method, path] of [['DELETE', `/api/v1/audit/${all[0].id}`], ['PATCH', `/api/v1/audit/${all[0].id}`], ['POST', '/api/v1/audit']] as const) {
        assert.equal((await sut.rest(method, path, method === 'DELETE' ? undefined : {})).status, 404, `${method} ${path} does not exist`);
      }
    });

    test('an edited record and, separately, a deleted one are named by REST verify and by `mamori-server audit verify`; the CLI records its own changes', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      for (const serial of ['T-1', 'T-2', 'T-3', 'T-4']) await registerStick(sut, serial);
      const env = cliEnvironment(sut);

      const created = await runNodeProgram(SERVER_BIN, ['tokens', 'create', '--label', 'from the cli', '--json'], env);
      assert.equal(created.code, 0, created.stderr);
      const byCli = await only(sut, '?action=enrollment_token.created');
      assert.deepEqual([byCli.actor.kind, byCli.actor.id, byCli.sourceAddress, byCli.subject.id], ['system', 'cli', 'local', JSON.parse(created.stdout).id]);
      assert.match(byCli.actor.name, /^mamori-server tokens create \(/);

      const intact = await runNodeProgram(SERVER_BIN, ['audit', 'verify'], env);
      assert.equal(intact.code, 0, intact.stdout + intact.stderr);
      const head = (await records(sut, '?limit=1'))[0];
      assert.match(intact.stdout, /audit log verified: 5 records, chain unbroken/);
      assert.ok(intact.stdout.includes(`sequence 5, hash ${head.hash}`), intact.stdout);
      assert.ok(intact.stdout.includes(`audit verify --anchor 5:${head.hash}`), intact.stdout);

      // Cutting off the newest record leaves a whole, shorter chain; only the anchor tells.
      await tamper(sut, 'DELETE FROM audit_records WHERE sequence = ?', [5]);
      assert.deepEqual((await sut.rest('GET', '/api/v1/audit/verify')).body.ok, true);
      const truncated = await runNodeProgram(SERVER_BIN, ['audit', 'verify', '--anchor', `5:${head.hash}`], env);
      assert.equal(truncated.code, 1, truncated.stdout + truncated.stderr);
      assert.match(truncated.stdout, /BROKEN at record 5 .*the anchored record 5 is missing: the chain ends at 4/);

      const third = (await records(sut, '')).find((item) => item.sequence === 3) as AuditItem;
      const original = await sut.collector.core.database.query<{ after_state: string }>('SELECT after_state FROM audit_records WHERE sequence = ?', [3]);
      await tamper(sut, 'UPDATE audit_records SET after_state = ? WHERE sequence = ?', [JSON.stringify({ ...third.after, holder: 'Mallory' }), 3]);
      const edited = await sut.rest('GET', '/api/v1/audit/verify');
      assert.equal(edited.body.ok, false);
      assert.deepEqual([edited.body.firstBroken.sequence, edited.body.firstBroken.id, edited.body.records], [3, third.id, 3]);
      assert.match(edited.body.firstBroken.reason, /edited/);
      const editedByCli = await runNodeProgram(SERVER_BIN, ['audit', 'verify'], env);
      assert.equal(editedByCli.code, 1, editedByCli.stdout + editedByCli.stderr);
      assert.ok(editedByCli.stdout.includes(`BROKEN at record 3 (id ${third.id})`), editedByCli.stdout);

      await tamper(sut, 'UPDATE audit_records SET after_state = ? WHERE sequence = ?', [original[0].after_state, 3]);
      assert.equal((await sut.rest('GET', '/api/v1/audit/verify')).body.ok, true, 'the original content verifies again');

      await tamper(sut, 'DELETE FROM audit_records WHERE sequence = ?', [2]);
      const deleted = await sut.rest('GET', '/api/v1/audit/verify');
      assert.deepEqual(deleted.body.firstBroken, { sequence: 3, id: third.id, reason: 'record 2 is missing: deleted before this one' });
      const deletedByCli = await runNodeProgram(SERVER_BIN, ['audit', 'verify', '--json'], env);
      assert.equal(deletedByCli.code, 1, deletedByCli.stdout + deletedByCli.stderr);
      const answer = JSON.parse(deletedByCli.stdout);
      assert.deepEqual([answer.ok, answer.firstBroken.sequence, answer.firstBroken.id], [false, 3, third.id]);
      assert.match(answer.firstBroken.reason, /record 2 is missing/);
    });
  });
}

describe('the audit log across two collectors sharing PostgreSQL', () => {
  test('changes through both at once leave one unbroken chain', async (t) => {
    const shared = await provideDatabase(t, 'postgres');
    if (shared === null) return;
    const first = await startTestCollector(t, 'postgres', { MAMORI_DATABASE_URL: shared.url! });
    const second = await startTestCollector(t, 'postgres', { MAMORI_DATABASE_URL: shared.url! });
    if (first === null || second === null) return;
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        (i % 2 === 0 ? first : second).rest('POST', '/api/v1/enrollment-tokens', { label: `shared ${i}` }),
      ),
    );
    assert.deepEqual(answers.map((answer) => answer.status), Array(30).fill(201));
    const verified = await second.rest('GET', '/api/v1/audit/verify');
    assert.deepEqual([verified.body.ok, verified.body.records, verified.body.firstBroken], [true, 30, null]);
  });
});
