import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DATABASE_KINDS } from '../support/databases';
import { AGENT_BIN, runNodeProgram } from '../support/processes';
import { AgentUnderTest, CollectorUnderTest, attachLine } from './support/cluster';
import { eventually } from './support/rest-client';

// The first violation end to end: a real agent process (fake USB backend) talks to a real
// collector process over mutual TLS, and the security reviewer finds the violation over REST.
for (const kind of DATABASE_KINDS) {
  describe(`USB register end to end on ${kind}`, () => {
    test('an unregistered stick raises usb.unregistered_device; a registered stick does not', async (t) => {
      const collector = await CollectorUnderTest.start(t, kind);
      if (collector === null) return;
      const registered = {
        vendorId: '0781',
        productId: '5567',
        serial: '4C530001231120115142',
        manufacturer: 'SanDisk',
        product: 'Cruzer Blade',
        interfaceClasses: [8],
        busPath: '1-2',
      };
      const personal = { ...registered, serial: 'AA00000000001234', busPath: '1-3', manufacturer: 'Generic' };
      await collector.rest.expect(201, 'POST', '/api/v1/usb-register', {
        vendorId: registered.vendorId,
        productId: registered.productId,
        serial: registered.serial,
        label: 'Sales stick 12',
        holder: 'Hanako Yamada',
        department: 'Sales',
      });

      const agent = await AgentUnderTest.enroll(t, collector);
      await agent.start();
      agent.appendScript([attachLine(registered), attachLine(personal)]);

      await eventually('both attach events stored', async () => {
        const n = await collector.countEvents({ agentId: agent.agentId, kind: 'usb_device_attached' });
        return n === 2 ? n : undefined;
      });
      const list = await eventually('the violation listed', async () => {
        const page = await collector.rest.expect<{ items: any[] }>(
          200, 'GET', `/api/v1/violations?agentId=${agent.agentId}&rule=usb.unregistered_device`);
        return page.items.length > 0 ? page : undefined;
      });

      assert.equal(list.items.length, 1, 'exactly one violation: the personal stick');
      const violation = list.items[0];
      assert.equal(violation.rule, 'usb.unregistered_device');
      assert.equal(violation.status, 'open');
      assert.equal(violation.agentId, agent.agentId);
      assert.equal(violation.device.serial, personal.serial);
      assert.equal(violation.device.vendorId, '0781');
      assert.equal(violation.device.productId, '5567');
      assert.ok(violation.severity, 'the violation has a severity');
      assert.ok(violation.eventId, 'the violation names the event it came from');

      const agentView = await collector.rest.expect<any>(200, 'GET', `/api/v1/agents/${agent.agentId}`);
      assert.equal(agentView.status, 'enrolled');
      // The heartbeat carries the posture: two sticks attached, one of them not issued, and no
      // encryption source yet, which must read "not checked" rather than "not encrypted".
      const seen = await eventually('the posture of both sticks in a heartbeat', async () => {
        const view = await collector.rest.expect<any>(200, 'GET', `/api/v1/agents/${agent.agentId}`);
        return view.posture?.usbStorageDevicesAttached === 2 ? view : undefined;
      });
      assert.equal(seen.posture.unregisteredUsbStorageDevices, 1);
      assert.equal(seen.posture.fixedDisksEncrypted, 'not_checked');
      assert.ok(seen.lastSeenAt);
      assert.ok(seen.facts.hostname.length > 0, 'host facts arrive with the heartbeat');

      // `mamori-agent status` says what the agent can and cannot do here: the fake backend
      // detects, but there is no kernel device to block, and it says why.
      const status = await eventually('capabilities in mamori-agent status', async () => {
        const result = await runNodeProgram(AGENT_BIN, ['status', '--json', '--state-dir', agent.stateDir], {});
        const report = JSON.parse(result.stdout) as { capabilities: Array<{ name: string; available: boolean; reason: string }> };
        return report.capabilities.length > 0 ? report : undefined;
      });
      const byName = new Map(status.capabilities.map((c) => [c.name, c]));
      assert.equal(byName.get('usb.detect')?.available, true);
      assert.equal(byName.get('usb.block')?.available, false);
      assert.ok((byName.get('usb.block')?.reason ?? '').length > 0, 'an unavailable capability says why');
    });
  });
}
