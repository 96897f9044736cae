import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DATABASE_KINDS } from '../support/databases';
import { AgentUnderTest, CollectorUnderTest, attachLine } from './support/cluster';
import { eventually } from './support/rest-client';

// Policy changes while a stick stays plugged in, across real processes: the agent re-evaluates
// the attached stick and reports it as UsbDeviceReevaluated (not as a second attach), and the
// collector counts each rule once per plug, judging each event by the policy version the agent
// decided under.
for (const kind of DATABASE_KINDS) {
  describe(`USB re-evaluation end to end on ${kind}`, () => {
    test('a policy change while a stick stays attached is recorded as a re-evaluation and does not raise the same rule twice', async (t) => {
      const collector = await CollectorUnderTest.start(t, kind);
      if (collector === null) return;
      const stick = { vendorId: '0781', productId: '5567', serial: 'AA00000000009876', manufacturer: 'Generic', product: 'Flash Disk', interfaceClasses: [8], busPath: '1-4' };
      const agent = await AgentUnderTest.enroll(t, collector);
      await agent.start();
      // Plugged once the agent runs the collector's policy (before that it decides under none, and the collector says so).
      await eventually('the agent running policy version 1', async () => {
        const status = JSON.parse(await readFile(join(agent.stateDir, 'status.json'), 'utf8').catch(() => '{}')) as { policyVersion?: string };
        return status.policyVersion === '1' ? true : undefined;
      });
      agent.appendScript([attachLine(stick)]);

      const violations = async () =>
        (await collector.rest.expect<{ items: any[] }>(200, 'GET', `/api/v1/violations?agentId=${agent.agentId}&rule=usb.unregistered_device`)).items;
      const reevaluations = () => collector.countEvents({ agentId: agent.agentId, kind: 'usb_device_reevaluated' });
      const policy = await collector.rest.expect<{ version: number; lineageId: string }>(200, 'GET', '/api/v1/policy');

      const [first] = await eventually('the violation of the plug', async () => {
        const items = await violations();
        return items.length > 0 ? items : undefined;
      });
      assert.deepEqual(first.judgedUnder, { policyVersion: policy.version, source: 'decision', note: '' }, 'judged by the version the agent decided under');
      assert.equal(first.enforcement.policyLineageId, policy.lineageId);
      assert.equal(first.plugId, first.eventId);

      // Block mode while it stays attached: a new decision (not possible here: the fake backend has no kernel device), the same plug.
      await collector.rest.expect(200, 'PUT', '/api/v1/policy/usb', { unregisteredDeviceMode: 'block' });
      await eventually('the re-evaluation under block mode', async () => ((await reevaluations()) === 1 ? 1 : undefined));
      const [reevaluation] = (await collector.rest.expect<{ items: any[] }>(200, 'GET', `/api/v1/events?agentId=${agent.agentId}&kind=usb_device_reevaluated`)).items;
      assert.equal(reevaluation.payload.attachedEventId, first.eventId, 'it names the plug');
      assert.equal(reevaluation.payload.previousAppliedMode, 'USB_ENFORCEMENT_MODE_AUDIT');
      assert.equal(reevaluation.payload.enforcement.requestedMode, 'USB_ENFORCEMENT_MODE_BLOCK');
      assert.equal(reevaluation.payload.enforcement.action, 'USB_ENFORCEMENT_ACTION_NOT_POSSIBLE');
      assert.equal(await collector.countEvents({ agentId: agent.agentId, kind: 'usb_device_attached' }), 1, 'no second attach');
      assert.equal((await violations()).length, 1, 'the same plug is not a second violation');

      // Registered: allowed where it sits; then the reviewer closes the case.
      const entry = await collector.rest.expect<{ id: string }>(201, 'POST', '/api/v1/usb-register', {
        vendorId: stick.vendorId,
        productId: stick.productId,
        serial: stick.serial,
        label: 'Loaner 3',
        holder: 'Taro Suzuki',
        department: 'IT',
      });
      await eventually('the re-evaluation as registered', async () => ((await reevaluations()) === 2 ? 2 : undefined));
      assert.equal((await violations()).length, 1);
      await collector.rest.expect(200, 'PATCH', `/api/v1/violations/${first.id}`, { status: 'resolved', note: 'registered as a loaner' });

      // The entry is deleted while the stick is still in: it newly breaks the rule, raised once.
      await collector.rest.expect(204, 'DELETE', `/api/v1/usb-register/${entry.id}`);
      const unregisteredVersion = (await collector.rest.expect<{ version: number }>(200, 'GET', '/api/v1/policy')).version;
      const raised = await eventually('the violation raised by the re-evaluation', async () => {
        const items = (await violations()).filter((v) => v.status === 'open');
        return items.length > 0 ? items : undefined;
      });
      assert.equal(raised.length, 1);
      assert.equal(raised[0].plugId, first.eventId, 'the same plug');
      assert.match(raised[0].summary, new RegExp(`still attached when policy version ${unregisteredVersion} took effect`));
      assert.deepEqual(raised[0].judgedUnder, { policyVersion: unregisteredVersion, source: 'decision', note: '' });
      assert.equal(await reevaluations(), 3);
      assert.equal((await violations()).length, 2, 'one resolved, one open: never two open for one plug');
    });
  });
}
