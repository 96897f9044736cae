import { CaPinMismatchError } from '../transport/ca-probe';
import { EnrollmentRefusedError, enrollAgent } from '../transport/enrollment';
import { TokenFormatError } from '../transport/enrollment-token';
import { collectHostFacts, platformFactsFor } from '../facts/host-facts';
import type { Logger } from '../logging/logger';
import { statePaths } from '../state/state-dir';

/** `mamori-agent enroll`: returns the process exit code (0 enrolled, 1 refused or failed, 2 bad input). */
export async function enrollCommand(input: { server: string; token: string; zone?: string; stateDir: string; logger: Logger }): Promise<number> {
  const paths = statePaths(input.stateDir);
  try {
    const { host } = await collectHostFacts(platformFactsFor());
    const { identity, requiredZone } = await enrollAgent({ server: input.server, token: input.token, zone: input.zone, paths, host, logger: input.logger });
    input.logger.info('enrolled', { agentId: identity.agentId, server: identity.server, stateDir: paths.root, requiredZone });
    const zoneNote = requiredZone === undefined ? '' : `; required in zone ${requiredZone}`;
    process.stdout.write(`mamori-agent: enrolled as ${identity.agentId} with ${identity.server}${zoneNote}; state in ${paths.root}\n`);
    return 0;
  } catch (error) {
    if (error instanceof TokenFormatError) {
      process.stderr.write(`mamori-agent: ${error.message}\n`);
      return 2;
    }
    if (error instanceof CaPinMismatchError || error instanceof EnrollmentRefusedError) {
      process.stderr.write(`mamori-agent: ${error.message}\n`);
      return 1;
    }
    process.stderr.write(`mamori-agent: enrollment failed: ${(error as Error).message}\n`);
    return 1;
  }
}
