import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Event } from '../../../agent/src/generated/mamori/v1/events';
import type { UploadEventsResponse } from '../../../agent/src/generated/mamori/v1/telemetry';
import { DATABASE_KINDS } from '../../support/databases';
import { enrollAgent, failure, startTestCollector, telemetryClient, unary, usbAttached, type EnrolledAgent, type TestCollector } from './collector-harness';

// The collector's side of "a restarted agent does not start new plugs", and the REST shape of
// violations: a USB device for usb.* rules, a machine for the ledger's condition rules.

async function upload(t: TestContext, sut: TestCollector, agent: EnrolledAgent, events: Event[]): Promise<UploadEventsResponse> {
  return unary<UploadEventsResponse>((cb) => telemetryClient(t, sut, agent.credentials).uploadEvents({ batchId: randomUUID(), events }, cb));
}

/** The report a restarted agent sends for a stick that stayed attached: its own event, naming the plug it continues. */
function continuingAttach(plug: Event): Event {
  const report = usbAttached({ serial: '4C530001' });
  return { ...report, usbDeviceAttached: { ...report.usbDeviceAttached!, presentAtStart: true, continuesAttachedEventId: plug.eventId } };
}

async function usbViolations(sut: TestCollector, agent: EnrolledAgent): Promise<Array<Record<string, any>>> {
  const page = await sut.rest('GET', `/api/v1/violations?agentId=${agent.agentId}&rule=usb.unregistered_device&limit=500`);
  assert.equal(page.status, 200, JSON.stringify(page.body));
  return page.body.items;
}

for (const kind of DATABASE_KINDS) {
  describe(`USB plugs across agent restarts on ${kind}`, () => {
    test('an attach and the continuing attach of a restarted agent are one plug: one violation while it is unresolved, and the plug raises again only once resolved', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const agent = await enrollAgent(t, sut);
      const plug = usbAttached({ serial: '4C530001' });
      await upload(t, sut, agent, [plug]);
      const [first, ...none] = await usbViolations(sut, agent);
      assert.equal(none.length, 0);
      assert.equal(first.plugId, plug.eventId);

      // Two restarts while the stick stays in, and the device's detach noticed at the third start.
      const again = continuingAttach(plug);
      const stored = await upload(t, sut, agent, [again, continuingAttach(plug)]);
      assert.equal(stored.storedCount, 2, 'the reports are stored as events of their own');
      assert.equal((await usbViolations(sut, agent)).length, 1, 'no second violation for the same plug');
      const listed = await sut.rest('GET', `/api/v1/events?agentId=${agent.agentId}&kind=usb_device_attached`);
      const shown = listed.body.items.find((e: { eventId: string }) => e.eventId === again.eventId);
      assert.equal(shown.payload.continuesAttachedEventId, plug.eventId);

      // Once a reviewer resolved it, a stick still in at the next restart is raised again, on the same plug, saying why.
      await sut.rest('PATCH', `/api/v1/violations/${first.id}`, { status: 'resolved', note: 'talked to the user' });
      const later = continuingAttach(plug);
      await upload(t, sut, agent, [later]);
      const raised = (await usbViolations(sut, agent)).filter((v) => v.status === 'open');
      assert.equal(raised.length, 1);
      assert.equal(raised[0].plugId, plug.eventId);
      assert.equal(raised[0].eventId, later.eventId);
      assert.match(raised[0].summary, /still attached when the agent restarted\.$/);

      const gone = Event.fromPartial({
        eventId: randomUUID(),
        occurredAt: later.occurredAt,
        sequence: String(Number(later.sequence) + 1),
        userName: 'alice',
        usbDeviceDetached: { device: plug.usbDeviceAttached!.device, attachedEventId: plug.eventId, leftWhileAgentStopped: true },
      });
      assert.equal((await upload(t, sut, agent, [gone])).storedCount, 1);
      const detached = await sut.rest('GET', `/api/v1/events?agentId=${agent.agentId}&kind=usb_device_detached`);
      assert.deepEqual(
        detached.body.items.map((e: { payload: { attachedEventId: string; leftWhileAgentStopped: boolean } }) => [e.payload.attachedEventId, e.payload.leftWhileAgentStopped]),
        [[plug.eventId, true]],
      );
    });

    test('a continuing attach that does not name a UUID is refused naming the field, and nothing of the batch is stored', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const agent = await enrollAgent(t, sut);
      const bad = continuingAttach({ ...usbAttached(), eventId: 'not-a-uuid' });
      const error = await failure(upload(t, sut, agent, [usbAttached(), bad]));
      assert.match(error.details, /events\[1\]\.usb_device_attached\.continues_attached_event_id: must be a UUID or empty, got "not-a-uuid"/);
      assert.equal((await sut.rest('GET', `/api/v1/events/count?agentId=${agent.agentId}`)).body.count, 0);
    });

    test('the violations REST view: a USB device for usb.* rules, the machine for ledger rules (agentId null for a machine never enrolled), as the OpenAPI document says', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const agent = await enrollAgent(t, sut);
      await upload(t, sut, agent, [usbAttached({ serial: '4C530001' })]);
      const yesterday = new Date(Date.now() - 86_400_000);
      const ymd = (d: Date) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
      const row = await sut.rest('POST', '/api/v1/ledger/devices', {
        assetTag: 'PC-LATE',
        hardwareSerial: 'L-1',
        hostname: 'late-pc',
        department: 'Sales',
        holder: 'Hanako Yamada',
        loanedSince: '2020-01-01',
        dueBack: ymd(yesterday),
        status: 'on_loan',
      });
      assert.equal(row.status, 201, JSON.stringify(row.body));

      const [usb] = (await sut.rest('GET', '/api/v1/violations?rule=usb.unregistered_device')).body.items;
      assert.deepEqual(usb.device, {
        vendorId: '0781',
        productId: '5567',
        serial: '4C530001',
        manufacturer: 'SanDisk',
        product: 'Cruzer Blade',
        interfaceClasses: [8],
        busPath: '1-2',
        serialQuality: 'unspecified',
      });
      assert.equal(usb.agentId, agent.agentId);

      const [overdue] = (await sut.rest('GET', '/api/v1/violations?rule=ledger.overdue')).body.items;
      assert.equal(overdue.agentId, null, 'the machine was never enrolled');
      assert.deepEqual(overdue.device, {
        kind: 'machine',
        ledgerDeviceId: row.body.id,
        assetTag: 'PC-LATE',
        hostname: 'late-pc',
        hardwareSerial: 'L-1',
        department: 'Sales',
        holder: 'Hanako Yamada',
        ledgerStatus: 'on_loan',
        loanedSince: '2020-01-01',
        dueBack: ymd(yesterday),
      });
      const one = await sut.rest('GET', `/api/v1/violations/${overdue.id}`);
      assert.deepEqual(one.body.device, overdue.device, 'the same view one at a time');

      const document = (await (await fetch(`${sut.httpBase}/api/docs-json`)).json()) as { components: { schemas: Record<string, any> } };
      const schemas = document.components.schemas;
      const view = schemas.ViolationView.properties;
      assert.equal(view.agentId.nullable, true, 'agentId can be null');
      assert.deepEqual(view.device.oneOf, [
        { $ref: '#/components/schemas/ViolationDeviceView' },
        { $ref: '#/components/schemas/ViolationMachineView' },
        { $ref: '#/components/schemas/ViolationUserDayView' },
        { $ref: '#/components/schemas/ViolationDestinationView' },
      ]);
      assert.deepEqual(schemas.ViolationDestinationView.properties.kind.enum, ['destination']);
      assert.deepEqual(schemas.ViolationMachineView.properties.kind.enum, ['machine']);
      assert.ok(schemas.ViolationMachineView.required.includes('hardwareSerial'));
      assert.ok(!schemas.ViolationMachineView.required.includes('dueBack'), 'rule-specific details are optional');
      assert.ok('serialQuality' in schemas.ViolationDeviceView.properties);
    });
  });
}
