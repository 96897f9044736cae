import { spawnSync } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspectSpool } from '../../../agent/src/outbox/outbox';
import { AGENT_BIN, startNodeProgram, type RunningProcess } from '../../support/processes';
import { makeTempDir } from '../../support/temp-dir';
import { figure, type BenchContext, type BenchOutcome, type Benchmark, type Side } from '../benchmark';

/**
 * A burst of small files copied onto a watched USB volume: the real mamori-agent process (fake USB
 * bus reporting a temporary folder as the stick's mounted volume, no collector, so every event
 * stays in the outbox) against `cp` of the same files plus `sha256sum` over them, in the same run.
 * Measured for the agent: CPU (from /proc/<pid>/stat, averaged from the start of the copy until the
 * last event is in the outbox), peak RSS (VmHWM) and the time until all events are in the outbox.
 *
 * Env: MAMORI_BENCH_TRANSFER_FILES (default 10000), MAMORI_BENCH_TRANSFER_ROUNDS (default 2),
 * MAMORI_BENCH_TRANSFER_CPU_PERCENT (the agent's limit, default: the agent's default, 25).
 */

const SIDES: Side[] = [
  { id: 'agent', label: 'mamori-agent (watch, settle, SHA-256 + inspection, outbox)' },
  { id: 'coreutils', label: 'cp + sha256sum of the same files', baseline: true },
];
const CLOCK_TICKS = 100; // USER_HZ on Linux

function positiveInteger(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a whole number above 0, got "${raw}"`);
  return value;
}

/** Files as people carry them: small memos and CSV rows, 1-12 KiB, some with digits that look like numbers. */
function writeSourceFiles(dir: string, count: number): number {
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const sub = join(dir, `d${Math.floor(i / 500)}`);
    if (i % 500 === 0) mkdirSync(sub);
    const lines = [`id,name,amount,note`];
    const rows = 8 + ((i * 37) % 300);
    for (let r = 0; r < rows; r++) lines.push(`${i}-${r},顧客${(i + r) % 997},${(i * 31 + r * 17) % 100_000},打ち合わせ記録 ${r}`);
    const body = lines.join('\n') + '\n';
    writeFileSync(join(sub, `${String(i).padStart(6, '0')}.csv`), body);
    bytes += Buffer.byteLength(body);
  }
  return bytes;
}

/** A state folder as enrollment leaves it, pointing at a collector that is not there (events stay in the outbox). */
async function writeEnrolledState(stateDir: string): Promise<void> {
  // Loaded here, not with the runner: the X.509 stack needs the reflect polyfill first.
  await import('reflect-metadata');
  const x509 = await import('@peculiar/x509');
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const agentId = '6a1f0c2e-7b3d-4c5e-8f9a-0b1c2d3e4f50';
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: `CN=${agentId}`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys,
    signingAlgorithm: alg,
  });
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  writeFileSync(join(stateDir, 'agent.key'), x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY'), { mode: 0o600 });
  writeFileSync(join(stateDir, 'agent.crt'), cert.toString('pem'));
  writeFileSync(join(stateDir, 'ca.crt'), cert.toString('pem'));
  // Port 9 (discard) on loopback: nothing answers, the uploader keeps everything in the spool.
  writeFileSync(join(stateDir, 'agent.json'), JSON.stringify({ agentId, server: '127.0.0.1:9', enrolledAt: new Date().toISOString() }));
}

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  // After "(comm) ": state is field 3, utime 14 and stime 15 (1-based), i.e. indexes 11 and 12 here.
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

function peakRssMiB(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : NaN;
}

/** Runs a shell line and returns its wall seconds and the CPU seconds of its children (bash `times`). */
function shellSeconds(line: string): { wall: number; cpu: number } {
  const started = performance.now();
  const result = spawnSync('bash', ['-c', `${line}\ntimes`], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const wall = (performance.now() - started) / 1000;
  if (result.status !== 0) throw new Error(`${line} failed: ${result.stderr}`);
  const times = result.stdout.trim().split('\n').slice(-1)[0]!; // children: "0m1.234s 0m0.567s"
  const [user, sys] = times.split(/\s+/).map((t) => {
    const m = /(\d+)m([\d.]+)s/.exec(t);
    return m ? Number(m[1]) * 60 + Number(m[2]) : 0;
  });
  return { wall, cpu: (user ?? 0) + (sys ?? 0) };
}

async function agentRound(source: string, files: number, cpuPercent: string | undefined, log: (m: string) => void) {
  const temp = makeTempDir('mamori-bench-transfer-');
  let agent: RunningProcess | null = null;
  try {
    const stateDir = join(temp.path, 'state');
    await writeEnrolledState(stateDir);
    const volume = join(temp.path, 'STICK');
    mkdirSync(volume);
    const script = join(temp.path, 'usb.jsonl');
    const stick = { vendorId: '0781', productId: '5567', serial: 'BENCH0001', interfaceClasses: [8], busPath: '1-2' };
    writeFileSync(
      script,
      [
        JSON.stringify({ op: 'attach', device: stick }),
        JSON.stringify({ op: 'storage', busPath: '1-2', blockDevices: [{ deviceNode: '/dev/sdb1', filesystemType: 'vfat', mountPoints: [volume] }] }),
      ].join('\n') + '\n',
    );
    agent = startNodeProgram('mamori-agent', AGENT_BIN, ['run', '--state-dir', stateDir], {
      MAMORI_AGENT_USB_BACKEND: 'fake',
      MAMORI_AGENT_FAKE_USB_SCRIPT: script,
      MAMORI_AGENT_ENCRYPTION_BACKEND: 'unsupported',
      MAMORI_AGENT_EGRESS_BACKEND: 'unsupported',
      MAMORI_AGENT_LOG_LEVEL: 'info',
      MAMORI_AGENT_SPOOL_MAX_BYTES: String(1024 * 1024 * 1024),
      ...(cpuPercent === undefined ? {} : { MAMORI_AGENT_TRANSFER_CPU_PERCENT: cpuPercent }),
    });
    await agent.waitForLine(/"msg":"watching for file transfers"/, 60_000);
    const pid = agent.child.pid!;
    const spool = join(stateDir, 'spool');
    await new Promise((r) => setTimeout(r, 1_000));
    const before = (await inspectSpool(spool)).events;
    const cpuBefore = cpuSeconds(pid);
    const started = performance.now();
    const copy = spawnSync('cp', ['-r', `${source}/.`, volume]);
    if (copy.status !== 0) throw new Error(`cp failed: ${copy.stderr}`);
    const copiedAfter = (performance.now() - started) / 1000;
    let events = 0;
    const deadline = Date.now() + 30 * 60_000;
    for (;;) {
      events = (await inspectSpool(spool)).events - before;
      if (events >= files) break;
      if (agent.exited) throw new Error(`the agent exited:\n${agent.tail()}`);
      if (Date.now() > deadline) throw new Error(`only ${events} of ${files} events after 30 minutes`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const seconds = (performance.now() - started) / 1000;
    const cpu = cpuSeconds(pid) - cpuBefore;
    const rss = peakRssMiB(pid);
    log(`agent: ${events} events in ${seconds.toFixed(1)} s (copy took ${copiedAfter.toFixed(1)} s), CPU ${cpu.toFixed(1)} s = ${((cpu / seconds) * 100).toFixed(0)}% of a core, peak RSS ${rss.toFixed(0)} MiB`);
    return { seconds, cpu, cpuPercent: (cpu / seconds) * 100, rss, events };
  } finally {
    await agent?.stop(10_000);
    temp.cleanup();
  }
}

export const transferBurstBenchmark: Benchmark = {
  name: 'transfer-burst',
  title: 'Transfer watcher: agent CPU, peak RSS and time to the outbox for a burst of files copied onto a stick',
  async run({ log }: BenchContext): Promise<BenchOutcome> {
    if (process.platform !== 'linux') return { status: 'skipped', reason: 'reads CPU and RSS from /proc (Linux only)' };
    for (const tool of ['cp', 'sha256sum', 'bash']) {
      if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return { status: 'skipped', reason: `${tool} is not installed` };
    }
    if (!existsSync(AGENT_BIN)) return { status: 'skipped', reason: `${AGENT_BIN} is not built (npm run build)` };
    const files = positiveInteger('MAMORI_BENCH_TRANSFER_FILES', 10_000);
    const rounds = positiveInteger('MAMORI_BENCH_TRANSFER_ROUNDS', 2);
    const cpuLimit = process.env.MAMORI_BENCH_TRANSFER_CPU_PERCENT?.trim() || undefined;
    const temp = makeTempDir('mamori-bench-transfer-source-');
    try {
      const source = join(temp.path, 'source');
      mkdirSync(source);
      const bytes = writeSourceFiles(source, files);
      log(`${files} files, ${(bytes / 1024 / 1024).toFixed(1)} MiB`);
      const samples = { seconds: { agent: [] as number[], coreutils: [] as number[] }, cpu: { agent: [] as number[], coreutils: [] as number[] }, cpuPercent: [] as number[], rss: [] as number[] };
      for (let round = 0; round < rounds; round++) {
        const target = join(temp.path, `copy-${round}`);
        mkdirSync(target);
        const base = shellSeconds(`cp -r '${source}/.' '${target}' && find '${target}' -type f -print0 | xargs -0 sha256sum > /dev/null`);
        log(`coreutils: cp + sha256sum in ${base.wall.toFixed(1)} s, CPU ${base.cpu.toFixed(1)} s`);
        samples.seconds.coreutils.push(base.wall);
        samples.cpu.coreutils.push(base.cpu);
        spawnSync('rm', ['-rf', target]);
        const run = await agentRound(source, files, cpuLimit, log);
        samples.seconds.agent.push(run.seconds);
        samples.cpu.agent.push(run.cpu);
        samples.cpuPercent.push(run.cpuPercent);
        samples.rss.push(run.rss);
      }
      return {
        status: 'measured',
        sides: SIDES,
        figures: [
          figure(SIDES, 'time-to-outbox', `time from the start of the copy until all ${files} events are in the outbox (baseline: cp + sha256sum)`, 's', samples.seconds),
          figure(SIDES, 'cpu-seconds', 'CPU time (agent process; baseline: cp and sha256sum)', 's', samples.cpu),
          figure(SIDES, 'agent-cpu-percent', 'agent CPU while the burst is processed, % of one core', '%', { agent: samples.cpuPercent }),
          figure(SIDES, 'agent-peak-rss', 'agent peak RSS (VmHWM, whole run)', 'MiB', { agent: samples.rss }),
        ],
        counts: [],
        parameters: { files, bytes, rounds, cpuLimitPercent: cpuLimit ?? '25 (agent default)', concurrency: '2 (agent default)', settleMs: '1000 (agent default)' },
        notes: [
          'The agent is a real process; the fake USB bus reports a temporary folder as the stick\'s mounted volume, and no collector answers, so events stay in the outbox where they are counted.',
          'The agent\'s time includes the copy itself (cp runs while it watches) and its settle window (1 s after a file stops changing).',
          'The CPU limit is the agent\'s own (MAMORI_AGENT_TRANSFER_CPU_PERCENT): the agent-cpu-percent figure shows whether it held.',
        ],
      };
    } finally {
      temp.cleanup();
    }
  },
};
