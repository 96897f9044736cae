import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../support/processes';
import { derivePlug, mamoriDecision, parseMonitorLines, usbguardDecision, type MonitorRecord } from '../../bench/usb-hotplug/monitor-records';

// Captured by `npm run bench -- usb-hotplug` (see test/fixtures/SOURCES.md): the monitor's output
// for the first unregistered plug (1) and the first registered plug (11) of each agent.
const captured = (agent: string) => readFileSync(join(REPO_ROOT, 'test/fixtures/bench', `usb-monitor-${agent}.jsonl`), 'utf8');
const records = (agent: string): MonitorRecord[] =>
  parseMonitorLines(captured(agent)).lines.flatMap((l) => (l.ev === 'record' && l.rec !== null ? [l.rec] : []));
const near = (actual: number | null, expected: number, what: string) => {
  assert.ok(actual !== null && Math.abs(actual - expected) < 0.01, `${what}: ${actual} ms, expected ${expected} ms`);
};

test('the monitor output parses into its messages in the order the guest wrote them', () => {
  const { lines, consumed } = parseMonitorLines(captured('usbguard'));
  assert.equal(consumed, captured('usbguard').length);
  assert.deepEqual(lines.map((l) => l.ev), ['ready', 'armed', 'auth', 'dev', 'decision', 'gone', 'record', 'armed', 'auth', 'dev', 'auth', 'decision', 'sd', 'sd', 'gone', 'record']);
  assert.deepEqual(records('usbguard').map((r) => [r.plug, r.expect, r.serial]), [[1, 'block', 'MAMORI-BENCH-U001'], [11, 'allow', 'MAMORI-BENCH-ISSUED']]);
});

test('an unfinished last line waits for the next read; a line that is not the monitor\'s is an error naming its number', () => {
  const text = captured('usbguard');
  const cut = text.indexOf('\n', 10) + 15;
  const partial = parseMonitorLines(text.slice(0, cut));
  assert.equal(partial.lines.length, 1);
  assert.equal(partial.consumed, text.indexOf('\n') + 1);
  assert.throws(() => parseMonitorLines('{"ev":"ready","g":1}\nTraceback (most recent call last):\n', 7), /monitor output line 8 is not JSON: Traceback/);
  assert.throws(() => parseMonitorLines('{"ev":"reboot"}\n'), /line 1 has no known "ev"/);
});

test('USBGuard, unregistered stick: born unauthorized, no driver, no disk, its audit line says block', () => {
  const f = derivePlug(records('usbguard')[0]!, 'usbguard');
  assert.equal(f.error, null);
  assert.equal(f.speed, 'SuperSpeed');
  assert.deepEqual([f.bornUnauthorized, f.everAuthorized, f.interfaceBound, f.diskEver], [true, false, false, false]);
  assert.equal(f.decision, 'block');
  near(f.kNewToUeventAdd, 27.937, 'kernel new device → uevent');
  near(f.kNewToAuthorized0, 51.454, 'kernel new device → authorized=0 read');
  near(f.kNewToDecisionSeen, 67.596, 'kernel new device → audit line seen');
  near(f.kNewToDecisionStamp, 64.793, "kernel new device → usbguard's own stamp");
  assert.equal(f.kNewToAuthorized1, null);
  assert.equal(f.kNewToDisk, null);
  assert.equal(f.agentLatencyMs, null, 'usbguard records no latency of its own');
});

test('USBGuard, registered stick: authorized after its rule matched, the driver binds, sda appears', () => {
  const f = derivePlug(records('usbguard')[1]!, 'usbguard');
  assert.deepEqual([f.bornUnauthorized, f.everAuthorized, f.interfaceBound, f.diskEver], [true, true, true, true]);
  assert.equal(f.decision, 'allow');
  near(f.kNewToAuthorized0, 22.682, 'first read (born unauthorized)');
  near(f.kNewToAuthorized1, 38.376, 'authorized=1 read');
  near(f.kNewToInterfaceBound, 70.082, 'interface driver bound');
  near(f.kNewToDisk, 1166.842, 'sda added (the whole disk, not sda1)');
  near(f.kNewToDecisionStamp, 74.183, "usbguard's own stamp");
});

test('decision records are those of the plugged serial only', () => {
  const record = records('usbguard')[0]!;
  assert.equal(usbguardDecision(record.decision, 'ANOTHER-SERIAL', record.rtOff), null);
  assert.equal(mamoriDecision([[1, 'not json'], [2, '{"msg":"USB enforcement decision","serial":"X","time":"bad"}']], 'X', 0), null);
  const line = '{"time":"2026-11-27T21:16:12.648Z","msg":"USB enforcement decision","serial":"X","action":"USB_ENFORCEMENT_ACTION_DEAUTHORIZED","latencyMicros":"26519"}';
  assert.deepEqual(mamoriDecision([[5, line]], 'X', 1795813800), { seenG: 5, stampG: Date.parse('2026-11-27T21:16:12.648Z') / 1000 - 1795813800, decision: 'deauthorized', latencyMicros: 26519 });
});

test('a plug whose device never arrived says so instead of giving figures', () => {
  const record = { ...records('usbguard')[0]!, dev: null, ueAddG: null, kmsg: [], authSeen: [], decision: [], ue: [], sd: [] };
  const f = derivePlug(record, 'usbguard');
  assert.equal(f.error, 'the device never appeared (no usb_device add uevent)');
  assert.equal(f.kNewToAuthorized0, null);
});

test('mamori, unregistered stick: born unauthorized and left so; its log line says deauthorized with its own latency', () => {
  const f = derivePlug(records('mamori')[0]!, 'mamori');
  assert.equal(f.error, null);
  assert.deepEqual([f.bornUnauthorized, f.everAuthorized, f.interfaceBound, f.diskEver], [true, false, false, false]);
  assert.equal(f.decision, 'deauthorized');
  near(f.kNewToUeventAdd, 45.439, 'kernel new device → uevent');
  near(f.kNewToAuthorized0, 59.958, 'authorized=0 read');
  near(f.kNewToDecisionSeen, 461.527, 'decision line seen');
  near(f.kNewToDecisionStamp, 456.679, "the agent's own stamp");
  assert.equal(f.agentLatencyMs, 49.76);
});

test('mamori, registered stick: authorized after the register matched, the driver binds, sda appears', () => {
  const f = derivePlug(records('mamori')[1]!, 'mamori');
  assert.deepEqual([f.bornUnauthorized, f.everAuthorized, f.interfaceBound, f.diskEver], [true, true, true, true]);
  assert.equal(f.decision, 'authorized');
  near(f.kNewToAuthorized1, 117.979, 'authorized=1 read');
  near(f.kNewToInterfaceBound, 156.457, 'interface driver bound');
  near(f.kNewToDisk, 1274.469, 'sda added');
  near(f.kNewToDecisionStamp, 174.68, "the agent's own stamp");
  assert.equal(f.agentLatencyMs, 72.384);
});
