import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CollectorUnderTest } from '../../e2e/support/cluster';
import { eventually } from '../../e2e/support/rest-client';
import { suiteScope } from '../../support/cleanup-scope';
import { freePort } from '../../support/ports';
import { AGENT_BIN, REPO_ROOT } from '../../support/processes';
import { makeTempDir } from '../../support/temp-dir';
import { GUEST_COLLECTOR_ADDRESS, QemuGuest } from '../../realism/support/guest';
import type { BenchContext, BenchOutcome, Benchmark } from '../benchmark';
import { derivePlug, footprintProbe, parseFootprint, parseMonitorLines, type AgentKind, type MonitorLine, type MonitorRecord } from './monitor-records';
import { SIDES, usbFigures, type SideMeasurements } from './usb-figures';

/**
 * USB hot-plug: mamori-agent against USBGuard in the same QEMU rig as test/realism (a Debian
 * kernel under TCG, qemu-xhci, usb-storage sticks hot-plugged over QMP), each alone in its own
 * boot of the guest. An independent monitor in the guest (test/realism/rig/usb-monitor.py) stamps
 * the kernel's view of every plug; see monitor-records.ts for the figures.
 *
 * Env: MAMORI_BENCH_PLUGS (plugs per stick kind and agent, default 10), MAMORI_BENCH_IDLE_SECONDS
 * (idle window for RSS/CPU, default 30), MAMORI_BENCH_USB_SIDES (default "usbguard,mamori").
 */

const SCRIPTS = join(REPO_ROOT, 'test/realism/rig');
const ISSUED = 'MAMORI-BENCH-ISSUED';
const RUN = '/run/bench';
const MAMORI_STATE = '/run/mamori-agent';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function positiveInteger(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a whole number of 0 or more, got "${raw}"`);
  return value;
}

/**
 * Installs Debian's usbguard when it is missing and we are root, with a policy-rc.d that denies
 * starting services, so that the daemon never runs on this host (it would block its USB devices).
 * Returns null when usbguard is there, or why the USBGuard side cannot run.
 */
function ensureUsbguard(log: (m: string) => void): string | null {
  const present = () => spawnSync('sh', ['-c', 'command -v usbguard-daemon && command -v usbguard']).status === 0;
  if (present()) return null;
  const command = 'apt-get install -y --no-install-recommends usbguard';
  if (process.getuid?.() !== 0) return `usbguard is not installed; as root run: ${command} (with a policy-rc.d that exits 101, so the daemon does not start on this host)`;
  log(`installing usbguard (${command}), with a policy-rc.d guard`);
  const script = [
    'set -e; created=""',
    "if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; created=1; fi",
    `DEBIAN_FRONTEND=noninteractive ${command} || { apt-get update -q && DEBIAN_FRONTEND=noninteractive ${command}; }; rc=$?`,
    '[ -n "$created" ] && rm -f /usr/sbin/policy-rc.d; exit $rc',
  ].join('\n');
  const result = spawnSync('sh', ['-c', script], { encoding: 'utf8' });
  if (result.status !== 0 || !present()) return `installing usbguard failed (${result.status}): ${result.stderr.slice(-500)}`;
  if (spawnSync('pgrep', ['-x', 'usbguard-daemon']).status === 0) log('WARNING: a usbguard-daemon runs on this host; stop it (systemctl disable --now usbguard)');
  return null;
}

/** The monitor's output file on the rig's 9p folder, read incrementally from the host. */
class MonitorChannel {
  readonly lines: MonitorLine[] = [];
  private offset = 0;
  private lineNumber = 1;
  constructor(readonly path: string) {}

  poll(): void {
    if (!existsSync(this.path)) return;
    const text = readFileSync(this.path).subarray(this.offset).toString('utf8');
    const { lines, consumed } = parseMonitorLines(text, this.lineNumber);
    this.offset += Buffer.byteLength(text.slice(0, consumed));
    this.lineNumber += text.slice(0, consumed).split('\n').length - 1;
    this.lines.push(...lines);
  }

  async wait<T extends MonitorLine>(what: string, match: (l: MonitorLine) => l is T, from: number, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.poll();
      const hit = this.lines.slice(from).find(match);
      if (hit !== undefined) return hit;
      if (Date.now() > deadline) throw new Error(`the monitor did not report ${what} within ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  /** Like wait, but resolves with null on timeout. */
  async maybe<T extends MonitorLine>(match: (l: MonitorLine) => l is T, from: number, timeoutMs: number): Promise<T | null> {
    return this.wait('', match, from, timeoutMs).catch(() => null);
  }
}

const is =
  <E extends MonitorLine['ev']>(ev: E, extra: (l: Extract<MonitorLine, { ev: E }>) => boolean = () => true) =>
  (l: MonitorLine): l is Extract<MonitorLine, { ev: E }> =>
    l.ev === ev && extra(l as Extract<MonitorLine, { ev: E }>);

interface SideRun {
  measurements: SideMeasurements;
  records: MonitorRecord[];
  guestInfo: string;
  bootMs: number;
}

interface RunOptions {
  outputDir: string;
  plugs: number;
  idleSeconds: number;
  rigDir: string;
  log: (m: string) => void;
}

async function runSide(kind: AgentKind, o: RunOptions): Promise<SideRun> {
  const scope = suiteScope();
  try {
    const collector =
      kind === 'mamori' ? await CollectorUnderTest.start(scope, 'sqlite', { MAMORI_SERVER_NAMES: `localhost,127.0.0.1,${GUEST_COLLECTOR_ADDRESS.split(':')[0]}` }) : null;
    const guest = new QemuGuest({ rigDir: o.rigDir, repoDir: REPO_ROOT, scriptsDir: SCRIPTS, collectorGrpcPort: collector?.grpcPort ?? (await freePort()) });
    // A fresh command channel and QMP socket for this boot (the rig folder is shared by both sides).
    rmSync(guest.stateDir, { recursive: true, force: true });
    rmSync(join(o.rigDir, 'qmp.sock'), { force: true });
    scope.after(() => guest.stop());
    const bootMs = await guest.boot();
    o.log(`${kind}: guest ready after ${bootMs} ms`);
    await guest.run(`mkdir -p ${RUN}; echo 1 > /sys/module/usb_storage/parameters/delay_use 2>/dev/null; true`);

    let pidFile: string;
    let decisionLog: string;
    let decisionMatch: string;
    let agentId = '';
    if (kind === 'usbguard') {
      o.log(await guest.run(`${SCRIPTS}/usbguard-start.sh ${RUN} ${ISSUED}`, 120_000));
      pidFile = `${RUN}/usbguard.pid`;
      decisionLog = `${RUN}/usbguard-audit.log`;
      decisionMatch = 'target\\.new=';
    } else {
      const c = collector!;
      await c.rest.expect(200, 'PUT', '/api/v1/policy/usb', { unregisteredDeviceMode: 'block', registeredDeviceMode: 'allow' });
      await c.rest.expect(201, 'POST', '/api/v1/usb-register', { vendorId: '46f4', productId: '0001', serial: ISSUED, label: 'bench issued stick', holder: 'bench', department: 'qa' });
      const version = String((await c.rest.expect<{ version: string }>(200, 'GET', '/api/v1/policy')).version);
      const { token } = await c.createEnrollmentToken({ label: 'bench' });
      const env = `MAMORI_AGENT_STATE_DIR=${MAMORI_STATE} MAMORI_AGENT_LOG_LEVEL=info`;
      await guest.run(`${env} node ${AGENT_BIN} enroll --server ${GUEST_COLLECTOR_ADDRESS} --token ${token}`, 180_000);
      await guest.run(`${env} setsid node ${AGENT_BIN} run > ${RUN}/agent.log 2>&1 < /dev/null & echo $! > /run/mamori-agent.pid`);
      pidFile = '/run/mamori-agent.pid';
      decisionLog = `${RUN}/agent.log`;
      decisionMatch = '"msg":"USB enforcement decision"';
      await eventually('the agent running in the guest, blocking at birth, on the bench policy', async () => {
        const out = await guest.run(
          `grep -c '"msg":"mamori-agent running"' ${RUN}/agent.log; echo ---; cat /sys/bus/usb/devices/usb*/authorized_default | tr -d '\\n'; echo; echo ---; cat ${MAMORI_STATE}/status.json 2>/dev/null || echo '{}'`,
        );
        const [running, defaults, status] = out.split('---\n').map((part) => part.trim());
        const policyVersion = (JSON.parse(status || '{}') as { policyVersion?: string }).policyVersion;
        return Number(running) > 0 && defaults === '00' && String(policyVersion) === version ? true : undefined;
      }, 240_000).catch(async (e: Error) => {
        throw new Error(`${e.message}\nagent log:\n${await guest.run(`tail -30 ${RUN}/agent.log`).catch(() => '')}`);
      });
      agentId = (JSON.parse(await guest.run(`cat ${MAMORI_STATE}/agent.json`)) as { agentId: string }).agentId;
      o.log(`mamori: agent ${agentId} running, root hubs born-unauthorized`);
    }

    // The monitor starts after the agent: it is idle until armed, and it must not slow the agent's start.
    const monitorOut = join(guest.stateDir, 'monitor.jsonl');
    const monitorScript = join(o.rigDir, 'usb-monitor.py');
    copyFileSync(join(SCRIPTS, 'usb-monitor.py'), monitorScript);
    await guest.run(
      `OUT=${monitorOut} CTL=${RUN}/monitor.ctl DECISION_LOG=${decisionLog} DECISION_MATCH='${decisionMatch}' setsid chrt -f 1 python3 ${monitorScript} > ${RUN}/monitor.err 2>&1 < /dev/null & echo $! > ${RUN}/monitor.pid`,
    );
    const monitor = new MonitorChannel(monitorOut);
    await monitor.wait('ready', is('ready'), 0, 60_000);
    const guestInfo = await guest.run(
      `uname -r; cat /sys/devices/system/clocksource/clocksource0/current_clocksource; echo "usb_storage.delay_use=$(cat /sys/module/usb_storage/parameters/delay_use)"; dpkg-query -W usbguard 2>/dev/null; node --version`,
    );

    const probe = async () => parseFootprint(await guest.run(footprintProbe(pidFile)));
    // Let the start's tail (first heartbeat, first upload) pass before the idle window opens.
    await sleep(10_000);
    const idleStart = await probe();
    o.log(`${kind}: idle window of ${o.idleSeconds} s`);
    await sleep(o.idleSeconds * 1000);
    const idleEnd = await probe();

    const events = async (kindName: string) =>
      (await collector!.rest.expect<{ items: Array<{ eventId: string; payload: Record<string, any> }> }>(200, 'GET', `/api/v1/events?agentId=${agentId}&kind=${kindName}&limit=200`)).items;
    const host: NonNullable<SideMeasurements['host']> = { unregisteredToEvent: [], unregisteredToViolation: [], registeredToEvent: [] };
    const records: MonitorRecord[] = [];
    const plan = [
      ...Array.from({ length: o.plugs }, (_, i) => ({ expect: 'block' as const, serial: `MAMORI-BENCH-U${String(i + 1).padStart(3, '0')}` })),
      ...Array.from({ length: o.plugs }, () => ({ expect: 'allow' as const, serial: ISSUED })),
    ];
    for (const [index, step] of plan.entries()) {
      const plug = index + 1;
      const id = `bench${plug}`;
      const from = monitor.lines.length;
      const seenBefore = collector === null ? new Set<string>() : new Set((await events('usb_device_attached')).filter((e) => e.payload.device?.serial === step.serial).map((e) => e.eventId));
      await guest.run(`echo "arm ${plug} ${step.expect} ${step.serial}" > ${RUN}/monitor.ctl`);
      await monitor.wait(`armed ${plug}`, is('armed', (l) => l.plug === plug), from, 30_000);
      const pluggedAt = await guest.plug(id, join(o.rigDir, 'vfat.img'), step.serial);
      const collectorTimes = (async () => {
        if (collector === null) return;
        await eventually(`the attach event of ${step.serial}`, async () => ((await events('usb_device_attached')).some((e) => e.payload.device?.serial === step.serial && !seenBefore.has(e.eventId)) ? true : undefined), 90_000);
        (step.expect === 'block' ? host.unregisteredToEvent : host.registeredToEvent).push(Date.now() - pluggedAt);
        if (step.expect === 'allow') return;
        await eventually(`usb.unregistered_device for ${step.serial}`, async () => {
          const violations = (await collector.rest.expect<{ items: Array<{ rule: string; device: { serial: string } }> }>(200, 'GET', `/api/v1/violations?agentId=${agentId}&limit=200`)).items;
          return violations.some((v) => v.rule === 'usb.unregistered_device' && v.device.serial === step.serial) ? true : undefined;
        }, 90_000);
        host.unregisteredToViolation.push(Date.now() - pluggedAt);
      })();
      const dev = await monitor.wait(`the new device of plug ${plug}`, is('dev'), from, 60_000);
      const devSeenAt = Date.now();
      if (step.expect === 'block') {
        // Long enough for usb-storage's 1 s settle delay and a scan: a disk that slipped through would show.
        await monitor.maybe(is('decision'), from, 30_000);
        await sleep(Math.max(0, 3_000 - (Date.now() - devSeenAt)));
      } else {
        await monitor.maybe(is('auth', (l) => l.v === '1'), from, 60_000);
        await monitor.maybe(is('sd', (l) => l.type === 'disk'), from, 60_000);
        await monitor.maybe(is('decision'), from, 30_000);
        await sleep(1_000);
      }
      await collectorTimes;
      await guest.unplug(id);
      await monitor.maybe(is('gone'), from, 20_000);
      await guest.run(`echo disarm > ${RUN}/monitor.ctl`);
      const record = (await monitor.wait(`the record of plug ${plug}`, is('record'), from, 30_000)).rec;
      if (record !== null) records.push(record);
      const f = record === null ? null : derivePlug(record, kind);
      o.log(
        `${kind} plug ${plug}/${plan.length} (${step.expect}, dev ${dev.name}): ${f === null ? 'no record' : f.error ?? `authorized0 ${f.kNewToAuthorized0?.toFixed(1)} ms, authorized1 ${f.kNewToAuthorized1?.toFixed(1) ?? '-'} ms, decision ${f.decision} at ${f.kNewToDecisionStamp?.toFixed(1)} ms, sdX ${f.kNewToDisk?.toFixed(1) ?? 'never'}`}`,
      );
      await sleep(500);
    }
    const afterPlugs = await probe();
    await guest.stop();
    // The monitor's own output, kept beside the report (the rig folder goes when the run ends).
    copyFileSync(monitorOut, join(o.outputDir, `usb-hotplug-monitor-${kind}.jsonl`));
    const measurements: SideMeasurements = { plugs: records.map((r) => derivePlug(r, kind)), idleStart, idleEnd, afterPlugs, ...(collector === null ? {} : { host }) };
    return { measurements, records, guestInfo, bootMs };
  } finally {
    await scope.cleanup();
  }
}

export const usbHotplugBenchmark: Benchmark = {
  name: 'usb-hotplug',
  title: 'USB stick hot-plug on a real kernel (QEMU TCG): mamori-agent against USBGuard',
  async run(context: BenchContext): Promise<BenchOutcome> {
    const missing = QemuGuest.prerequisites();
    if (missing !== null) return { status: 'skipped', reason: missing };
    const plugs = positiveInteger('MAMORI_BENCH_PLUGS', 10);
    const idleSeconds = positiveInteger('MAMORI_BENCH_IDLE_SECONDS', 30);
    const wanted = (process.env.MAMORI_BENCH_USB_SIDES ?? 'usbguard,mamori').split(',').map((s) => s.trim()).filter((s) => s !== '');
    for (const s of wanted) if (s !== 'usbguard' && s !== 'mamori') throw new Error(`MAMORI_BENCH_USB_SIDES names "${s}"; only usbguard and mamori exist`);
    if (!existsSync(AGENT_BIN)) return { status: 'skipped', reason: `${AGENT_BIN} is missing (run npm run build)` };
    const notes: string[] = [];
    const usbguardMissing = wanted.includes('usbguard') ? ensureUsbguard(context.log) : null;
    if (usbguardMissing !== null) {
      notes.push(`USBGuard side not measured: ${usbguardMissing}`);
      context.log(`USBGuard side not measured: ${usbguardMissing}`);
    }
    const sides = wanted.filter((s): s is AgentKind => s === 'mamori' || (s === 'usbguard' && usbguardMissing === null));
    if (sides.length === 0) return { status: 'skipped', reason: notes.join('; ') || 'no side to measure' };

    const rig = makeTempDir('mamori-bench-usb-');
    try {
      const probe = new QemuGuest({ rigDir: rig.path, repoDir: REPO_ROOT, scriptsDir: SCRIPTS, collectorGrpcPort: 0 });
      const cannotBuild = probe.build();
      if (cannotBuild !== null) return { status: 'skipped', reason: cannotBuild };
      mkdirSync(context.outputDir, { recursive: true });
      const runs: Partial<Record<AgentKind, SideRun>> = {};
      for (const side of sides) runs[side] = await runSide(side, { outputDir: context.outputDir, plugs, idleSeconds, rigDir: rig.path, log: context.log });

      const rawName = 'usb-hotplug-raw.json';
      writeFileSync(join(context.outputDir, rawName), `${JSON.stringify(runs, null, 1)}\n`);
      const { figures, counts } = usbFigures({ mamori: runs.mamori?.measurements, usbguard: runs.usbguard?.measurements });
      const qemu = spawnSync('qemu-system-x86_64', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0] ?? '';
      const info = (runs.mamori ?? runs.usbguard)!.guestInfo.trim().split('\n');
      notes.push(
        `Raw monitor output per agent: bench-output/usb-hotplug-monitor-<agent>.jsonl.`,
        'Guest: the host\'s Debian kernel and userland under QEMU TCG (software emulation, 2 vCPUs, 1 GiB) on the machine above, shared with other work; compare the two agents only within one run.',
        'Unregistered sticks get a new serial per plug (no rule matches them); the registered stick keeps one serial: USBGuard allows it by a rule on 46f4:0001 and that serial (after generate-policy), mamori by a register entry; mamori runs with unregistered=block, registered=allow.',
        'Zero is the kernel\'s "new ... USB device" printk (kmsg, calibrated to CLOCK_MONOTONIC at every plug); a device born unauthorized reads 0 from its first read, so "authorized=0 observed" is the time until the device exists in sysfs plus the monitor\'s reaction, the same for any agent that blocks at birth.',
        "Decision stamps are the agents' own wall-clock records at ms resolution: USBGuard's FileAudit `Policy.Device.Update target.new=` line, mamori's `USB enforcement decision` log line (written after the sysfs write).",
        'Footprint: VmRSS, RssAnon and PSS (smaps_rollup) of the agent and its child processes (mamori: node and its `udevadm monitor`), CPU as utime+stime over the idle window.',
        `Boot to ready: ${sides.map((s) => `${s} ${runs[s]!.bootMs} ms`).join(', ')}. ${qemu}.`,
      );
      return {
        status: 'measured',
        sides: SIDES,
        figures,
        counts,
        parameters: { plugsPerKind: plugs, idleSeconds, guestKernel: info[0] ?? '', clocksource: info[1] ?? '', usbStorage: info[2] ?? '', usbguard: (info.find((l) => l.startsWith('usbguard')) ?? 'not measured').replace('\t', ' '), guestNode: info.find((l) => l.startsWith('v')) ?? '' },
        notes,
        raw: rawName,
      };
    } finally {
      rig.cleanup();
    }
  },
};
