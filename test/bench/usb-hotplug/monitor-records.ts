/**
 * Pure functions over what the in-guest monitor (test/realism/rig/usb-monitor.py) writes and over
 * the agents' decision records. Times in the records are the guest's CLOCK_MONOTONIC in seconds;
 * derived figures are milliseconds. The method (kernel "new ... USB device" printk as the zero,
 * kmsg calibrated to CLOCK_MONOTONIC, sysfs authorized polled ~1 ms) is the USBGuard baseline
 * recipe's from the project's shared realism notes.
 */

/** One plug as the monitor recorded it between `arm` and `disarm`. */
export interface MonitorRecord {
  plug: number;
  expect: 'block' | 'allow';
  serial: string;
  armedG: number;
  /** kernel printk clock − CLOCK_MONOTONIC (s), and half the time the marker write took. */
  cal: { off: number; err: number } | null;
  cal2?: { off: number; err: number } | null;
  /** Wall clock − CLOCK_MONOTONIC (s), to place an agent's own wall-clock stamps. */
  rtOff: number;
  /** [printk seconds, message] */
  kmsg: Array<[number, string]>;
  /** [t, action, name, subsystem, devtype, driver, seqnum] */
  ue: Array<[number, string, string, string | null, string | null, string | null, string | null]>;
  dev: string | null;
  ueAddG: number | null;
  /** Every change of the sysfs authorized value: [t, value] */
  authSeen: Array<[number, string]>;
  polls: number;
  maxPollGapMs: number;
  /** Decision-log lines: [t seen, line] */
  decision: Array<[number, string]>;
  /** Block devices of the plugged device: [t, devname, devtype] */
  sd: Array<[number, string | null, string | null]>;
  goneG: number | null;
  authErr?: string;
}

export type MonitorLine =
  | { ev: 'ready'; g: number }
  | { ev: 'armed'; plug: number; g: number }
  | { ev: 'dev'; g: number; name: string }
  | { ev: 'auth'; g: number; v: string }
  | { ev: 'sd'; g: number; name: string; type: string }
  | { ev: 'decision'; g: number }
  | { ev: 'gone'; g: number }
  | { ev: 'error'; msg: string }
  | { ev: 'record'; rec: MonitorRecord | null };

const EVENTS = new Set(['ready', 'armed', 'dev', 'auth', 'sd', 'decision', 'gone', 'error', 'record']);

/**
 * The monitor's complete lines (a trailing partial line is left for the next read). A line that
 * is not one of the monitor's messages is an error naming its number and content.
 */
export function parseMonitorLines(text: string, firstLineNumber = 1): { lines: MonitorLine[]; consumed: number } {
  const end = text.lastIndexOf('\n') + 1;
  const lines: MonitorLine[] = [];
  text
    .slice(0, end)
    .split('\n')
    .forEach((raw, i) => {
      if (raw.trim() === '') return;
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw);
      } catch {
        throw new Error(`monitor output line ${firstLineNumber + i} is not JSON: ${raw.slice(0, 200)}`);
      }
      const ev = (parsed as { ev?: unknown }).ev;
      if (typeof ev !== 'string' || !EVENTS.has(ev)) throw new Error(`monitor output line ${firstLineNumber + i} has no known "ev": ${raw.slice(0, 200)}`);
      lines.push(parsed as MonitorLine);
    });
  return { lines, consumed: end };
}

/** What an agent decided about one device, as its own record says. */
export interface DecisionRecord {
  /** The monitor's stamp of the moment it saw the line (guest CLOCK_MONOTONIC, s). */
  seenG: number;
  /** The agent's own stamp, converted from its wall clock to CLOCK_MONOTONIC (s); ms resolution. */
  stampG: number;
  /** block / allow (usbguard's target), or mamori's enforcement action. */
  decision: string;
  /** mamori's enforcement.latency_micros, from its observation of the device to the decision. */
  latencyMicros: number | null;
}

/**
 * usbguard's FileAudit line for a policy decision on the device with `serial`:
 * `[<unix s>.<ms>] (A) ... target.new='block' device.rule='block id 46f4:0001 serial "X" ...'`.
 */
export function usbguardDecision(lines: ReadonlyArray<[number, string]>, serial: string, rtOff: number): DecisionRecord | null {
  for (const [seen, line] of lines) {
    const target = /target\.new='(\w+)'/.exec(line);
    const stamp = /^\[(\d+\.\d+)\]/.exec(line);
    if (target === null || stamp === null || !line.includes(`serial "${serial}"`)) continue;
    return { seenG: seen, stampG: Number(stamp[1]) - rtOff, decision: target[1]!, latencyMicros: null };
  }
  return null;
}

/**
 * mamori-agent's JSON log line `"msg":"USB enforcement decision"` for the device with `serial`
 * (the first one: the attach decision; a storage decision may follow).
 */
export function mamoriDecision(lines: ReadonlyArray<[number, string]>, serial: string, rtOff: number): DecisionRecord | null {
  for (const [seen, line] of lines) {
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue; // not a log line of the agent (a stack trace, a partial line)
    }
    if (entry.msg !== 'USB enforcement decision' || entry.serial !== serial) continue;
    const wall = Date.parse(String(entry.time));
    if (!Number.isFinite(wall)) continue;
    const latency = Number(entry.latencyMicros);
    return {
      seenG: seen,
      stampG: wall / 1000 - rtOff,
      decision: String(entry.action ?? '').replace('USB_ENFORCEMENT_ACTION_', '').toLowerCase(),
      latencyMicros: Number.isFinite(latency) ? latency : null,
    };
  }
  return null;
}

export type AgentKind = 'mamori' | 'usbguard';

/** Per-plug figures (ms from the kernel's "new ... USB device" printk, inside the guest). */
export interface PlugFigures {
  plug: number;
  expect: 'block' | 'allow';
  serial: string;
  /** Why a plug gave no figures (no device, no kernel record); null when it did. */
  error: string | null;
  speed: string | null;
  kNewToUeventAdd: number | null;
  kNewToAuthorized0: number | null;
  kNewToAuthorized1: number | null;
  kNewToInterfaceBound: number | null;
  kNewToDisk: number | null;
  kNewToDecisionSeen: number | null;
  kNewToDecisionStamp: number | null;
  agentLatencyMs: number | null;
  decision: string | null;
  bornUnauthorized: boolean;
  everAuthorized: boolean;
  interfaceBound: boolean;
  diskEver: boolean;
  maxPollGapMs: number;
  calibrationErrorMs: number | null;
}

const NEW_DEVICE = /new (\S+) USB device number \d+ using/;

export function derivePlug(record: MonitorRecord, agent: AgentKind): PlugFigures {
  const newDevice = record.kmsg.find(([, m]) => NEW_DEVICE.test(m));
  const kNew = newDevice !== undefined && record.cal !== null ? newDevice[0] - record.cal.off : null;
  const ms = (t: number | null | undefined): number | null => (kNew === null || t === null || t === undefined ? null : (t - kNew) * 1000);
  const firstAuth = (v: string) => record.authSeen.find(([, value]) => value === v)?.[0] ?? null;
  const bind = record.ue.find((u) => u[1] === 'bind' && u[3] === 'usb' && u[4] === 'usb_interface');
  const disk = record.sd.find((s) => s[2] === 'disk');
  const decision = agent === 'usbguard' ? usbguardDecision(record.decision, record.serial, record.rtOff) : mamoriDecision(record.decision, record.serial, record.rtOff);
  const error =
    record.dev === null ? 'the device never appeared (no usb_device add uevent)' : newDevice === undefined ? 'no "new ... USB device" kernel record' : record.cal === null ? 'the kmsg calibration failed' : null;
  return {
    plug: record.plug,
    expect: record.expect,
    serial: record.serial,
    error,
    speed: newDevice === undefined ? null : NEW_DEVICE.exec(newDevice[1])![1]!,
    kNewToUeventAdd: ms(record.ueAddG),
    kNewToAuthorized0: ms(firstAuth('0')),
    kNewToAuthorized1: ms(firstAuth('1')),
    kNewToInterfaceBound: ms(bind?.[0]),
    kNewToDisk: ms(disk?.[0]),
    kNewToDecisionSeen: ms(decision?.seenG),
    kNewToDecisionStamp: ms(decision?.stampG),
    agentLatencyMs: decision?.latencyMicros === null || decision === null ? null : decision.latencyMicros / 1000,
    decision: decision?.decision ?? null,
    bornUnauthorized: record.authSeen[0]?.[1] === '0',
    everAuthorized: record.authSeen.some(([, v]) => v === '1'),
    interfaceBound: bind !== undefined,
    diskEver: disk !== undefined,
    maxPollGapMs: record.maxPollGapMs,
    calibrationErrorMs: record.cal === null ? null : record.cal.err * 1000,
  };
}

/** One process's figures from /proc, as the footprint probe prints them. */
export interface ProcSample {
  pid: number;
  comm: string;
  ticks: number;
  rssKiB: number;
  rssAnonKiB: number;
  pssKiB: number;
  threads: number;
}

export interface FootprintSample {
  uptimeS: number;
  clockTicks: number;
  procs: ProcSample[];
  rssKiB: number;
  pssKiB: number;
  rssAnonKiB: number;
  cpuMs: number;
}

/**
 * The shell probe run in the guest for a process (its pid in PIDFILE) and its children:
 * uptime, CLK_TCK, then one line per process (utime+stime ticks, threads, PSS, VmRSS, RssAnon).
 */
export function footprintProbe(pidFile: string): string {
  return [
    `P=$(cat ${pidFile}); [ -n "$P" ] && kill -0 "$P" || { echo "no process in ${pidFile}" >&2; exit 1; }`,
    `echo "uptime $(cut -d' ' -f1 /proc/uptime) clk_tck $(getconf CLK_TCK)"`,
    `for p in $P $(cat /proc/$P/task/*/children 2>/dev/null); do`,
    `  echo "pid $p comm $(cat /proc/$p/comm) ticks $(cut -d' ' -f14,15 /proc/$p/stat) threads $(ls /proc/$p/task | wc -l) pss_kB $(awk '/^Pss:/{print $2}' /proc/$p/smaps_rollup) $(grep -E '^(VmRSS|RssAnon):' /proc/$p/status | tr -s ' \\t' ' ' | tr '\\n' ' ')"`,
    'done',
  ].join('\n');
}

/** Parses footprintProbe's output; output without the uptime line or any process is an error that shows it. */
export function parseFootprint(text: string): FootprintSample {
  let uptimeS: number | null = null;
  let clockTicks = 100;
  const procs: ProcSample[] = [];
  for (const line of text.split('\n')) {
    let m = /^uptime (\S+) clk_tck (\d+)/.exec(line);
    if (m) {
      uptimeS = Number(m[1]);
      clockTicks = Number(m[2]);
      continue;
    }
    m = /^pid (\d+) comm (\S+) ticks (\d+) (\d+) threads (\d+) pss_kB (\d+) VmRSS: (\d+) kB RssAnon: (\d+) kB/.exec(line);
    if (m) procs.push({ pid: +m[1]!, comm: m[2]!, ticks: +m[3]! + +m[4]!, threads: +m[5]!, pssKiB: +m[6]!, rssKiB: +m[7]!, rssAnonKiB: +m[8]! });
  }
  if (uptimeS === null || procs.length === 0) throw new Error(`footprint probe output has no uptime line or no process line:\n${text}`);
  const sum = (f: (p: ProcSample) => number) => procs.reduce((a, p) => a + f(p), 0);
  return { uptimeS, clockTicks, procs, rssKiB: sum((p) => p.rssKiB), pssKiB: sum((p) => p.pssKiB), rssAnonKiB: sum((p) => p.rssAnonKiB), cpuMs: (sum((p) => p.ticks) * 1000) / clockTicks };
}

/** CPU used between two samples of the same processes, in % of one core. */
export function cpuPercent(before: FootprintSample, after: FootprintSample): number {
  const windowMs = (after.uptimeS - before.uptimeS) * 1000;
  if (!(windowMs > 0)) throw new Error(`footprint samples are not in order (uptime ${before.uptimeS} s then ${after.uptimeS} s)`);
  return ((after.cpuMs - before.cpuMs) / windowMs) * 100;
}
