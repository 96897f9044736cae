import * as grpc from '@grpc/grpc-js';
import { UninstallServiceClient } from '../generated/mamori/v1/uninstall';
import { loadCredentials, NotEnrolledError } from '../state/agent-identity';
import { statePaths } from '../state/state-dir';
import { callUnary, isServiceError, statusName } from '../transport/grpc-clients';

const TIMEOUT_MS = 15_000;

/**
 * `mamori-agent uninstall --code CODE`: presents the uninstall code IT issued for this device to the
 * collector (mutual TLS, so the collector knows which agent asks). Exit 0 when the collector accepted
 * it (the agent is then revoked and may be removed), 1 when it refused or could not be reached
 * (the agent must stay), 3 when this host is not enrolled. It removes nothing itself: uninstall.sh
 * removes the files once this succeeded.
 */
export async function uninstallCommand(input: { stateDir: string; code: string }): Promise<number> {
  let credentials;
  try {
    credentials = await loadCredentials(statePaths(input.stateDir));
  } catch (error) {
    if (!(error instanceof NotEnrolledError)) throw error;
    process.stderr.write(`mamori-agent: ${error.message}\n`);
    return 3;
  }
  const client = new UninstallServiceClient(
    credentials.identity.server,
    grpc.credentials.createSsl(Buffer.from(credentials.caPem), Buffer.from(credentials.privateKeyPem), Buffer.from(credentials.certificatePem)),
  );
  try {
    await callUnary(client.uninstall.bind(client), { uninstallCode: input.code }, TIMEOUT_MS);
    process.stdout.write(`mamori-agent: the collector accepted the uninstall code; agent ${credentials.identity.agentId} is revoked and may be removed\n`);
    return 0;
  } catch (error) {
    const reason = isServiceError(error) ? `${statusName(error.code)}: ${error.details}` : (error as Error).message;
    process.stderr.write(`mamori-agent: uninstall refused (${reason})\n`);
    return 1;
  } finally {
    client.close();
  }
}
