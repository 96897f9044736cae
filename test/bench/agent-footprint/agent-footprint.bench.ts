import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AgentUnderTest, CollectorUnderTest, attachLine, detachLine } from '../../e2e/support/cluster';
import { suiteScope } from '../../support/cleanup-scope';
import { AGENT_BIN, REPO_ROOT, RunningProcess, SERVER_BIN, startNodeProgram } from '../../support/processes';
import { count, figure, type BenchContext, type BenchOutcome, type Benchmark, type Side } from '../benchmark';
import { cpuPercent, readTreeFootprint, type TreeFootprint } from './process-footprint';

/**
 * The footprint of a real mamori-agent process (issue 8, figure 3): enrolled against a real
 * collector on loopback (SQLite), the fake USB backend following a script, disk encryption not
 * read (backend `unsupported`: the same for every machine, no lsblk/cryptsetup children), the
 * heartbeat interval the collector asks for. Measured from /proc for the agent and every child
 * it has: RSS (sum of VmRSS), PSS (smaps_rollup), peak RSS (VmHWM) and CPU (utime+stime and the
 * reaped children's cutime+cstime), while idle and during a burst of USB attach/detach lines
 * appended to the script at once (the fake backend reads them as fast as it can).
 *
 * Baseline in the same run and the same windows: `node -e "setInterval(()=>{},1e9)"`, Node's own
 * floor, so the ratio says how much the agent adds to the runtime it needs anyway.
 * Compared with osquery's watchdog limits (200 MB, 10% CPU) and our goals (60 MB, below 1% idle).
 *
 * Env: MAMORI_BENCH_IDLE_SECONDS (default 60), MAMORI_BENCH_FOOTPRINT_BURST (USB lines, default
 * 10000), MAMORI_BENCH_FOOTPRINT_CPU_PROF=1 (write the agent's --cpu-prof into bench-output/),
 * MAMORI_BENCH_FOOTPRINT_USB_BACKEND (fake, the default; linux or unsupported measure the idle
 * agent without the fake backend's 100 ms look at its script, and leave the burst out: only the
 * fake backend can be fed a burst).
 */

const SIDES: Side[] = [
  { id: 'agent', label: 'mamori-agent (and its children)' },
  { id: 'node', label: 'bare node (setInterval)', baseline: true },
];
const GOAL_IDLE_RSS_MIB = 60;
const GOAL_IDLE_CPU_PERCENT = 1;
const WATCHDOG_RSS_MIB = 200;
const WATCHDOG_CPU_PERCENT = 10;
const SETTLE_SECONDS = 10;
const SLICE_SECONDS = 10;

function positiveInteger(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a whole number above 0, got "${raw}"`);
  return value;
}

const mib = (kib: number) => kib / 1024;

interface WindowSamples {
  rss: number[];
  pss: number[];
  /** CPU % of one core per slice of the window. */
  cpuSlices: number[];
  /** CPU % of one core over the whole window. */
  cpuWhole: number;
  maxRss: number;
}

/** Samples both processes side by side every `everyMs` until `until` says stop; CPU per `sliceSeconds`. */
async function sampleWindow(pids: Record<string, number>, everyMs: number, sliceSeconds: number, until: (elapsedMs: number) => Promise<boolean>): Promise<Record<string, WindowSamples>> {
  const out: Record<string, WindowSamples> = {};
  const first: Record<string, TreeFootprint> = {};
  const sliceStart: Record<string, TreeFootprint> = {};
  for (const [side, pid] of Object.entries(pids)) {
    first[side] = sliceStart[side] = readTreeFootprint(pid);
    out[side] = { rss: [], pss: [], cpuSlices: [], cpuWhole: NaN, maxRss: 0 };
  }
  const started = performance.now();
  let sliceAt = started;
  for (;;) {
    await sleep(everyMs);
    const now = performance.now();
    const done = await until(now - started);
    const sliceDone = (now - sliceAt) / 1000 >= sliceSeconds;
    for (const [side, pid] of Object.entries(pids)) {
      const read = readTreeFootprint(pid);
      const s = out[side]!;
      s.rss.push(mib(read.rssKiB));
      if (read.pssKiB !== null) s.pss.push(mib(read.pssKiB));
      s.maxRss = Math.max(s.maxRss, mib(read.rssKiB));
      if (sliceDone || done) {
        // A last slice shorter than half a slice says little about a rate: left out.
        if ((now - sliceAt) / 1000 >= sliceSeconds / 2) s.cpuSlices.push(cpuPercent(sliceStart[side]!, read, (now - sliceAt) / 1000));
        sliceStart[side] = read;
      }
      if (done) s.cpuWhole = cpuPercent(first[side]!, read, (now - started) / 1000);
    }
    if (sliceDone) sliceAt = now;
    if (done) return out;
  }
}

function startNodeFloor(): ChildProcess {
  return spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e9)'], { stdio: 'ignore', cwd: REPO_ROOT });
}

/** attach/detach pairs across eight ports, a different stick each time. */
function burstLines(lines: number): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < lines; i++) {
    const busPath = `3-${(i % 8) + 1}`;
    out.push(attachLine({ vendorId: '0781', productId: '5567', serial: `FOOTPRINT${String(i).padStart(6, '0')}`, interfaceClasses: [8], busPath }));
    if (out.length < lines) out.push(detachLine(busPath));
  }
  return out;
}

export const agentFootprintBenchmark: Benchmark = {
  name: 'agent-footprint',
  title: 'Agent footprint: RSS and CPU of a real mamori-agent idle and during a USB event burst, against bare Node',
  async run({ outputDir, log }: BenchContext): Promise<BenchOutcome> {
    if (process.platform !== 'linux') return { status: 'skipped', reason: 'reads RSS, PSS and CPU from /proc (Linux only)' };
    for (const bin of [AGENT_BIN, SERVER_BIN]) if (!existsSync(bin)) return { status: 'skipped', reason: `${bin} is not built (npm run build)` };
    const idleSeconds = positiveInteger('MAMORI_BENCH_IDLE_SECONDS', 60);
    const burst = positiveInteger('MAMORI_BENCH_FOOTPRINT_BURST', 10_000);
    const profile = process.env.MAMORI_BENCH_FOOTPRINT_CPU_PROF === '1';
    const usbBackend = process.env.MAMORI_BENCH_FOOTPRINT_USB_BACKEND?.trim() || 'fake';
    if (!['fake', 'linux', 'unsupported'].includes(usbBackend)) throw new Error(`MAMORI_BENCH_FOOTPRINT_USB_BACKEND must be fake, linux or unsupported, got "${usbBackend}"`);
    const withBurst = usbBackend === 'fake';
    const scope = suiteScope();
    let floor: ChildProcess | null = null;
    let agent: RunningProcess | null = null;
    try {
      const collector = await CollectorUnderTest.start(scope, 'sqlite');
      if (collector === null) return { status: 'skipped', reason: scope.skipped ?? 'no database for the collector' };
      const enrolled = await AgentUnderTest.enroll(scope, collector);
      const profileDir = join(outputDir, 'agent-footprint-cpuprof');
      if (profile) mkdirSync(profileDir, { recursive: true });
      // Not enrolled.start(): its env is the e2e one (heartbeat every second); here the collector's interval holds.
      const agentEnv = {
        MAMORI_AGENT_USB_BACKEND: usbBackend,
        ...(usbBackend === 'fake' ? { MAMORI_AGENT_FAKE_USB_SCRIPT: enrolled.scriptPath } : {}),
        MAMORI_AGENT_ENCRYPTION_BACKEND: 'unsupported',
        MAMORI_AGENT_EGRESS_BACKEND: 'unsupported',
        MAMORI_AGENT_LOG_LEVEL: 'info',
      };
      const agentArgs = ['run', '--state-dir', enrolled.stateDir];
      // --cpu-prof is refused in NODE_OPTIONS: it goes on the command line, as startNodeProgram would run it otherwise.
      agent = profile
        ? new RunningProcess(
            'mamori-agent',
            spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, AGENT_BIN, ...agentArgs], {
              cwd: REPO_ROOT,
              env: { PATH: process.env.PATH, HOME: process.env.HOME, ...agentEnv },
              stdio: ['ignore', 'pipe', 'pipe'],
            }),
          )
        : startNodeProgram('mamori-agent', AGENT_BIN, agentArgs, agentEnv);
      await agent.waitForLine(/"msg":"mamori-agent running"/, 60_000);
      floor = startNodeFloor();
      const pids = { agent: agent.child.pid!, node: floor.pid! };
      log(`agent pid ${pids.agent}, node floor pid ${pids.node}; settling ${SETTLE_SECONDS} s (first heartbeat and upload)`);
      await sleep(SETTLE_SECONDS * 1000);

      log(`idle window: ${idleSeconds} s`);
      const idle = await sampleWindow(pids, 1_000, SLICE_SECONDS, async (elapsed) => elapsed >= idleSeconds * 1000);
      const idlePeak = { agent: mib(readTreeFootprint(pids.agent).rootPeakRssKiB), node: mib(readTreeFootprint(pids.node).rootPeakRssKiB) };
      log(`idle: agent RSS ${idle.agent!.rss.at(-1)!.toFixed(1)} MiB, CPU ${idle.agent!.cpuWhole.toFixed(2)}%; node RSS ${idle.node!.rss.at(-1)!.toFixed(1)} MiB, CPU ${idle.node!.cpuWhole.toFixed(2)}%`);

      const afterSeconds = Math.min(30, idleSeconds);
      const nothing = (): Record<string, WindowSamples> => ({ agent: { rss: [], pss: [], cpuSlices: [], cpuWhole: NaN, maxRss: 0 }, node: { rss: [], pss: [], cpuSlices: [], cpuWhole: NaN, maxRss: 0 } });
      let during = nothing();
      let after = nothing();
      let burstSeconds = NaN;
      let burstPeak = { agent: NaN, node: NaN };
      if (withBurst) {
        const stored = async () =>
          (await collector.countEvents({ agentId: enrolled.agentId, kind: 'usb_device_attached' })) + (await collector.countEvents({ agentId: enrolled.agentId, kind: 'usb_device_detached' }));
        const storedBefore = await stored();
        log(`burst: ${burst} USB lines appended to the fake backend's script`);
        const burstStarted = performance.now();
        appendFileSync(enrolled.scriptPath, burstLines(burst).map((l) => `${l}\n`).join(''));
        let lastCheck = 0;
        let storedCount = 0;
        const deadlineMs = 20 * 60_000;
        during = await sampleWindow(pids, 250, 5, async (elapsed) => {
          if (agent!.exited) throw new Error(`the agent exited during the burst:\n${agent!.tail()}`);
          if (elapsed > deadlineMs) throw new Error(`only ${storedCount} of ${burst} USB events stored after ${deadlineMs / 60_000} minutes`);
          if (elapsed - lastCheck < 500) return false;
          lastCheck = elapsed;
          storedCount = (await stored()) - storedBefore;
          return storedCount >= burst;
        });
        burstSeconds = (performance.now() - burstStarted) / 1000;
        burstPeak = { agent: mib(readTreeFootprint(pids.agent).rootPeakRssKiB), node: mib(readTreeFootprint(pids.node).rootPeakRssKiB) };
        log(`burst: ${storedCount} events stored by the collector in ${burstSeconds.toFixed(1)} s; agent CPU ${during.agent!.cpuWhole.toFixed(1)}%, peak RSS ${burstPeak.agent.toFixed(1)} MiB`);

        log(`after the burst: ${afterSeconds} s idle`);
        after = await sampleWindow(pids, 1_000, SLICE_SECONDS, async (elapsed) => elapsed >= afterSeconds * 1000);
      }

      const bySide = <T>(pick: (s: WindowSamples) => T) => ({ agent: pick(idle.agent!), node: pick(idle.node!) });
      const figures = [
        figure(SIDES, 'idle-rss', `idle RSS (VmRSS of the process tree, sampled every second for ${idleSeconds} s)`, 'MiB', bySide((s) => s.rss)),
        figure(SIDES, 'idle-pss', 'idle PSS (smaps_rollup, shared pages split among their users)', 'MiB', bySide((s) => s.pss)),
        figure(SIDES, 'idle-cpu', `idle CPU, % of one core per ${SLICE_SECONDS} s slice`, '%', bySide((s) => s.cpuSlices)),
        figure(SIDES, 'idle-cpu-window', `idle CPU over the whole ${idleSeconds} s window, % of one core`, '%', bySide((s) => [s.cpuWhole])),
        figure(SIDES, 'idle-peak-rss', 'peak RSS (VmHWM) from start to the end of the idle window', 'MiB', { agent: [idlePeak.agent], node: [idlePeak.node] }),
        figure(SIDES, 'burst-seconds', `time from appending ${burst} USB lines until the collector stored all ${burst} events`, 's', { agent: [burstSeconds] }),
        figure(SIDES, 'burst-cpu', 'CPU during the burst, % of one core per 5 s slice', '%', { agent: during.agent!.cpuSlices, node: during.node!.cpuSlices }),
        figure(SIDES, 'burst-cpu-window', 'CPU over the whole burst, % of one core', '%', { agent: [during.agent!.cpuWhole], node: [during.node!.cpuWhole] }),
        figure(SIDES, 'burst-rss', 'RSS during the burst (process tree, every 250 ms)', 'MiB', { agent: during.agent!.rss, node: during.node!.rss }),
        figure(SIDES, 'burst-peak-rss', 'peak RSS (VmHWM) at the end of the burst', 'MiB', { agent: [burstPeak.agent], node: [burstPeak.node] }),
        figure(SIDES, 'after-rss', `RSS in the ${afterSeconds} s after the burst`, 'MiB', { agent: after.agent!.rss, node: after.node!.rss }),
        figure(SIDES, 'after-cpu', `CPU in the ${afterSeconds} s after the burst, % of one core per ${SLICE_SECONDS} s slice`, '%', { agent: after.agent!.cpuSlices, node: after.node!.cpuSlices }),
      ];
      const within = (values: number[], limit: number) => values.map((v) => v < limit);
      const counts = [
        count(SIDES, 'idle-rss-goal', `idle RSS samples below our goal (${GOAL_IDLE_RSS_MIB} MiB)`, bySide((s) => within(s.rss, GOAL_IDLE_RSS_MIB))),
        count(SIDES, 'idle-cpu-goal', `idle CPU slices below our goal (${GOAL_IDLE_CPU_PERCENT}% of a core)`, bySide((s) => within(s.cpuSlices, GOAL_IDLE_CPU_PERCENT))),
        count(SIDES, 'watchdog-rss', `RSS samples (idle and burst) below osquery's watchdog limit (${WATCHDOG_RSS_MIB} MB)`, {
          agent: within([...idle.agent!.rss, ...during.agent!.rss], WATCHDOG_RSS_MIB),
          node: within([...idle.node!.rss, ...during.node!.rss], WATCHDOG_RSS_MIB),
        }),
        count(SIDES, 'watchdog-cpu', `CPU slices (idle and burst) below osquery's watchdog limit (${WATCHDOG_CPU_PERCENT}% of a core)`, {
          agent: within([...idle.agent!.cpuSlices, ...during.agent!.cpuSlices], WATCHDOG_CPU_PERCENT),
          node: within([...idle.node!.cpuSlices, ...during.node!.cpuSlices], WATCHDOG_CPU_PERCENT),
        }),
      ];
      return {
        status: 'measured',
        sides: SIDES,
        figures,
        counts,
        parameters: { idleSeconds, settleSeconds: SETTLE_SECONDS, burstLines: burst, database: 'sqlite', usbBackend, encryptionBackend: 'unsupported', heartbeat: "the collector's interval", cpuProfile: profile ? 'on' : 'off' },
        notes: [
          'The agent is a real process enrolled against a real collector on loopback (mutual TLS); the collector runs on the same machine and is not counted.',
          'RSS and CPU include every child the agent started (live ones from /proc, reaped ones through cutime/cstime); the fake and unsupported USB backends and encryption `unsupported` start none; the linux USB backend keeps `udevadm monitor` running.',
          "osquery's watchdog limit is 200 MB of memory; it is compared with MiB here, which is the stricter reading.",
          withBurst
            ? `The burst: ${burst} lines (attach/detach pairs of different sticks across eight ports) appended at once; the time runs until the collector's REST count shows them all stored.`
            : `USB backend ${usbBackend}: no burst (only the fake backend can be fed one).`,
          ...(profile ? [`CPU profile of the agent (written when it stopped): bench-output/agent-footprint-cpuprof/.`] : []),
        ],
      };
    } finally {
      floor?.kill('SIGKILL');
      await agent?.stop(10_000);
      await scope.cleanup();
    }
  },
};
