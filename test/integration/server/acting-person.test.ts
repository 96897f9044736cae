import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DATABASE_KINDS } from '../../support/databases';
import { enrollAgent, startTestCollector, type TestCollector } from './collector-harness';
import { type Answer, call, roleUser } from './role-users';

/** The administrator token, as every script before users had it. */
function adminOf(collector: TestCollector): (method: string, path: string, body?: unknown) => Promise<Answer> {
  return (method, path, body) => collector.rest(method, path, body ?? (method === 'GET' ? undefined : {}));
}

const destination = (host: string) => ({ hostPattern: host, ports: ['443'], justification: `project work on ${host}` });

async function auditOf(collector: TestCollector, subjectId: string): Promise<Array<{ action: string; actor: { kind: string; name: string }; onBehalfOf: string | null }>> {
  const page = await collector.rest('GET', `/api/v1/audit?subjectId=${subjectId}`);
  assert.equal(page.status, 200);
  return page.body.items;
}

/**
 * Who acts in a request workflow: a person signed in (or their API token) acts as themselves,
 * so the body cannot name someone else and "approved by someone other than the requester" holds
 * for real people; the administrator token keeps naming people in the body.
 */
for (const kind of DATABASE_KINDS) {
  test(`request workflows act as the signed-in person on ${kind}`, async (t) => {
    const collector = await startTestCollector(t, kind);
    if (collector === null) return;
    const admin = adminOf(collector);
    const reviewer = await roleUser(collector, 'sato', ['security']);
    const approver = await roleUser(collector, 'suzuki', ['approver']);
    const both = await roleUser(collector, 'tanaka', ['security', 'approver']);
    const itStaff = await roleUser(collector, 'yamada', ['it']);
    const administrator = await roleUser(collector, 'kobayashi', ['admin']);

    await t.test('a whitelist request filed and approved by signed-in people names them, whatever the body leaves out', async () => {
      const filed = await call(collector, 'POST', '/api/v1/whitelist/requests', reviewer.session, destination('git.example.com'));
      assert.equal(filed.status, 201, JSON.stringify(filed.body));
      assert.equal(filed.body.requestedBy, 'sato');

      const impersonating = await call(collector, 'POST', `/api/v1/whitelist/requests/${filed.body.id}/approve`, approver.token, { approvedBy: 'Taro Suzuki (manager)' });
      assert.equal(impersonating.status, 400);
      assert.equal(impersonating.body.message, 'approvedBy must be your own username (suzuki) when calling with an API token; leave it out to act as yourself');
      assert.equal((await admin('GET', `/api/v1/whitelist/requests/${filed.body.id}`)).body.status, 'pending', 'the refused call changed nothing');

      const approved = await call(collector, 'POST', `/api/v1/whitelist/requests/${filed.body.id}/approve`, approver.token, {});
      assert.equal(approved.status, 200, JSON.stringify(approved.body));
      assert.equal(approved.body.status, 'approved');
      assert.equal(approved.body.decidedBy, 'suzuki');
      const entry = await admin('GET', `/api/v1/whitelist/${approved.body.entryId}`);
      assert.equal(entry.body.requestedBy, 'sato');
      assert.equal(entry.body.approvedBy, 'suzuki');

      const records = await auditOf(collector, filed.body.id);
      const approval = records.find((record) => record.onBehalfOf === 'suzuki');
      assert.ok(approval !== undefined, `no audit record names suzuki: ${JSON.stringify(records)}`);
      assert.deepEqual([approval.actor.kind, approval.actor.name.split('/')[0]], ['api-token', 'suzuki'], 'the record names the API token of the person who approved');
    });

    await t.test('the same person cannot approve their own request, however the body names the approver', async () => {
      const filed = await call(collector, 'POST', '/api/v1/whitelist/requests', both.session, { ...destination('paste.example.com'), requestedBy: 'TANAKA' });
      assert.equal(filed.status, 201, JSON.stringify(filed.body));
      assert.equal(filed.body.requestedBy, 'tanaka', 'the own name in another case is the username');
      const asSomeoneElse = await call(collector, 'POST', `/api/v1/whitelist/requests/${filed.body.id}/approve`, both.session, { approvedBy: 'suzuki' });
      assert.equal(asSomeoneElse.status, 400);
      assert.match(asSomeoneElse.body.message, /^approvedBy must be your own username \(tanaka\) when signed in/);
      const own = await call(collector, 'POST', `/api/v1/whitelist/requests/${filed.body.id}/approve`, both.token, {});
      assert.equal(own.status, 403);
      assert.match(own.body.message, /someone other than its requester \(tanaka\)/);
      const rejected = await call(collector, 'POST', `/api/v1/whitelist/requests/${filed.body.id}/reject`, approver.session, { reason: 'use the internal paste service' });
      assert.equal(rejected.status, 200, JSON.stringify(rejected.body));
      assert.equal(rejected.body.decidedBy, 'suzuki');
    });

    await t.test('a signed-in requester withdraws as themselves; naming someone else is refused', async () => {
      const filed = await call(collector, 'POST', '/api/v1/whitelist/requests', itStaff.token, destination('mirror.example.com'));
      assert.equal(filed.body.requestedBy, 'yamada');
      const asOther = await call(collector, 'POST', `/api/v1/whitelist/requests/${filed.body.id}/withdraw`, itStaff.token, { withdrawnBy: 'sato' });
      assert.equal(asOther.status, 400);
      assert.match(asOther.body.message, /^withdrawnBy must be your own username \(yamada\)/);
      const withdrawn = await call(collector, 'POST', `/api/v1/whitelist/requests/${filed.body.id}/withdraw`, itStaff.token, {});
      assert.equal(withdrawn.status, 200, JSON.stringify(withdrawn.body));
      assert.deepEqual([withdrawn.body.status, withdrawn.body.decidedBy], ['withdrawn', 'yamada']);
    });

    await t.test('the administrator token keeps the names in the body and must give them', async () => {
      const filed = await admin('POST', '/api/v1/whitelist/requests', { ...destination('docs.example.com'), requestedBy: 'Hanako Yamada' });
      assert.equal(filed.status, 201, JSON.stringify(filed.body));
      assert.equal(filed.body.requestedBy, 'Hanako Yamada');
      const unnamed = await admin('POST', `/api/v1/whitelist/requests/${filed.body.id}/approve`, {});
      assert.equal(unnamed.status, 400);
      assert.match(unnamed.body.message, /^approvedBy must name the person who acts/);
      const approved = await admin('POST', `/api/v1/whitelist/requests/${filed.body.id}/approve`, { approvedBy: 'Taro Suzuki (manager)' });
      assert.equal(approved.status, 200, JSON.stringify(approved.body));
      assert.equal(approved.body.decidedBy, 'Taro Suzuki (manager)');
    });

    await t.test('whitelist entries made by an administrator user: approvedBy, changedBy and expiredBy are the user; requestedBy stays who asked', async () => {
      const created = await call(collector, 'POST', '/api/v1/whitelist', administrator.session, { ...destination('build.example.com'), requestedBy: 'Hanako Yamada' });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.deepEqual([created.body.requestedBy, created.body.approvedBy], ['Hanako Yamada', 'kobayashi']);
      const changedAsOther = await call(collector, 'PATCH', `/api/v1/whitelist/${created.body.id}`, administrator.session, { justification: 'nightly builds', changedBy: 'admin' });
      assert.equal(changedAsOther.status, 400);
      assert.match(changedAsOther.body.message, /^changedBy must be your own username \(kobayashi\)/);
      const expired = await call(collector, 'POST', `/api/v1/whitelist/${created.body.id}/expire`, administrator.session, { reason: 'project ended' });
      assert.equal(expired.status, 200, JSON.stringify(expired.body));
      const history = await admin('GET', `/api/v1/whitelist/history?subjectId=${created.body.id}`);
      assert.deepEqual(
        history.body.items.map((step: { kind: string; actor: string }) => `${step.kind} by ${step.actor}`).sort(),
        ['entry.created by kobayashi', 'entry.revoked by kobayashi'],
      );
    });

    await t.test('zones: an administrator user is the one who changed them, not the default "admin"', async () => {
      const created = await call(collector, 'POST', '/api/v1/zones', administrator.token, { name: 'dev-lan', cidrs: ['10.20.0.0/16'], mode: 'enforce' });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const deletedAsOther = await call(collector, 'DELETE', '/api/v1/zones/dev-lan?changedBy=admin', administrator.token);
      assert.equal(deletedAsOther.status, 400);
      assert.match(deletedAsOther.body.message, /^changedBy must be your own username \(kobayashi\)/);
      const deleted = await call(collector, 'DELETE', '/api/v1/zones/dev-lan', administrator.token);
      assert.equal(deleted.status, 204);
      const history = await admin('GET', '/api/v1/whitelist/history?subjectId=dev-lan');
      assert.deepEqual(
        history.body.items.map((step: { kind: string; actor: string }) => `${step.kind} by ${step.actor}`).sort(),
        ['zone.created by kobayashi', 'zone.deleted by kobayashi'],
      );
    });

    await t.test('USB exceptions: requested, approved and revoked by the signed-in people', async () => {
      const agent = await enrollAgent(t, collector, 'acting-person-host');
      const notAfter = new Date(Date.now() + 3 * 86_400_000).toISOString();
      const requested = await call(collector, 'POST', '/api/v1/usb-exceptions', itStaff.session, {
        vendorId: '0781',
        productId: '5567',
        serial: '4C530001',
        agentId: agent.agentId,
        notAfter,
        justification: 'customer workshop',
        mode: 'allow',
      });
      assert.equal(requested.status, 201, JSON.stringify(requested.body));
      assert.equal(requested.body.requestedBy, 'yamada');
      const approved = await call(collector, 'POST', `/api/v1/usb-exceptions/${requested.body.id}/approve`, approver.session, {});
      assert.equal(approved.status, 200, JSON.stringify(approved.body));
      assert.equal(approved.body.approvedBy, 'suzuki');
      const revokedAsOther = await call(collector, 'POST', `/api/v1/usb-exceptions/${requested.body.id}/revoke`, administrator.session, { revokedBy: 'suzuki', reason: 'trip cancelled' });
      assert.equal(revokedAsOther.status, 400);
      assert.match(revokedAsOther.body.message, /^revokedBy must be your own username \(kobayashi\)/);
      const revoked = await call(collector, 'POST', `/api/v1/usb-exceptions/${requested.body.id}/revoke`, administrator.session, { reason: 'trip cancelled' });
      assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
      assert.deepEqual([revoked.body.status, revoked.body.revokedBy], ['revoked', 'kobayashi']);
      const unnamed = await admin('POST', '/api/v1/usb-exceptions', { vendorId: '0781', productId: '5567', serial: '4C530002', agentId: agent.agentId, notAfter, justification: 'x', mode: 'allow' });
      assert.equal(unnamed.status, 400);
      assert.match(unnamed.body.message, /^requestedBy must name the person who acts/);
    });
  });
}
