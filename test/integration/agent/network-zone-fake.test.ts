import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { classifyZone } from '../../../agent/src/core/destinations/zone-classifier';
import { ZoneEnforcementMode, type NetworkZone } from '../../../agent/src/generated/mamori/v1/policy';
import { createNetworkZoneSource } from '../../../agent/src/sources/network/network-backend-selector';
import { makeTempDir } from '../../support/temp-dir';

const ZONES: NetworkZone[] = [
  { name: 'dev-lan', cidrs: ['10.20.0.0/16'], dnsSuffixes: ['dev.example.co.jp'], mode: ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_ENFORCE },
  { name: 'office-lan', cidrs: ['192.168.0.0/16'], dnsSuffixes: [], mode: ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_OFF },
];

test('fake backend: rewriting the file moves the host between zones within a moment, with no poll in between', async (t) => {
  const temp = makeTempDir('mamori-network-fake-');
  t.after(() => temp.cleanup());
  const file = join(temp.path, 'network.json');
  // Written the way a test rig should: to a temporary name, then renamed over the file.
  const put = (view: unknown) => {
    writeFileSync(`${file}.tmp`, JSON.stringify(view));
    renameSync(`${file}.tmp`, file);
  };
  put({ addresses: ['10.20.0.15/24'], dnsSuffixes: [] });
  // An hour's poll: only the folder watch can notice the rewrites in time.
  const source = createNetworkZoneSource({ networkBackend: 'fake', fakeNetworkFile: file, networkPollSeconds: 3600 });
  t.after(() => source.close());
  const keepAlive = setInterval(() => undefined, 1000);
  t.after(() => clearInterval(keepAlive));
  assert.equal(source.name, 'network:fake');
  assert.equal(classifyZone(ZONES, await source.start())?.name, 'dev-lan');

  const zones: string[] = [];
  const seen = (count: number) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${zones.length} zone changes seen: ${zones.join(', ')}`)), 5_000);
      const check = () => {
        if (zones.length >= count) {
          clearTimeout(timer);
          resolve();
        } else setTimeout(check, 10);
      };
      check();
    });
  source.onChange((view) => zones.push(classifyZone(ZONES, view)?.name ?? '(none)'));

  const movedAt = Date.now();
  put({ addresses: ['192.168.1.20/24'], dnsSuffixes: ['office.example'] });
  await seen(1);
  assert.ok(Date.now() - movedAt < 2_000, 'noticed by the watch, not the poll');
  put({ addresses: ['172.16.0.9'], dnsSuffixes: ['build.dev.example.co.jp'] });
  await seen(2);
  unlinkSync(file);
  await seen(3);
  assert.deepEqual(zones, ['office-lan', 'dev-lan', '(none)'], 'the DNS suffix alone places it in dev-lan; no file, no zone');
  assert.match(source.problems()[0] ?? '', /fake network file .* cannot be read: ENOENT/);
});
