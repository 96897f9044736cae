import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { TestContext } from 'node:test';
import { TransportProtocol } from '../../../agent/src/generated/mamori/v1/common';
import { DestinationDecision, DestinationObserver, Event } from '../../../agent/src/generated/mamori/v1/events';
import { GetPolicyResponse, WatchPolicyResponse, ZoneEnforcementMode } from '../../../agent/src/generated/mamori/v1/policy';
import { PostureCheck, type UploadEventsResponse } from '../../../agent/src/generated/mamori/v1/telemetry';
import { DATABASE_KINDS, provideDatabase } from '../../support/databases';
import { collect, EnrolledAgent, enrollAgent, policyClient, startTestCollector, telemetryClient, TestCollector, unary } from './collector-harness';

let sequence = 1;

function stamp(at: Date) {
  return { seconds: String(Math.floor(at.getTime() / 1000)), nanos: (at.getTime() % 1000) * 1_000_000 };
}

/** A DestinationAccess as the agent's firewall monitor reports it. */
function access(spec: { host?: string; ip: string; port: number; decision: DestinationDecision; attempts?: number; zone?: string; at?: Date; policyVersion?: string; lineageId?: string }): Event {
  return Event.fromPartial({
    eventId: randomUUID(),
    occurredAt: stamp(spec.at ?? new Date()),
    sequence: String(sequence++),
    userName: 'alice',
    destinationAccess: {
      host: spec.host ?? '',
      ipAddress: spec.ip,
      port: spec.port,
      protocol: TransportProtocol.TRANSPORT_PROTOCOL_TCP,
      decision: spec.decision,
      processName: 'curl',
      zone: spec.zone ?? 'dev-lan',
      observer: DestinationObserver.DESTINATION_OBSERVER_FIREWALL,
      policyVersion: spec.policyVersion ?? '0',
      policyLineageId: spec.lineageId ?? '',
      processId: 4242,
      attempts: spec.attempts ?? 1,
      sourceAddress: '10.20.0.5:53012',
    },
  });
}

async function upload(t: TestContext, sut: TestCollector, agent: EnrolledAgent, events: Event[]): Promise<UploadEventsResponse> {
  return unary<UploadEventsResponse>((cb) => telemetryClient(t, sut, agent.credentials).uploadEvents({ batchId: randomUUID(), events }, cb));
}

async function heartbeat(t: TestContext, sut: TestCollector, agent: EnrolledAgent, networkZone: string, policyVersion = '1'): Promise<void> {
  await unary((cb) =>
    telemetryClient(t, sut, agent.credentials).heartbeat(
      {
        host: { hostname: 'partner-pc', osFamily: 'linux', osVersion: '6.1', agentVersion: '0.2.0', loggedInUsers: ['alice'], networkInterfaces: [], architecture: 'x64', machineId: '', hardwareSerial: 'SN-1', hardwareModel: '', hardwareVendor: '' },
        posture: { fixedDisksEncrypted: PostureCheck.POSTURE_CHECK_PASSED, systemVolumeEncrypted: PostureCheck.POSTURE_CHECK_PASSED, usbStorageDevicesAttached: 0, unregisteredUsbStorageDevices: 0, networkZone, volumes: [], encryptionProblems: [] },
        health: { spoolEvents: '0', spoolBytes: '0', droppedEvents: '0', policyVersion, startedAt: undefined, sources: [], capabilities: [] },
        trustedCaPins: [],
      },
      cb,
    ),
  );
}

async function violations(sut: TestCollector, rule: string): Promise<Array<Record<string, any>>> {
  const answer = await sut.rest('GET', `/api/v1/violations?limit=500&rule=${rule}`);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body.items;
}

async function history(sut: TestCollector, query = ''): Promise<Array<Record<string, any>>> {
  const answer = await sut.rest('GET', `/api/v1/whitelist/history?limit=500${query}`);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body.items;
}

async function devLan(sut: TestCollector, mode = 'enforce'): Promise<void> {
  const created = await sut.rest('POST', '/api/v1/zones', { name: 'dev-lan', cidrs: ['10.20.0.0/16'], dnsSuffixes: ['dev.example.co.jp'], mode, changedBy: 'it-admin' });
  assert.equal(created.status, 201, JSON.stringify(created.body));
}

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

for (const kind of DATABASE_KINDS) {
  describe(`network zones and the destination whitelist on ${kind}`, () => {
    test('zones: created, listed in order, changed and deleted; each change publishes a version that carries the zones; bad fields are named', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const before = (await sut.rest('GET', '/api/v1/policy')).body.version as number;
      await devLan(sut);
      const office = await sut.rest('POST', '/api/v1/zones', { name: 'office-lan', cidrs: ['10.10.0.0/16', '::ffff:192.168.0.0/112'], mode: 'off' });
      assert.equal(office.status, 201, JSON.stringify(office.body));
      assert.deepEqual(office.body.cidrs, ['10.10.0.0/16', '192.168.0.0/16'], 'an IPv4-mapped block is stored as IPv4');
      assert.equal(office.body.position, 1, 'a new zone goes after the last');
      assert.equal((await sut.rest('POST', '/api/v1/zones', { name: 'dev-lan', mode: 'audit' })).status, 409);

      const zones = (await sut.rest('GET', '/api/v1/zones')).body.items;
      assert.deepEqual(zones.map((zone: { name: string }) => zone.name), ['dev-lan', 'office-lan']);
      assert.deepEqual(zones[0].dnsSuffixes, ['dev.example.co.jp']);

      const moved = await sut.rest('PATCH', '/api/v1/zones/office-lan', { position: 0, dnsSuffixes: ['.Office.Example.CO.JP.'], changedBy: 'it-admin' });
      assert.equal(moved.status, 200, JSON.stringify(moved.body));
      assert.deepEqual(moved.body.dnsSuffixes, ['office.example.co.jp'], 'suffixes are normalized like host names');
      const policy = (await sut.rest('GET', '/api/v1/policy')).body;
      assert.equal(policy.version, before + 3, 'create, create and change each published a version');
      assert.deepEqual(
        policy.network.zones.map((zone: { name: string; mode: string }) => [zone.name, zone.mode]),
        [
          ['office-lan', 'off'],
          ['dev-lan', 'enforce'],
        ],
        'the version carries the zones in the order agents try them',
      );

      const bad: Array<[Record<string, unknown>, string]> = [
        [{ name: 'Dev LAN', mode: 'audit' }, 'name'],
        [{ name: 'lab', mode: 'block' }, 'mode'],
        [{ name: 'lab', mode: 'audit', cidrs: ['10.0.0.0/8', '10.0.0.0/33'] }, 'cidrs\\[1\\]'],
        [{ name: 'lab', mode: 'audit', cidrs: ['300.1.1.1'] }, 'cidrs\\[0\\]'],
        [{ name: 'lab', mode: 'audit', dnsSuffixes: ['bad..name'] }, 'dnsSuffixes\\[0\\]'],
        [{ name: 'lab', mode: 'audit', unknown: 1 }, 'unknown'],
      ];
      for (const [body, field] of bad) {
        const answer: { status: number; body: { message: unknown } } = await sut.rest('POST', '/api/v1/zones', body);
        assert.equal(answer.status, 400, JSON.stringify(body));
        assert.match(String(answer.body.message), new RegExp(field), JSON.stringify(answer.body));
      }
      assert.equal((await sut.rest('PATCH', '/api/v1/zones/dev-lan', { cidrs: ['fd00::/129'] })).status, 400);

      const entry = await sut.rest('POST', '/api/v1/whitelist', { hostPattern: 'git.example.com', zone: 'dev-lan', justification: 'git', requestedBy: 'hanako', approvedBy: 'taro' });
      assert.equal(entry.status, 201, JSON.stringify(entry.body));
      const refused = await sut.rest('DELETE', '/api/v1/zones/dev-lan');
      assert.equal(refused.status, 409, 'a zone that an active entry names cannot go');
      assert.equal((await sut.rest('POST', `/api/v1/whitelist/${entry.body.id}/expire`, { expiredBy: 'taro', reason: 'moved' })).status, 200);
      assert.equal((await sut.rest('DELETE', '/api/v1/zones/dev-lan?changedBy=it-admin')).status, 204);
      assert.equal((await sut.rest('GET', '/api/v1/zones/dev-lan')).status, 404);
      const steps = await history(sut, '&subjectId=dev-lan');
      assert.deepEqual(
        steps.map((step) => [step.kind, step.actor]),
        [
          ['zone.deleted', 'it-admin'],
          ['zone.created', 'it-admin'],
        ],
      );
      assert.equal(steps[0].before.name, 'dev-lan');
      assert.equal(steps[0].after, null);

      const document = (await (await fetch(`${sut.httpBase}/api/docs-json`)).json()) as { paths: Record<string, Record<string, unknown>>; components: { schemas: Record<string, any> } };
      for (const [path, method] of [
        ['/api/v1/zones', 'post'],
        ['/api/v1/zones/{name}', 'patch'],
        ['/api/v1/whitelist', 'get'],
        ['/api/v1/whitelist/check', 'get'],
        ['/api/v1/whitelist/history', 'get'],
        ['/api/v1/whitelist/{id}/expire', 'post'],
        ['/api/v1/whitelist/requests/{id}/approve', 'post'],
        ['/api/v1/whitelist/requests/{id}/reject', 'post'],
        ['/api/v1/whitelist/requests/{id}/withdraw', 'post'],
        ['/api/v1/agents/{id}/required-zone', 'patch'],
      ]) {
        assert.ok(document.paths[path]?.[method], `the OpenAPI document has ${method.toUpperCase()} ${path}`);
      }
      assert.deepEqual(document.components.schemas.NetworkZoneView.properties.mode.enum, ['off', 'audit', 'enforce']);
      assert.ok(document.components.schemas.NetworkZoneView.properties.position, 'the REST zone, not the policy one of the same name');
      assert.deepEqual(document.components.schemas.PolicyView.properties.network, { $ref: '#/components/schemas/NetworkPolicyView' });
      assert.ok(document.components.schemas.AgentView.properties.requiredZone, 'agents show their required zone');
    });

    test('a request approved with a shorter expiry becomes an entry in the newest policy version over GetPolicy and WatchPolicy; approving cannot lengthen, reject needs a reason', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      await devLan(sut);
      const agent = await enrollAgent(t, sut);
      const policy = policyClient(t, sut, agent.credentials);
      const lineageId = (await sut.rest('GET', '/api/v1/policy')).body.lineageId as string;
      const stream = policy.watchPolicy({ knownVersion: '0', knownLineageId: lineageId });
      t.after(() => stream.cancel());
      const received = collect<WatchPolicyResponse>(stream);
      const first = (await received.next()).policy!;
      assert.deepEqual(first.network?.whitelist, []);
      assert.deepEqual(
        first.network?.zones.map((zone) => [zone.name, zone.mode]),
        [['dev-lan', ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_ENFORCE]],
      );

      const requestedUntil = new Date(Date.now() + 7 * 86_400_000);
      const filed = await sut.rest('POST', '/api/v1/whitelist/requests', {
        hostPattern: 'Git.Example.COM.',
        ports: ['443', '22', '8000-8100'],
        protocol: 'tcp',
        service: 'git',
        zone: 'dev-lan',
        justification: 'push to the customer repository',
        requestedBy: 'Hanako Yamada',
        expiresAt: requestedUntil.toISOString(),
      });
      assert.equal(filed.status, 201, JSON.stringify(filed.body));
      assert.equal(filed.body.status, 'pending');
      assert.equal(filed.body.hostPattern, 'git.example.com', 'stored normalized');
      assert.deepEqual(filed.body.ports, [
        { first: 22, last: 22 },
        { first: 443, last: 443 },
        { first: 8000, last: 8100 },
      ]);
      const pending = (await sut.rest('GET', '/api/v1/whitelist/requests?status=pending')).body.items;
      assert.deepEqual(pending.map((item: { id: string }) => item.id), [filed.body.id]);
      const versionBefore = (await sut.rest('GET', '/api/v1/policy')).body.version;
      assert.equal(versionBefore, Number(first.version), 'filing a request publishes nothing');

      const longer = await sut.rest('POST', `/api/v1/whitelist/requests/${filed.body.id}/approve`, { approvedBy: 'Taro Suzuki', expiresAt: new Date(requestedUntil.getTime() + 60_000).toISOString() });
      assert.equal(longer.status, 400);
      assert.match(longer.body.message, /expiresAt may only shorten/);
      const self = await sut.rest('POST', `/api/v1/whitelist/requests/${filed.body.id}/approve`, { approvedBy: 'hanako yamada ' });
      assert.equal(self.status, 403);

      const shortened = new Date(Date.now() + 86_400_000);
      const approved = await sut.rest('POST', `/api/v1/whitelist/requests/${filed.body.id}/approve`, { approvedBy: 'Taro Suzuki', expiresAt: shortened.toISOString() });
      assert.equal(approved.status, 200, JSON.stringify(approved.body));
      assert.equal(approved.body.status, 'approved');
      assert.equal(approved.body.decidedBy, 'Taro Suzuki');
      assert.equal(approved.body.approvedExpiresAt, shortened.toISOString());
      const entryId = approved.body.entryId as string;
      assert.ok(entryId);
      assert.equal((await sut.rest('POST', `/api/v1/whitelist/requests/${filed.body.id}/reject`, { rejectedBy: 'x', reason: 'late' })).status, 409, 'a decided request stays decided');

      const pushed = (await received.next()).policy!;
      assert.equal(Number(pushed.version), versionBefore + 1);
      assert.equal(pushed.network?.whitelist.length, 1);
      const carried = pushed.network!.whitelist[0];
      assert.equal(carried.entryId, entryId);
      assert.equal(carried.hostPattern, 'git.example.com');
      assert.equal(carried.protocol, TransportProtocol.TRANSPORT_PROTOCOL_TCP);
      assert.equal(carried.service, 'git');
      assert.equal(carried.zone, 'dev-lan');
      assert.equal(carried.requestedBy, 'Hanako Yamada');
      assert.equal(carried.approvedBy, 'Taro Suzuki');
      assert.equal(Number(carried.expiresAt?.seconds) * 1000 + Math.floor((carried.expiresAt?.nanos ?? 0) / 1e6), shortened.getTime());
      const fetched = await unary<GetPolicyResponse>((cb) => policy.getPolicy({ knownVersion: first.version, knownLineageId: lineageId }, cb));
      assert.equal(fetched.policy?.version, pushed.version, 'a reconnecting agent gets the newest version');
      assert.deepEqual(fetched.policy?.network?.whitelist.map((item) => item.entryId), [entryId]);

      const entry = (await sut.rest('GET', `/api/v1/whitelist/${entryId}`)).body;
      assert.equal(entry.requestId, filed.body.id);
      assert.equal(entry.status, 'active');

      const other = await sut.rest('POST', '/api/v1/whitelist/requests', { cidr: '203.0.113.0/24', justification: 'mail relay', requestedBy: 'jiro', service: 'mail' });
      assert.equal(other.status, 201, JSON.stringify(other.body));
      const noReason = await sut.rest('POST', `/api/v1/whitelist/requests/${other.body.id}/reject`, { rejectedBy: 'Taro Suzuki' });
      assert.equal(noReason.status, 400);
      assert.match(noReason.body.message, /reason/);
      const rejected = await sut.rest('POST', `/api/v1/whitelist/requests/${other.body.id}/reject`, { rejectedBy: 'Taro Suzuki', reason: 'use the internal relay' });
      assert.equal(rejected.status, 200);
      assert.deepEqual([rejected.body.status, rejected.body.decisionReason, rejected.body.entryId], ['rejected', 'use the internal relay', null]);
      assert.equal((await sut.rest('GET', '/api/v1/policy')).body.version, Number(pushed.version), 'rejecting publishes nothing');

      const third = await sut.rest('POST', '/api/v1/whitelist/requests', { hostPattern: '.example.org', justification: 'docs', requestedBy: 'jiro' });
      const withdrawn = await sut.rest('POST', `/api/v1/whitelist/requests/${third.body.id}/withdraw`, {});
      assert.deepEqual([withdrawn.status, withdrawn.body.status, withdrawn.body.decidedBy], [200, 'withdrawn', 'jiro']);

      const bad: Array<[Record<string, unknown>, string]> = [
        [{ justification: 'x', requestedBy: 'a' }, 'hostPattern'],
        [{ hostPattern: 'a.example.com', cidr: '10.0.0.0/8', justification: 'x', requestedBy: 'a' }, 'hostPattern'],
        [{ hostPattern: 'bad_name!.example.com', justification: 'x', requestedBy: 'a' }, 'hostPattern'],
        [{ cidr: '10.0.0.0/40', justification: 'x', requestedBy: 'a' }, 'cidr'],
        [{ cidr: '10.0.0.1', ports: ['70000'], justification: 'x', requestedBy: 'a' }, 'ports\\[0\\]'],
        [{ cidr: '10.0.0.1', ports: ['443', '90-80'], justification: 'x', requestedBy: 'a' }, 'ports\\[1\\]'],
        [{ cidr: '10.0.0.1', zone: 'no-such-zone', justification: 'x', requestedBy: 'a' }, 'zone'],
        [{ cidr: '10.0.0.1', protocol: 'icmp', justification: 'x', requestedBy: 'a' }, 'protocol'],
        [{ cidr: '10.0.0.1', service: 'ftp', justification: 'x', requestedBy: 'a' }, 'service'],
        [{ cidr: '10.0.0.1', justification: 'x', requestedBy: 'a', expiresAt: new Date(Date.now() - 1000).toISOString() }, 'expiresAt'],
      ];
      for (const [body, field] of bad) {
        const answer: { status: number; body: { message: unknown } } = await sut.rest('POST', '/api/v1/whitelist/requests', body);
        assert.equal(answer.status, 400, JSON.stringify(body));
        assert.match(String(answer.body.message), new RegExp(field), JSON.stringify(answer.body));
      }

      const kinds = (await history(sut)).map((step) => [step.kind, step.subjectId, step.actor]);
      assert.deepEqual(kinds.slice(0, 4), [
        ['request.withdrawn', third.body.id, 'jiro'],
        ['request.filed', third.body.id, 'jiro'],
        ['request.rejected', other.body.id, 'Taro Suzuki'],
        ['request.filed', other.body.id, 'jiro'],
      ]);
      const pages: string[][] = [];
      let cursor: string | null = null;
      do {
        const page: { status: number; body: { items: Array<{ id: string }>; nextCursor: string | null } } = await sut.rest(
          'GET',
          `/api/v1/whitelist/history?limit=3${cursor === null ? '' : `&cursor=${cursor}`}`,
        );
        assert.equal(page.status, 200);
        pages.push(page.body.items.map((item) => item.id));
        cursor = page.body.nextCursor;
      } while (cursor !== null);
      assert.deepEqual(pages.flat(), (await history(sut)).map((step) => step.id), 'pages of 3 walk the whole history once, newest first');
      assert.ok(pages.length > 2);
      assert.deepEqual(
        (await history(sut, '&kind=request.filed')).map((step) => step.subjectId).sort(),
        [filed.body.id, other.body.id, third.body.id].sort(),
      );
      assert.equal((await sut.rest('GET', '/api/v1/whitelist/history?kind=entry.deleted')).status, 400, 'an unknown kind is named');
      const approval = (await history(sut, `&subjectId=${filed.body.id}`)).map((step) => [step.kind, step.before?.status ?? null, step.after?.status ?? null, step.policyVersion]);
      assert.deepEqual(approval, [
        ['request.approved', 'pending', 'approved', Number(pushed.version)],
        ['request.filed', null, 'pending', null],
      ]);
      const created = await history(sut, `&subjectId=${entryId}`);
      assert.deepEqual(created.map((step) => [step.kind, step.actor, step.after.hostPattern, step.policyVersion]), [['entry.created', 'Taro Suzuki', 'git.example.com', Number(pushed.version)]]);
    });

    test('an entry with a short expiry leaves the policy by itself, is marked expired and recorded; /whitelist lists and searches', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      await devLan(sut, 'audit');
      const agent = await enrollAgent(t, sut);
      const lineageId = (await sut.rest('GET', '/api/v1/policy')).body.lineageId as string;
      const stream = policyClient(t, sut, agent.credentials).watchPolicy({ knownVersion: '0', knownLineageId: lineageId });
      t.after(() => stream.cancel());
      const received = collect<WatchPolicyResponse>(stream);
      await received.next();

      const lasting = await sut.rest('POST', '/api/v1/whitelist', { cidr: '10.30.0.0/16', ports: [25], service: 'mail', zone: 'dev-lan', justification: 'mail relay', requestedBy: 'hanako', approvedBy: 'taro' });
      assert.equal(lasting.status, 201, JSON.stringify(lasting.body));
      const expiresAt = new Date(Date.now() + 2500);
      const brief = await sut.rest('POST', '/api/v1/whitelist', { hostPattern: '*.cdn.example.net', justification: 'installer download', requestedBy: 'hanako', approvedBy: 'taro', expiresAt: expiresAt.toISOString() });
      assert.equal(brief.status, 201, JSON.stringify(brief.body));
      const withBoth = (await received.next()).policy!;
      const withBrief = withBoth.network!.whitelist.some((entry) => entry.entryId === brief.body.id) ? withBoth : (await received.next()).policy!;
      assert.deepEqual(withBrief.network!.whitelist.map((entry) => entry.entryId).sort(), [lasting.body.id, brief.body.id].sort());

      const allowed = await sut.rest('GET', '/api/v1/whitelist/check?host=Files.CDN.example.net.&port=443&zone=dev-lan');
      assert.equal(allowed.status, 200, JSON.stringify(allowed.body));
      assert.deepEqual([allowed.body.allowed, allowed.body.entryId, allowed.body.zoneMode], [true, brief.body.id, 'audit']);

      const without = (await received.next()).policy!;
      assert.ok(Date.now() >= expiresAt.getTime() - 50, 'the version without it came at its expiry, not before');
      assert.ok(Date.now() < expiresAt.getTime() + 3000, 'and soon after it');
      assert.deepEqual(without.network!.whitelist.map((entry) => entry.entryId), [lasting.body.id]);
      const gone = await sut.rest('GET', '/api/v1/whitelist/check?host=files.cdn.example.net&port=443&zone=dev-lan');
      assert.deepEqual([gone.body.allowed, gone.body.entryId, gone.body.policyVersion], [false, null, Number(without.version)]);

      const expired = await until('the entry marked expired', async () => {
        const body = (await sut.rest('GET', `/api/v1/whitelist/${brief.body.id}`)).body;
        return body.status === 'expired' && body.expiredAt !== null ? body : null;
      });
      assert.equal(expired.expiredAt, expiresAt.toISOString());
      const steps = await until('the expiry recorded', async () => {
        const items = await history(sut, `&subjectId=${brief.body.id}`);
        return items.length === 2 ? items : null;
      });
      assert.deepEqual(
        steps.map((step) => [step.kind, step.actor, step.before?.status ?? null, step.after.status]),
        [
          ['entry.expired', 'collector', 'active', 'expired'],
          ['entry.created', 'taro', null, 'active'],
        ],
      );
      assert.equal(steps[0].policyVersion, Number(without.version));

      const active = (await sut.rest('GET', '/api/v1/whitelist')).body.items.map((entry: { id: string }) => entry.id);
      assert.deepEqual(active, [lasting.body.id], 'active entries by default');
      const all = (await sut.rest('GET', '/api/v1/whitelist?includeExpired=true')).body.items.map((entry: { id: string }) => entry.id);
      assert.deepEqual(all, [brief.body.id, lasting.body.id]);
      assert.deepEqual((await sut.rest('GET', '/api/v1/whitelist?status=expired')).body.items.map((entry: { id: string }) => entry.id), [brief.body.id]);
      assert.deepEqual((await sut.rest('GET', '/api/v1/whitelist?q=RELAY')).body.items.map((entry: { id: string }) => entry.id), [lasting.body.id], 'q searches the justification');
      assert.deepEqual((await sut.rest('GET', '/api/v1/whitelist?q=10.30&zone=dev-lan')).body.items.map((entry: { id: string }) => entry.id), [lasting.body.id]);
      assert.deepEqual((await sut.rest('GET', '/api/v1/whitelist?zone=office-lan')).body.items, []);

      const mail = await sut.rest('GET', '/api/v1/whitelist/check?ip=::ffff:10.30.4.5&port=25&zone=dev-lan');
      assert.deepEqual([mail.body.allowed, mail.body.entryId], [true, lasting.body.id], 'an IPv4-mapped address matches the IPv4 block');
      assert.equal((await sut.rest('GET', '/api/v1/whitelist/check?ip=10.30.4.5&port=26&zone=dev-lan')).body.allowed, false, 'another port');
      assert.equal((await sut.rest('GET', '/api/v1/whitelist/check?ip=10.30.4.5&port=25&zone=office-lan')).body.allowed, false, 'another zone');
      const badIp = await sut.rest('GET', '/api/v1/whitelist/check?ip=10.30.4&port=25');
      assert.equal(badIp.status, 400);
      assert.match(badIp.body.message, /ip/);
      assert.equal((await sut.rest('GET', '/api/v1/whitelist/check?host=a.example.com')).status, 400, 'port is required');

      const changed = await sut.rest('PATCH', `/api/v1/whitelist/${lasting.body.id}`, { ports: ['25', '587'], changedBy: 'taro' });
      assert.equal(changed.status, 200, JSON.stringify(changed.body));
      assert.deepEqual(changed.body.ports, [
        { first: 25, last: 25 },
        { first: 587, last: 587 },
      ]);
      assert.deepEqual((await received.next()).policy!.network!.whitelist[0].ports, [
        { first: 25, last: 25 },
        { first: 587, last: 587 },
      ]);
      const both = await sut.rest('PATCH', `/api/v1/whitelist/${lasting.body.id}`, { hostPattern: 'relay.example.com', cidr: '10.30.0.0/16', changedBy: 'taro' });
      assert.equal(both.status, 400);
      assert.match(both.body.message, /hostPattern/);
      assert.equal((await sut.rest('PATCH', `/api/v1/whitelist/${lasting.body.id}`, { expiresAt: new Date(Date.now() - 1000).toISOString(), changedBy: 'taro' })).status, 400);
      const ended = await sut.rest('POST', `/api/v1/whitelist/${lasting.body.id}/expire`, { expiredBy: 'taro', reason: 'relay retired' });
      assert.deepEqual([ended.status, ended.body.status, ended.body.revokedBy, ended.body.revocationReason], [200, 'revoked', 'taro', 'relay retired']);
      assert.deepEqual((await received.next()).policy!.network!.whitelist, []);
      assert.equal((await sut.rest('POST', `/api/v1/whitelist/${lasting.body.id}/expire`, { expiredBy: 'taro', reason: 'again' })).status, 409);
      assert.deepEqual(
        (await history(sut, `&subjectId=${lasting.body.id}`)).map((step) => [step.kind, step.reason]),
        [
          ['entry.revoked', 'relay retired'],
          ['entry.updated', null],
          ['entry.created', null],
        ],
      );
    });

    test('BLOCKED and AUDITED destination accesses raise destination.not_whitelisted, folded per agent, destination and port; ALLOWED raises nothing', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      await devLan(sut);
      const agent = await enrollAgent(t, sut, 'dev-pc');
      const { version, lineageId } = (await sut.rest('GET', '/api/v1/policy')).body;
      const base = Date.now() - 60_000;
      const answer = await upload(t, sut, agent, [
        access({ host: 'paste.example.com', ip: '198.51.100.7', port: 443, decision: DestinationDecision.DESTINATION_DECISION_BLOCKED, attempts: 3, at: new Date(base), policyVersion: String(version), lineageId }),
        access({ host: 'paste.example.com', ip: '198.51.100.8', port: 443, decision: DestinationDecision.DESTINATION_DECISION_BLOCKED, attempts: 2, at: new Date(base + 1000), policyVersion: String(version), lineageId }),
        access({ ip: '198.51.100.9', port: 22, decision: DestinationDecision.DESTINATION_DECISION_BLOCKED, at: new Date(base + 2000) }),
        access({ host: 'git.example.com', ip: '10.30.0.5', port: 443, decision: DestinationDecision.DESTINATION_DECISION_ALLOWED, at: new Date(base + 3000) }),
      ]);
      assert.equal(answer.storedCount, 4);
      let raised = await violations(sut, 'destination.not_whitelisted');
      assert.equal(raised.length, 2, 'two destinations, the allowed one raises nothing');
      const paste = raised.find((violation) => violation.device.host === 'paste.example.com')!;
      assert.equal(paste.agentId, agent.agentId);
      assert.equal(paste.hostname, 'dev-pc');
      assert.equal(paste.severity, 'medium', 'blocked attempts did not leave the host');
      assert.deepEqual(
        [paste.device.kind, paste.device.port, paste.device.protocol, paste.device.zone, paste.device.decision, paste.device.attempts, paste.device.processName],
        ['destination', 443, 'tcp', 'dev-lan', 'blocked', 5, 'curl'],
      );
      assert.deepEqual(paste.device.ipAddresses.sort(), ['198.51.100.7', '198.51.100.8']);
      assert.deepEqual(paste.judgedUnder, { policyVersion: version, source: 'decision', note: '' });
      assert.match(paste.summary, /paste\.example\.com/);
      const bare = raised.find((violation) => violation.device.host === '')!;
      assert.deepEqual([bare.device.ipAddress, bare.device.port, bare.judgedUnder.source], ['198.51.100.9', 22, 'newest']);

      // A later audited attempt to the same destination folds into the open violation and raises its severity.
      await upload(t, sut, agent, [access({ host: 'paste.example.com', ip: '198.51.100.7', port: 443, decision: DestinationDecision.DESTINATION_DECISION_AUDITED, at: new Date(base + 5000) })]);
      raised = await violations(sut, 'destination.not_whitelisted');
      assert.equal(raised.length, 2, 'folded, not raised again');
      const folded = raised.find((violation) => violation.id === paste.id)!;
      assert.deepEqual([folded.severity, folded.device.attempts, folded.device.auditedAttempts, folded.device.decision], ['high', 6, 1, 'audited']);

      // Once resolved, the next attempt raises a new one.
      assert.equal((await sut.rest('PATCH', `/api/v1/violations/${paste.id}`, { status: 'resolved', note: 'talked to the user' })).status, 200);
      await upload(t, sut, agent, [access({ host: 'paste.example.com', ip: '198.51.100.7', port: 443, decision: DestinationDecision.DESTINATION_DECISION_BLOCKED, at: new Date(base + 9000) })]);
      raised = await violations(sut, 'destination.not_whitelisted');
      assert.equal(raised.length, 3);
    });

    test('a device required in dev-lan and seen by its heartbeat in office-lan raises network.wrong_zone, cleared when it reports dev-lan; agents show required and reported zone and policy version', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      await devLan(sut);
      assert.equal((await sut.rest('POST', '/api/v1/zones', { name: 'office-lan', cidrs: ['10.10.0.0/16'], mode: 'off' })).status, 201);
      const agent = await enrollAgent(t, sut, 'partner-pc');
      await heartbeat(t, sut, agent, 'office-lan');
      assert.deepEqual(await violations(sut, 'network.wrong_zone'), [], 'no required zone: nothing to judge');

      assert.equal((await sut.rest('PATCH', `/api/v1/agents/${agent.agentId}/required-zone`, { zone: 'lab' })).status, 400, 'an undefined zone');
      const marked = await sut.rest('PATCH', `/api/v1/agents/${agent.agentId}/required-zone`, { zone: 'dev-lan', changedBy: 'it-admin' });
      assert.equal(marked.status, 200, JSON.stringify(marked.body));
      assert.deepEqual([marked.body.requiredZone, marked.body.reportedZone], ['dev-lan', 'office-lan']);
      let raised = await violations(sut, 'network.wrong_zone');
      assert.equal(raised.length, 1, 'the last reported zone is judged at once');
      assert.equal(raised[0].severity, 'high');
      assert.deepEqual([raised[0].device.kind, raised[0].device.requiredZone, raised[0].device.reportedZone, raised[0].device.hostname], ['machine', 'dev-lan', 'office-lan', 'partner-pc']);

      await heartbeat(t, sut, agent, 'office-lan', '3');
      assert.equal((await violations(sut, 'network.wrong_zone')).length, 1, 'one unresolved violation per agent');
      await heartbeat(t, sut, agent, '', '3');
      assert.equal((await violations(sut, 'network.wrong_zone'))[0].status, 'open', 'no zone reported says nothing');
      await heartbeat(t, sut, agent, 'dev-lan', '3');
      raised = await violations(sut, 'network.wrong_zone');
      assert.equal(raised[0].status, 'resolved', 'back in its zone clears it');
      assert.match(raised[0].note, /dev-lan/);

      const shown = (await sut.rest('GET', `/api/v1/agents/${agent.agentId}`)).body;
      assert.deepEqual([shown.requiredZone, shown.reportedZone, shown.policyVersion], ['dev-lan', 'dev-lan', 3]);
      const listed = (await sut.rest('GET', '/api/v1/agents')).body.items.find((item: { id: string }) => item.id === agent.agentId);
      assert.deepEqual([listed.requiredZone, listed.reportedZone, listed.policyVersion], ['dev-lan', 'dev-lan', 3]);
      const ledgerRow = (await sut.rest('GET', '/api/v1/ledger/devices?limit=500')).body.items.find((item: { agent: { id: string } | null }) => item.agent?.id === agent.agentId);
      assert.equal(ledgerRow?.agent.requiredZone, 'dev-lan', "the machine's ledger record shows it too");
      assert.equal((await sut.rest('DELETE', '/api/v1/zones/dev-lan')).status, 409, 'a zone a device is required in cannot go');
      assert.equal((await sut.rest('PATCH', `/api/v1/agents/${agent.agentId}/required-zone`, { zone: null })).status, 200);
      assert.deepEqual(
        (await history(sut, `&subjectId=${agent.agentId}`)).map((step) => [step.kind, step.before.requiredZone, step.after.requiredZone]),
        [
          ['agent.required_zone', 'dev-lan', null],
          ['agent.required_zone', null, 'dev-lan'],
        ],
      );
    });
  });
}

describe('the whitelist across two collector processes sharing PostgreSQL', () => {
  test('an entry added through one collector leaves the policy at its expiry through the other, after the first has stopped', async (t) => {
    const shared = await provideDatabase(t, 'postgres');
    if (shared === null) return;
    const first = await startTestCollector(t, 'postgres', { MAMORI_DATABASE_URL: shared.url! });
    const second = await startTestCollector(t, 'postgres', { MAMORI_DATABASE_URL: shared.url! });
    if (first === null || second === null) return;
    await devLan(first);
    const expiresAt = new Date(Date.now() + 3000);
    const added = await first.rest('POST', '/api/v1/whitelist', { cidr: '10.40.0.0/16', zone: 'dev-lan', justification: 'build cache', requestedBy: 'hanako', approvedBy: 'taro', expiresAt: expiresAt.toISOString() });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    const carried = await until('the second collector holds the version with the entry', async () => {
      const policy = (await second.rest('GET', '/api/v1/policy')).body;
      return policy.network.whitelist.some((entry: { entryId: string }) => entry.entryId === added.body.id) ? policy : null;
    });
    await first.collector.close();

    const without = await until('the second collector publishes the version without it', async () => {
      const policy = (await second.rest('GET', '/api/v1/policy')).body;
      return policy.version > carried.version ? policy : null;
    });
    assert.ok(Date.now() >= expiresAt.getTime(), 'not before its expiry');
    assert.deepEqual(without.network.whitelist, []);
    const entry = (await second.rest('GET', `/api/v1/whitelist/${added.body.id}`)).body;
    assert.deepEqual([entry.status, entry.expiredAt], ['expired', expiresAt.toISOString()]);
    const steps = (await history(second, `&subjectId=${added.body.id}`)).map((step) => [step.kind, step.actor]);
    assert.deepEqual(steps, [
      ['entry.expired', 'collector'],
      ['entry.created', 'taro'],
    ]);
  });
});
