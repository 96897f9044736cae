import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DATABASE_KINDS } from '../support/databases';
import { AgentUnderTest, CollectorUnderTest, attachLine, detachLine } from './support/cluster';
import { eventually } from './support/rest-client';

// The real agent process restarted (orderly stop, then kill -9) while an unregistered stick stays
// attached: each start reports the stick as present at start, naming the plug it continues, and
// the collector keeps one violation for it; its later detach ends the first plug.
for (const kind of DATABASE_KINDS) {
  describe(`USB plugs across real agent restarts on ${kind}`, () => {
    test('restarting the agent while a stick stays attached does not raise its rule again', async (t) => {
      const collector = await CollectorUnderTest.start(t, kind);
      if (collector === null) return;
      const stick = { vendorId: '0781', productId: '5567', serial: 'AA00000000004242', manufacturer: 'Generic', product: 'Flash Disk', interfaceClasses: [8], busPath: '1-6' };
      const agent = await AgentUnderTest.enroll(t, collector);
      await agent.start();
      await eventually('the agent running policy version 1', async () => {
        const status = JSON.parse(await readFile(join(agent.stateDir, 'status.json'), 'utf8').catch(() => '{}')) as { policyVersion?: string };
        return status.policyVersion === '1' ? true : undefined;
      });
      agent.appendScript([attachLine(stick)]);

      const violations = async () =>
        (await collector.rest.expect<{ items: any[] }>(200, 'GET', `/api/v1/violations?agentId=${agent.agentId}&rule=usb.unregistered_device`)).items;
      const attaches = async () =>
        (await collector.rest.expect<{ items: any[] }>(200, 'GET', `/api/v1/events?agentId=${agent.agentId}&kind=usb_device_attached&limit=100`)).items;
      const [first] = await eventually('the violation of the plug', async () => {
        const items = await violations();
        return items.length > 0 ? items : undefined;
      });
      assert.equal(first.plugId, first.eventId);

      await agent.process.stop();
      await agent.start();
      await eventually('the attach reported at the first restart', async () => ((await attaches()).length === 2 ? true : undefined));
      await agent.process.kill9();
      await agent.start();
      const reports = await eventually('the attach reported after kill -9', async () => {
        const items = await attaches();
        return items.length === 3 ? items : undefined;
      });
      const restarts = reports.filter((e) => e.eventId !== first.eventId);
      assert.deepEqual(
        restarts.map((e) => [e.payload.presentAtStart, e.payload.continuesAttachedEventId]),
        [
          [true, first.eventId],
          [true, first.eventId],
        ],
        'each start reports the stick as present, continuing the first plug',
      );
      const all = await violations();
      assert.equal(all.length, 1, 'still one violation');
      assert.equal(all[0].id, first.id);

      agent.appendScript([detachLine(stick.busPath)]);
      const detach = await eventually('the detach', async () => {
        const items = (await collector.rest.expect<{ items: any[] }>(200, 'GET', `/api/v1/events?agentId=${agent.agentId}&kind=usb_device_detached`)).items;
        return items.length > 0 ? items[0] : undefined;
      });
      assert.equal(detach.payload.attachedEventId, first.eventId, 'the detach ends the first plug');
      assert.equal((await violations()).length, 1);
    });
  });
}
