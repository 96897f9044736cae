import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Where the agent keeps its identity, spool and caches. --state-dir wins, then
 * MAMORI_AGENT_STATE_DIR, then the system location when running as root, then the user's
 * XDG state folder.
 */
export function resolveStateDir(
  flag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  isRoot: boolean = typeof process.getuid === 'function' && process.getuid() === 0,
  home: string = homedir(),
): string {
  if (flag !== undefined && flag !== '') return flag;
  if (env.MAMORI_AGENT_STATE_DIR) return env.MAMORI_AGENT_STATE_DIR;
  if (isRoot) return '/var/lib/mamori-agent';
  const xdg = env.XDG_STATE_HOME && env.XDG_STATE_HOME.startsWith('/') ? env.XDG_STATE_HOME : join(home, '.local', 'state');
  return join(xdg, 'mamori-agent');
}

/** The files of a state folder (created 0700; key 0600). */
export interface StatePaths {
  root: string;
  identity: string;
  privateKey: string;
  certificate: string;
  caCertificate: string;
  spool: string;
  policyCache: string;
  status: string;
  lock: string;
  sources: string;
}

export function statePaths(root: string): StatePaths {
  return {
    root,
    identity: join(root, 'agent.json'),
    privateKey: join(root, 'agent.key'),
    certificate: join(root, 'agent.crt'),
    caCertificate: join(root, 'ca.crt'),
    spool: join(root, 'spool'),
    policyCache: join(root, 'policy.bin'),
    status: join(root, 'status.json'),
    lock: join(root, 'agent.lock'),
    sources: join(root, 'sources'),
  };
}
