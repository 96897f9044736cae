import { execFile } from 'node:child_process';

export interface CommandResult {
  stdout: string;
  stderr: string;
}

/** Why a command did not give a usable answer. */
export class CommandError extends Error {
  constructor(
    message: string,
    readonly reason: 'not-found' | 'timeout' | 'failed',
    /** The exit code of a command that ran and failed; null when it did not run to an exit. */
    readonly exitCode: number | null = null,
    /** What the failed command wrote to stderr (some tools, like blkid, say "nothing found" by exit code with an empty stderr). */
    readonly stderr = '',
  ) {
    super(message);
  }
}

/**
 * The seam for every external command (after Fleet's executor): tests substitute captured
 * output. Contract: resolves with the output of a command that exited 0; rejects with a
 * CommandError when the program is missing, runs longer than `timeoutMs` (it is killed), or
 * exits non-zero. Never runs through a shell.
 */
export interface CommandRunner {
  run(file: string, args: readonly string[], options: { timeoutMs: number }): Promise<CommandResult>;
}

export const processCommandRunner: CommandRunner = {
  run(file, args, { timeoutMs }) {
    return new Promise((resolve, reject) => {
      execFile(file, [...args], { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 4 * 1024 * 1024, windowsHide: true }, (error, stdout, stderr) => {
        if (error === null) {
          resolve({ stdout, stderr });
          return;
        }
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') reject(new CommandError(`${file} is not installed`, 'not-found'));
        else if (error.killed) reject(new CommandError(`${file} did not finish within ${timeoutMs} ms`, 'timeout'));
        else {
          const exitCode = typeof error.code === 'number' ? error.code : null;
          reject(new CommandError(`${file} failed: ${stderr.trim() || error.message}`, 'failed', exitCode, stderr));
        }
      });
    });
  },
};
