import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { NetworkGuard, type NetworkGuardPolicy } from '../../../agent/src/daemon/network-guard';
import type { EventDraft } from '../../../agent/src/core/event-factory';
import { FakeEgressEnforcer } from '../../../agent/src/enforce/egress/backends/fake';
import { TransportProtocol } from '../../../agent/src/generated/mamori/v1/common';
import { DestinationDecision, DestinationObserver } from '../../../agent/src/generated/mamori/v1/events';
import { ZoneEnforcementMode, type NetworkPolicy } from '../../../agent/src/generated/mamori/v1/policy';
import { createLogger } from '../../../agent/src/logging/logger';
import { FakeNetworkBackend } from '../../../agent/src/sources/network/backends/fake';
import { NetworkZoneSource } from '../../../agent/src/sources/network/network-zone.source';
import { toTimestamp } from '../../../agent/src/core/timestamps';
import { makeTempDir } from '../../support/temp-dir';
import { eventually } from '../../e2e/support/rest-client';

// The daemon's network guard with the selectable fake backends (a recording firewall and a
// network read from a file): which plan reaches the firewall when the policy, the host's network
// or the clock changes, and what a refused attempt becomes.

const TCP = TransportProtocol.TRANSPORT_PROTOCOL_TCP;
const M = ZoneEnforcementMode;

function network(expiresAt: Date): NetworkPolicy {
  return {
    zones: [
      { name: 'dev-lan', cidrs: ['10.50.0.0/16'], dnsSuffixes: [], mode: M.ZONE_ENFORCEMENT_MODE_ENFORCE },
      { name: 'office-lan', cidrs: ['10.60.0.0/16'], dnsSuffixes: ['office.example.co.jp'], mode: M.ZONE_ENFORCEMENT_MODE_AUDIT },
    ],
    whitelist: [
      { entryId: 'git', hostPattern: 'git.example.com', cidr: '', ports: [{ first: 443, last: 443 }], protocol: TCP, service: 'git', zone: 'dev-lan', justification: 'repo', requestedBy: 'a', approvedBy: 'b', expiresAt: undefined },
      { entryId: 'ssh-short', hostPattern: '', cidr: '10.50.1.1', ports: [{ first: 22, last: 22 }], protocol: TCP, service: 'any', zone: 'dev-lan', justification: 'one day', requestedBy: 'a', approvedBy: 'b', expiresAt: toTimestamp(expiresAt) },
    ],
  };
}

function setUp(t: import('node:test').TestContext) {
  const dir = makeTempDir('mamori-network-guard-');
  const networkFile = join(dir.path, 'network.json');
  const moveTo = (addresses: string[], dnsSuffixes: string[] = []) => {
    writeFileSync(`${networkFile}.tmp`, JSON.stringify({ addresses, dnsSuffixes }));
    renameSync(`${networkFile}.tmp`, networkFile);
  };
  moveTo(['10.50.3.7/16']);
  const logger = createLogger('error');
  const enforcer = new FakeEgressEnforcer({ logger });
  const zoneSource = new NetworkZoneSource({ backend: new FakeNetworkBackend(networkFile), pollIntervalMs: 60_000, logger });
  const recorded: EventDraft[] = [];
  const sut = new NetworkGuard({
    zoneSource,
    enforcer,
    proxy: null,
    collectorAddress: 'collector.example.co.jp:50051',
    resolveHost: async () => ['10.0.0.9'],
    dnsServers: async () => ['10.0.0.53'],
    record: async (draft) => {
      recorded.push(draft);
    },
    userName: () => 'hanako',
    logger,
  });
  t.after(async () => {
    await sut.stop();
    dir.cleanup();
  });
  return { sut, enforcer, recorded, moveTo };
}

const policyOf = (expiresAt: Date, version = 7n): NetworkGuardPolicy => ({ network: network(expiresAt), version, lineageId: 'lineage-1' });

test('in an enforce zone the firewall gets the zone, its unexpired entries and the always-reachable collector and DNS servers; an entry leaves by itself at its expiry', async (t) => {
  const { sut, enforcer } = setUp(t);
  await sut.start(policyOf(new Date(Date.now() + 1_500)));
  const plan = enforcer.current!;
  assert.equal(plan.zone, 'dev-lan');
  assert.equal(plan.mode, M.ZONE_ENFORCEMENT_MODE_ENFORCE);
  assert.equal(plan.whitelist.entryCount, 2);
  assert.equal(plan.policyVersion, '7');
  assert.deepEqual(
    plan.alwaysAllowed.map((a) => `${a.ip}:${a.port}/${a.protocol}`).sort(),
    [`10.0.0.53:53/${TransportProtocol.TRANSPORT_PROTOCOL_TCP}`, `10.0.0.53:53/${TransportProtocol.TRANSPORT_PROTOCOL_UDP}`, `10.0.0.9:50051/${TCP}`].sort(),
  );
  assert.deepEqual(sut.status(), { zone: 'dev-lan', mode: 'enforce', enforcer: 'fake', whitelistEntries: 2, proxy: '', lastError: '' });

  // No policy change and no reconnect: the expiry alone re-plans.
  const expired = await eventually('a plan without the expired entry', async () => (enforcer.current?.whitelist.entryCount === 1 ? enforcer.current : undefined), 10_000);
  assert.equal(expired.whitelist.decide({ ip: '10.50.1.1', port: 22, protocol: TCP, zone: 'dev-lan' }).allowed, false);
  assert.equal(expired.whitelist.decide({ host: 'git.example.com', port: 443, protocol: TCP, zone: 'dev-lan' }).entryId, 'git');
});

test('moving between networks changes the plan: an audit zone found by DNS suffix, then no zone at all, which removes the table', async (t) => {
  const { sut, enforcer, moveTo } = setUp(t);
  await sut.start(policyOf(new Date(Date.now() + 3_600_000)));
  assert.equal(enforcer.current?.zone, 'dev-lan');

  moveTo(['192.168.1.20/24'], ['office.example.co.jp']);
  const office = await eventually('the office plan', async () => (enforcer.current?.zone === 'office-lan' ? enforcer.current : undefined), 10_000);
  assert.equal(office.mode, M.ZONE_ENFORCEMENT_MODE_AUDIT);
  assert.equal(sut.zoneName(), 'office-lan');

  moveTo(['172.16.5.5/24']);
  await eventually('no zone: nothing installed', async () => (sut.zoneName() === '' && enforcer.current === null ? true : undefined), 10_000);
  assert.equal(enforcer.records.at(-1)?.mode, 'off');
  assert.equal(sut.status().mode, 'off');
});

test('a refused attempt becomes a DestinationAccess event with the zone, the policy version and the folded count', async (t) => {
  const { sut, enforcer, recorded } = setUp(t);
  await sut.start(policyOf(new Date(Date.now() + 3_600_000)));
  enforcer.inject({ ip: '203.0.113.9', port: 443, attempts: 4, processName: 'curl', processId: 4242, sourceAddress: '10.50.3.7:40000' });
  await eventually('the event recorded', async () => (recorded.length > 0 ? true : undefined), 5_000);
  const access = recorded[0].destinationAccess!;
  assert.equal(recorded[0].userName, 'hanako', 'the logged-in user when the kernel gave no socket owner');
  assert.deepEqual(
    { ...access },
    {
      host: '',
      ipAddress: '203.0.113.9',
      port: 443,
      protocol: TCP,
      decision: DestinationDecision.DESTINATION_DECISION_BLOCKED,
      processName: 'curl',
      zone: 'dev-lan',
      bytesSent: '0',
      bytesReceived: '0',
      observer: DestinationObserver.DESTINATION_OBSERVER_FIREWALL,
      whitelistEntryId: '',
      policyVersion: '7',
      policyLineageId: 'lineage-1',
      processId: 4242,
      attempts: 4,
      sourceAddress: '10.50.3.7:40000',
    },
  );
});

test('the proxy verdict: the whitelist decides inside a zone with a mode, everything passes outside one', async (t) => {
  const { sut, moveTo } = setUp(t);
  await sut.start(policyOf(new Date(Date.now() + 3_600_000)));
  assert.deepEqual(sut.decideForProxy({ host: 'GIT.example.com.', port: 443, protocol: TCP }), { allowed: true, entryId: 'git', zone: 'dev-lan', mode: M.ZONE_ENFORCEMENT_MODE_ENFORCE });
  assert.equal(sut.decideForProxy({ host: 'paste.example.net', port: 443, protocol: TCP }).allowed, false);
  moveTo(['172.16.5.5/24']);
  await eventually('out of every zone', async () => (sut.zoneName() === '' ? true : undefined), 10_000);
  assert.deepEqual(sut.decideForProxy({ host: 'paste.example.net', port: 443, protocol: TCP }), { allowed: true, entryId: '', zone: '', mode: M.ZONE_ENFORCEMENT_MODE_OFF });
});

test('stop removes what the firewall installed', async (t) => {
  const { sut, enforcer } = setUp(t);
  await sut.start(policyOf(new Date(Date.now() + 3_600_000)));
  assert.notEqual(enforcer.current, null);
  await sut.stop();
  assert.equal(enforcer.current, null);
  assert.equal(enforcer.records.at(-1)?.action, 'remove');
});
