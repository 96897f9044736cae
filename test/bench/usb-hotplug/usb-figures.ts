import { count, figure, type Count, type Figure, type Side } from '../benchmark';
import { cpuPercent, type FootprintSample, type PlugFigures } from './monitor-records';

export const SIDES: Side[] = [
  { id: 'mamori', label: 'mamori' },
  { id: 'usbguard', label: 'USBGuard', baseline: true },
];

/** What one agent's run in the guest gave. */
export interface SideMeasurements {
  plugs: PlugFigures[];
  /** Host ms from QMP device_add to the collector having the attach event / the violation (mamori only). */
  host?: { unregisteredToEvent: number[]; unregisteredToViolation: number[]; registeredToEvent: number[] };
  idleStart: FootprintSample;
  idleEnd: FootprintSample;
  afterPlugs: FootprintSample;
}

const MiB = (kib: number) => kib / 1024;

/** The report's figures and counts, mamori beside USBGuard (either side may be missing). */
export function usbFigures(sides: Partial<Record<'mamori' | 'usbguard', SideMeasurements>>): { figures: Figure[]; counts: Count[] } {
  const plugs = (expect: 'block' | 'allow') => (id: 'mamori' | 'usbguard') => sides[id]?.plugs.filter((p) => p.expect === expect && p.error === null);
  const blocked = plugs('block');
  const allowed = plugs('allow');
  const per = <T>(pick: (id: 'mamori' | 'usbguard') => T[] | undefined) => ({ mamori: pick('mamori'), usbguard: pick('usbguard') });
  const ofPlugs = (select: typeof blocked, f: (p: PlugFigures) => number | null) => per((id) => select(id)?.map(f));
  const flags = (select: typeof blocked, f: (p: PlugFigures) => boolean) => per((id) => select(id)?.map(f));
  const one = (f: (s: SideMeasurements) => number) => per((id) => (sides[id] === undefined ? undefined : [f(sides[id]!)]));
  const host = (f: (h: NonNullable<SideMeasurements['host']>) => number[]) => per((id) => (sides[id]?.host === undefined ? undefined : f(sides[id]!.host!)));

  const figures: Figure[] = [
    figure(SIDES, 'unregistered.kNewToAuthorized0', 'unregistered stick: kernel "new USB device" → authorized=0 observed', 'ms', ofPlugs(blocked, (p) => p.kNewToAuthorized0)),
    figure(SIDES, 'unregistered.kNewToDecisionStamp', "unregistered stick: kernel new device → the agent's block decision (its own stamp)", 'ms', ofPlugs(blocked, (p) => p.kNewToDecisionStamp)),
    figure(SIDES, 'unregistered.kNewToDecisionSeen', 'unregistered stick: kernel new device → decision record seen by the monitor', 'ms', ofPlugs(blocked, (p) => p.kNewToDecisionSeen)),
    figure(SIDES, 'registered.kNewToAuthorized1', 'registered stick: kernel new device → authorized=1 observed', 'ms', ofPlugs(allowed, (p) => p.kNewToAuthorized1)),
    figure(SIDES, 'registered.kNewToDecisionStamp', "registered stick: kernel new device → the agent's allow decision (its own stamp)", 'ms', ofPlugs(allowed, (p) => p.kNewToDecisionStamp)),
    figure(SIDES, 'registered.kNewToDisk', 'registered stick: kernel new device → sdX appears (usable)', 'ms', ofPlugs(allowed, (p) => p.kNewToDisk)),
    figure(SIDES, 'kernel.kNewToUeventAdd', 'control (same kernel): kernel new device → usb_device add uevent', 'ms', ofPlugs((id) => sides[id]?.plugs.filter((p) => p.error === null), (p) => p.kNewToUeventAdd)),
    figure(SIDES, 'idle.rss', 'idle footprint: RSS (agent and its children)', 'MiB', one((s) => MiB(s.idleEnd.rssKiB))),
    figure(SIDES, 'idle.pss', 'idle footprint: PSS (agent and its children)', 'MiB', one((s) => MiB(s.idleEnd.pssKiB))),
    figure(SIDES, 'idle.cpu', 'idle footprint: CPU over the idle window', '% of a core', one((s) => cpuPercent(s.idleStart, s.idleEnd))),
    figure(SIDES, 'plugs.cpu', 'CPU time used during all plugs', 'ms', one((s) => s.afterPlugs.cpuMs - s.idleEnd.cpuMs)),
    figure(SIDES, 'plugs.rss', 'RSS after all plugs', 'MiB', one((s) => MiB(s.afterPlugs.rssKiB))),
    figure(SIDES, 'unregistered.agentLatency', "unregistered stick: the agent's own decision latency (UsbDeviceAttached enforcement.latency_micros)", 'ms', ofPlugs(blocked, (p) => p.agentLatencyMs)),
    figure(SIDES, 'registered.agentLatency', "registered stick: the agent's own decision latency (enforcement.latency_micros)", 'ms', ofPlugs(allowed, (p) => p.agentLatencyMs)),
    figure(SIDES, 'unregistered.hostToEvent', 'unregistered stick: host device_add → attach event in the collector (REST polled every 100 ms)', 'ms', host((h) => h.unregisteredToEvent)),
    figure(SIDES, 'unregistered.hostToViolation', 'unregistered stick: host device_add → usb.unregistered_device in the collector', 'ms', host((h) => h.unregisteredToViolation)),
    figure(SIDES, 'registered.hostToEvent', 'registered stick: host device_add → attach event in the collector', 'ms', host((h) => h.registeredToEvent)),
  ];

  const counts: Count[] = [
    count(SIDES, 'unregistered.bornUnauthorized', 'unregistered stick born unauthorized (first authorized read was 0)', flags(blocked, (p) => p.bornUnauthorized)),
    count(SIDES, 'unregistered.everAuthorized', 'unregistered stick: authorized=1 ever observed', flags(blocked, (p) => p.everAuthorized)),
    count(SIDES, 'unregistered.interfaceBound', 'unregistered stick: an interface driver ever bound', flags(blocked, (p) => p.interfaceBound)),
    count(SIDES, 'unregistered.diskEver', 'unregistered stick: sdX ever appeared', flags(blocked, (p) => p.diskEver)),
    count(SIDES, 'unregistered.decided', 'unregistered stick: a block decision recorded by the agent', flags(blocked, (p) => p.decision === 'block' || p.decision === 'deauthorized')),
    count(SIDES, 'registered.usable', 'registered stick: authorized=1 and sdX appeared', flags(allowed, (p) => p.everAuthorized && p.diskEver)),
    count(SIDES, 'plugs.errors', 'plugs without figures (device or kernel record missing)', per((id) => sides[id]?.plugs.map((p) => p.error !== null))),
  ];
  return { figures, counts };
}
