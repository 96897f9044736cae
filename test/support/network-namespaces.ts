import { execFile, spawn, spawnSync } from 'node:child_process';
import { deferCleanup, type CleanupScope } from './cleanup-scope';
import { REPO_ROOT, RunningProcess } from './processes';

/**
 * Two network namespaces joined by a veth pair that is created directly inside them, for tests of
 * what crosses a network: nothing is added to the host's own namespace, the addresses exist only
 * inside the pair, and neither namespace has a default route, so no packet can leave them.
 */
export interface NamespacePair {
  /** The namespace of the host under test (the agent's side). */
  client: string;
  /** The namespace of the other hosts (servers, the collector). */
  server: string;
  /** The client's address, with its prefix length ("10.99.0.1/24"). */
  clientAddress: string;
  /** The server side's addresses, without prefix length. */
  serverAddresses: string[];
}

/** Why namespaces cannot be made here, or null when they can. */
export function namespacePrerequisiteProblem(needs: { nft?: boolean } = {}): string | null {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'creating network namespaces needs root';
  if (spawnSync('ip', ['-V']).status !== 0) return 'ip (Debian package iproute2) is not installed';
  if (needs.nft === true && spawnSync('nft', ['--version']).status !== 0) return 'nft (Debian package nftables) is not installed';
  return null;
}

/**
 * Makes the pair (names unique to this process) and removes it in t.after, even when the test
 * fails; processes still running inside are the caller's to stop first (their hooks run earlier
 * when they were registered later under suiteScope, or explicitly).
 */
export function createNamespacePair(t: CleanupScope, tag: string, subnet = '10.99.0'): NamespacePair {
  const pair: NamespacePair = {
    client: `mm-${process.pid}-${tag}-c`,
    server: `mm-${process.pid}-${tag}-s`,
    clientAddress: `${subnet}.1/24`,
    serverAddresses: [`${subnet}.2`, `${subnet}.3`],
  };
  deferCleanup(t, () => removeNamespacePair(pair));
  const steps: string[][] = [
    ['netns', 'add', pair.client],
    ['netns', 'add', pair.server],
    ['link', 'add', 'veth-c', 'netns', pair.client, 'type', 'veth', 'peer', 'name', 'veth-s', 'netns', pair.server],
    ['-n', pair.client, 'addr', 'add', pair.clientAddress, 'dev', 'veth-c'],
    ['-n', pair.client, 'link', 'set', 'veth-c', 'up'],
    ['-n', pair.client, 'link', 'set', 'lo', 'up'],
    ...pair.serverAddresses.map((address) => ['-n', pair.server, 'addr', 'add', `${address}/24`, 'dev', 'veth-s']),
    ['-n', pair.server, 'link', 'set', 'veth-s', 'up'],
    ['-n', pair.server, 'link', 'set', 'lo', 'up'],
  ];
  for (const step of steps) {
    const result = spawnSync('ip', step, { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`ip ${step.join(' ')} failed: ${result.stderr}`);
  }
  return pair;
}

export function removeNamespacePair(pair: NamespacePair): void {
  // Deleting a namespace removes its veth end, and with it the peer, and every rule inside.
  spawnSync('ip', ['netns', 'del', pair.client]);
  spawnSync('ip', ['netns', 'del', pair.server]);
}

/** Starts a long-running program inside a namespace, with a clean environment (like startNodeProgram). */
export function startInNamespace(namespace: string, name: string, file: string, args: string[], env: Record<string, string | undefined> = {}): RunningProcess {
  // `ip netns exec` execs the program in place, so the process signalled is the program itself.
  const child = spawn('ip', ['netns', 'exec', namespace, file, ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env } as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new RunningProcess(name, child);
}

/** Runs a program to completion inside a namespace. */
export function runInNamespace(
  namespace: string,
  file: string,
  args: string[],
  options: { env?: Record<string, string | undefined>; timeoutMs?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'ip',
      ['netns', 'exec', namespace, file, ...args],
      {
        cwd: REPO_ROOT,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, ...options.env } as NodeJS.ProcessEnv,
        timeout: options.timeoutMs ?? 60_000,
        maxBuffer: 8 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
