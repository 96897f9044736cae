import { readFile } from 'node:fs/promises';
import { Policy } from '../generated/mamori/v1/policy';
import { writeFileAtomic } from './atomic-file';

/**
 * The newest policy the agent received, as binary protobuf in policy.bin, so the agent starts
 * and enforces offline. Returns null when there is none yet; a file that does not decode is
 * treated as absent (the collector sends the policy again) and reported through `onProblem`.
 */
export async function loadCachedPolicy(path: string, onProblem: (message: string) => void = () => undefined): Promise<Policy | null> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    onProblem(`cannot read the cached policy ${path}: ${(error as Error).message}`);
    return null;
  }
  try {
    return Policy.decode(data);
  } catch (error) {
    onProblem(`the cached policy ${path} does not decode: ${(error as Error).message}`);
    return null;
  }
}

export async function storeCachedPolicy(path: string, policy: Policy): Promise<void> {
  await writeFileAtomic(path, Policy.encode(policy).finish(), 0o600);
}
