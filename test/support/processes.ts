import { ChildProcess, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';

/** The repository root, from dist/test/support (compiled) or test/support (source). */
export const REPO_ROOT = resolve(__dirname, __dirname.includes(`${join('dist', 'test')}`) ? '../../..' : '../..');
export const SERVER_BIN = join(REPO_ROOT, 'dist/server/src/main.js');
export const AGENT_BIN = join(REPO_ROOT, 'dist/agent/src/main.js');

/**
 * A real child process (mamori-server or mamori-agent) whose output is kept for assertions
 * and for the failure message. `stop()` ends it (SIGTERM, then SIGKILL after a grace period).
 */
/** Every program a test started and has not stopped: their output explains a timeout. */
export const runningProcesses = new Set<RunningProcess>();

/**
 * The last resort when a test file ends without its cleanup having run (the runner stops a file
 * that outlives --test-timeout with SIGTERM, to that process only): its programs are killed,
 * not left running for the next tests to trip over.
 */
function killLeftovers(): void {
  for (const program of runningProcesses) if (!program.exited) program.child.kill('SIGKILL');
}
let leftoverGuard = false;
function guardLeftovers(): void {
  if (leftoverGuard) return;
  leftoverGuard = true;
  process.once('exit', killLeftovers);
  process.once('SIGTERM', () => {
    killLeftovers();
    process.exit(143);
  });
}

/** The last lines of every program still registered, for a failure message. */
export function describeRunningProcesses(lines = 25): string {
  return [...runningProcesses].map((p) => `--- ${p.name} (last ${lines} lines) ---\n${p.tail(lines)}`).join('\n');
}

export class RunningProcess {
  readonly output: string[] = [];
  private exitPromise: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly name: string, readonly child: ChildProcess) {
    // A line can arrive split across two chunks: keep the unfinished rest per stream.
    const collector = () => {
      let rest = '';
      return (chunk: Buffer) => {
        const lines = (rest + chunk.toString('utf8')).split('\n');
        rest = lines.pop() ?? '';
        for (const line of lines) if (line.length > 0) this.output.push(line);
      };
    };
    child.stdout?.on('data', collector());
    child.stderr?.on('data', collector());
    this.exitPromise = new Promise((resolveExit) => {
      child.once('exit', (code, signal) => resolveExit({ code, signal }));
    });
    runningProcesses.add(this);
    guardLeftovers();
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  waitForExit(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.exitPromise;
  }

  /** Resolves with the first output line matching `pattern`, or fails after `timeoutMs`. */
  async waitForLine(pattern: RegExp, timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let seen = 0;
    for (;;) {
      for (; seen < this.output.length; seen++) {
        if (pattern.test(this.output[seen])) return this.output[seen];
      }
      if (this.exited) {
        throw new Error(`${this.name} exited before printing ${pattern}:\n${this.tail()}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`${this.name} did not print ${pattern} within ${timeoutMs} ms:\n${this.tail()}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  tail(lines = 40): string {
    return this.output.slice(-lines).join('\n');
  }

  /** The crash the tests simulate: no chance to flush or clean up. */
  async kill9(): Promise<void> {
    if (this.exited) return;
    this.child.kill('SIGKILL');
    await this.exitPromise;
  }

  async stop(graceMs = 5_000): Promise<void> {
    runningProcesses.delete(this);
    if (this.exited) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exitPromise;
    clearTimeout(timer);
  }
}

/** Starts `node <bin> ...args` with a clean, explicit environment. */
export function startNodeProgram(
  name: string,
  bin: string,
  args: string[],
  env: Record<string, string | undefined>,
): RunningProcess {
  const child = spawn(process.execPath, [bin, ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env } as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new RunningProcess(name, child);
}

/** Runs a CLI command to completion and returns its exit code and output. */
export async function runNodeProgram(
  bin: string,
  args: string[],
  env: Record<string, string | undefined>,
  timeoutMs = 60_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [bin, ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env } as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  clearTimeout(timer);
  return { code, stdout, stderr };
}
