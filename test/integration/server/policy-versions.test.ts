import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DATABASE_KINDS } from '../../support/databases';
import { startTestCollector } from './collector-harness';

for (const kind of DATABASE_KINDS) {
  describe(`policy versions over REST (${kind})`, () => {
    test('the history newest first with what changed, a stored document, and the diff between two versions', async (t) => {
      const sut = await startTestCollector(t, kind);
      if (sut === null) return;
      const entry = await sut.rest('POST', '/api/v1/whitelist', { cidr: '10.30.0.0/16', ports: ['443'], justification: 'build farm', requestedBy: 'hanako', approvedBy: 'taro' });
      assert.equal(entry.status, 201, JSON.stringify(entry.body));
      const edited = await sut.rest('PATCH', `/api/v1/whitelist/${entry.body.id}`, { justification: 'build farm and caches', changedBy: 'taro' });
      assert.equal(edited.status, 200, JSON.stringify(edited.body));
      const usb = await sut.rest('PUT', '/api/v1/policy/usb', { unregisteredDeviceMode: 'block' });
      assert.equal(usb.status, 200, JSON.stringify(usb.body));
      const newest = (await sut.rest('GET', '/api/v1/policy')).body.version as number;
      assert.ok(newest >= 4, `version 1 and three changes, got ${newest}`);

      const list = await sut.rest('GET', '/api/v1/policy/versions?limit=3');
      assert.equal(list.status, 200, JSON.stringify(list.body));
      assert.deepEqual(
        list.body.items.map((item: { version: number }) => item.version),
        [newest, newest - 1, newest - 2],
      );
      assert.equal(list.body.items[0].summary, 'usb.unregisteredDeviceMode: changed');
      assert.equal(list.body.items[1].summary, 'network.whitelist: 1 changed');
      assert.equal(list.body.items[2].summary, 'network.whitelist: 1 added');
      assert.equal(list.body.nextBefore, newest - 2);
      const rest = await sut.rest('GET', `/api/v1/policy/versions?before=${list.body.nextBefore}`);
      assert.equal(rest.body.items.at(-1).version, 1);
      assert.equal(rest.body.items.at(-1).summary, 'first version');
      assert.equal(rest.body.nextBefore, null);

      const document = await sut.rest('GET', `/api/v1/policy/versions/${newest - 2}`);
      assert.equal(document.status, 200);
      assert.equal(document.body.document.network.whitelist[0].entryId, entry.body.id);
      assert.equal(document.body.document.network.whitelist[0].justification, 'build farm');

      const diff = await sut.rest('GET', `/api/v1/policy/versions/${newest - 1}/diff?against=${newest - 2}`);
      assert.equal(diff.status, 200, JSON.stringify(diff.body));
      assert.deepEqual(diff.body, {
        from: newest - 2,
        to: newest - 1,
        changes: [{ path: `network.whitelist[entryId=${entry.body.id}].justification`, kind: 'changed', before: 'build farm', after: 'build farm and caches' }],
      });
      const span = await sut.rest('GET', `/api/v1/policy/versions/${newest}/diff?against=1`);
      assert.deepEqual(
        span.body.changes.map((change: { path: string; kind: string }) => [change.path, change.kind]),
        [
          [`network.whitelist[entryId=${entry.body.id}]`, 'added'],
          ['usb.unregisteredDeviceMode', 'changed'],
        ],
      );
      const previous = await sut.rest('GET', `/api/v1/policy/versions/${newest}/diff`);
      assert.equal(previous.body.from, newest - 1, 'against defaults to the version before');

      const missing = await sut.rest('GET', `/api/v1/policy/versions/${newest}/diff?against=999`);
      assert.equal(missing.status, 404);
      assert.match(missing.body.message, /policy version 999 does not exist/);
      const bad = await sut.rest('GET', '/api/v1/policy/versions/latest');
      assert.equal(bad.status, 400);
      assert.match(bad.body.message, /version must be a policy version number/);
      const first = await sut.rest('GET', '/api/v1/policy/versions/1/diff');
      assert.equal(first.status, 400);
      assert.match(first.body.message, /policy version 1 is the first/);
    });
  });
}
