import { readFile } from 'node:fs/promises';
import { ensurePrivateDir, writeFileAtomic } from './atomic-file';
import { dropPendingRenewal } from './credential-swap';
import type { StatePaths } from './state-dir';

/** What enrollment leaves behind in agent.json. */
export interface AgentIdentity {
  agentId: string;
  server: string;
  enrolledAt: string;
}

export interface AgentCredentials {
  identity: AgentIdentity;
  privateKeyPem: string;
  certificatePem: string;
  caPem: string;
}

/** The agent is not enrolled (or its state folder is incomplete); `status` exits 3 on this. */
export class NotEnrolledError extends Error {}

/**
 * Stores everything enrollment produced. Key, certificate and CA are written first and
 * agent.json last, each atomically, so agent.json's presence means the set is complete.
 */
export async function saveCredentials(paths: StatePaths, credentials: AgentCredentials): Promise<void> {
  await ensurePrivateDir(paths.root);
  // A renewal of an earlier identity that a crash left half-done must not be completed over this one.
  await dropPendingRenewal(paths);
  await writeFileAtomic(paths.privateKey, credentials.privateKeyPem, 0o600);
  await writeFileAtomic(paths.certificate, credentials.certificatePem, 0o600);
  await writeFileAtomic(paths.caCertificate, credentials.caPem, 0o600);
  await writeFileAtomic(paths.identity, JSON.stringify(credentials.identity, null, 2) + '\n', 0o600);
}

export async function loadIdentity(paths: StatePaths): Promise<AgentIdentity> {
  let raw: string;
  try {
    raw = await readFile(paths.identity, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new NotEnrolledError(`not enrolled: ${paths.identity} does not exist (run "mamori-agent enroll" first)`);
    }
    throw error;
  }
  const parsed = JSON.parse(raw) as Partial<AgentIdentity>;
  if (typeof parsed.agentId !== 'string' || typeof parsed.server !== 'string') {
    throw new NotEnrolledError(`not enrolled: ${paths.identity} lacks agentId or server`);
  }
  return { agentId: parsed.agentId, server: parsed.server, enrolledAt: String(parsed.enrolledAt ?? '') };
}

export async function loadCredentials(paths: StatePaths): Promise<AgentCredentials> {
  const identity = await loadIdentity(paths);
  const read = async (path: string) => {
    try {
      return await readFile(path, 'utf8');
    } catch (error) {
      throw new NotEnrolledError(`enrollment incomplete: cannot read ${path}: ${(error as Error).message}`);
    }
  };
  return {
    identity,
    privateKeyPem: await read(paths.privateKey),
    certificatePem: await read(paths.certificate),
    caPem: await read(paths.caCertificate),
  };
}
