import { spawnSync } from 'node:child_process';
import { cpuUsage } from 'node:process';
import { checkInstallIntegrity } from '../../../agent/src/state/install-integrity';
import { packAgentBundle } from '../../integration/deploy/agent-bundle';
import { makeTempDir } from '../../support/temp-dir';
import { figure, type BenchContext, type BenchOutcome, type Benchmark, type Side } from '../benchmark';

const ROUNDS = 5;

/**
 * What the agent's full install check costs (the start check, `mamori-agent status`, and the
 * install watch's periodic re-check): every file of a freshly packed linux-x64 bundle hashed
 * against MANIFEST.sha256, plus the walk for added files. Baseline: `sha256sum -c` of the same
 * manifest (the same bytes hashed by coreutils, no walk). Wall time and the CPU time it took.
 */
export const installCheckBenchmark: Benchmark = {
  name: 'install-check',
  title: 'Full install integrity check of the agent bundle (hash every file against MANIFEST.sha256)',
  async run(context: BenchContext): Promise<BenchOutcome> {
    if (process.platform !== 'linux' || process.arch !== 'x64') return { status: 'skipped', reason: 'packs the linux-x64 bundle; this is not linux-x64' };
    const work = makeTempDir('mamori-bench-install-');
    try {
      context.log('packing the agent bundle');
      const bundle = await packAgentBundle(work.path);
      const sides: Side[] = [
        { id: 'agent', label: 'checkInstallIntegrity (Node)' },
        { id: 'sha256sum', label: 'sha256sum -c MANIFEST.sha256', baseline: true },
      ];
      const wall: Record<string, number[]> = { agent: [], sha256sum: [] };
      const cpu: Record<string, number[]> = { agent: [], sha256sum: [] };
      let files = 0;
      for (let round = 0; round < ROUNDS; round++) {
        const cpuBefore = cpuUsage();
        const started = performance.now();
        const report = await checkInstallIntegrity(bundle.top);
        wall.agent!.push(performance.now() - started);
        const used = cpuUsage(cpuBefore);
        cpu.agent!.push((used.user + used.system) / 1000);
        if (report.state !== 'intact') throw new Error(`the packed bundle is not intact: ${JSON.stringify(report)}`);
        files = report.files;

        const baseStarted = performance.now();
        // `times` prints the shell's and then its children's user and system times: the second line is sha256sum's.
        const sum = spawnSync('sh', ['-c', 'cd "$1" && sha256sum --quiet --strict -c MANIFEST.sha256 && times', 'sh', bundle.top], { encoding: 'utf8' });
        wall.sha256sum!.push(performance.now() - baseStarted);
        if (sum.status !== 0) throw new Error(`sha256sum -c failed: ${sum.stderr}`);
        const children = /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/.exec(sum.stdout.trim().split('\n')[1] ?? '');
        cpu.sha256sum!.push(children === null ? NaN : (Number(children[1]) * 60 + Number(children[2]) + Number(children[3]) * 60 + Number(children[4])) * 1000);
        context.log(`round ${round + 1}: agent ${Math.round(wall.agent!.at(-1)!)} ms wall / ${Math.round(cpu.agent!.at(-1)!)} ms CPU; sha256sum ${Math.round(wall.sha256sum!.at(-1)!)} ms`);
      }
      return {
        status: 'measured',
        sides,
        figures: [figure(sides, 'wall', 'full check, wall time', 'ms', wall), figure(sides, 'cpu', 'full check, CPU time', 'ms', cpu)],
        counts: [],
        parameters: { files, rounds: ROUNDS },
        notes: [
          'The install watch runs this once an hour as a backstop to its file watch; file events only hash the touched files.',
          'Rounds after the first read from the page cache: the figure is hashing, not disk reads.',
        ],
      };
    } finally {
      work.cleanup();
    }
  },
};
