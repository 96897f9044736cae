import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../support/processes';
import { derivePlug, parseFootprint, parseMonitorLines, type AgentKind } from '../../bench/usb-hotplug/monitor-records';
import { usbFigures, type SideMeasurements } from '../../bench/usb-hotplug/usb-figures';

const fixture = (name: string) => readFileSync(join(REPO_ROOT, 'test/fixtures/bench', name), 'utf8');

function side(agent: AgentKind): SideMeasurements {
  const plugs = parseMonitorLines(fixture(`usb-monitor-${agent}.jsonl`)).lines.flatMap((l) => (l.ev === 'record' && l.rec !== null ? [derivePlug(l.rec, agent)] : []));
  const probe1 = parseFootprint(fixture('footprint-probe-node-with-child-1.txt'));
  const probe2 = parseFootprint(fixture('footprint-probe-node-with-child-2.txt'));
  return { plugs, idleStart: probe1, idleEnd: probe2, afterPlugs: probe2, ...(agent === 'mamori' ? { host: { unregisteredToEvent: [700], unregisteredToViolation: [730], registeredToEvent: [560] } } : {}) };
}

test('mamori beside USBGuard: shared figures carry the ratio of the medians, mamori-only figures none', () => {
  const { figures, counts } = usbFigures({ mamori: side('mamori'), usbguard: side('usbguard') });
  const byId = (id: string) => figures.find((f) => f.id === id)!;
  const stamp = byId('unregistered.kNewToDecisionStamp');
  assert.equal(stamp.values.mamori!.n, 1);
  assert.ok(Math.abs(stamp.ratio! - stamp.values.mamori!.median / stamp.values.usbguard!.median) < 1e-12);
  assert.ok(Math.abs(stamp.values.mamori!.median - 456.679) < 0.01);
  assert.equal(byId('kernel.kNewToUeventAdd').values.usbguard!.n, 2, 'the control figure counts every plug');
  const latency = byId('unregistered.agentLatency');
  assert.equal(latency.values.usbguard, null, 'USBGuard keeps no latency of its own');
  assert.equal(latency.ratio, null);
  assert.equal(byId('unregistered.hostToViolation').values.mamori!.median, 730);
  assert.equal(byId('unregistered.hostToViolation').values.usbguard, null);
  assert.equal(byId('idle.rss').ratio, 1, 'the same probe fixture on both sides');
  const c = (id: string) => counts.find((x) => x.id === id)!.values;
  assert.deepEqual(c('unregistered.bornUnauthorized'), { mamori: { hits: 1, of: 1 }, usbguard: { hits: 1, of: 1 } });
  assert.deepEqual(c('unregistered.diskEver'), { mamori: { hits: 0, of: 1 }, usbguard: { hits: 0, of: 1 } });
  assert.deepEqual(c('unregistered.decided'), { mamori: { hits: 1, of: 1 }, usbguard: { hits: 1, of: 1 } });
  assert.deepEqual(c('registered.usable'), { mamori: { hits: 1, of: 1 }, usbguard: { hits: 1, of: 1 } });
});

test('with the USBGuard side not measured, mamori\'s figures stand alone and no ratio is invented', () => {
  const { figures, counts } = usbFigures({ mamori: side('mamori') });
  for (const f of figures) {
    assert.equal(f.values.usbguard, null, f.id);
    assert.equal(f.ratio, null, f.id);
  }
  assert.equal(counts[0]!.values.usbguard, null);
});
