import { ConfigError, loadAgentConfig } from '../config/agent-config';
import { AgentDaemon } from '../daemon/agent-daemon';
import { platformFactsFor } from '../facts/host-facts';
import { createLogger } from '../logging/logger';
import { createUsbSource } from '../sources/usb/usb-backend-selector';
import { loadCredentials, NotEnrolledError } from '../state/agent-identity';
import { completeInterruptedRenewal } from '../state/credential-swap';
import { acquireProcessLock, AlreadyRunningError } from '../state/process-lock';
import { statePaths } from '../state/state-dir';

/**
 * `mamori-agent run`: wires the daemon from configuration and runs it until SIGTERM/SIGINT.
 * Exit codes: 0 after an orderly stop, 1 when it cannot start, 2 for bad configuration,
 * 3 when not enrolled, 75 (UPGRADE_EXIT_CODE) after an upgrade was installed or a version on
 * trial gave up: the service manager starts it again through the boot script.
 */
export async function runCommand(input: { stateDir: string }): Promise<number> {
  let config;
  try {
    config = loadAgentConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`mamori-agent: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  const paths = statePaths(input.stateDir);
  let credentials;
  try {
    credentials = await loadCredentials(paths);
  } catch (error) {
    if (error instanceof NotEnrolledError) {
      logger.error(error.message);
      return 3;
    }
    throw error;
  }
  let lock;
  try {
    lock = await acquireProcessLock(paths.lock);
  } catch (error) {
    if (error instanceof AlreadyRunningError) {
      logger.error(error.message);
      return 1;
    }
    throw error;
  }
  process.once('exit', () => lock.release());
  // Only under the lock: a renewal in flight in another process would look interrupted.
  const recovered = await completeInterruptedRenewal(paths);
  if (recovered !== null) {
    logger.warn(recovered);
    credentials = await loadCredentials(paths);
  }

  const daemon = new AgentDaemon({
    config,
    paths,
    credentials,
    logger,
    platformFacts: platformFactsFor(),
    usbSource: createUsbSource(config, paths.sources, logger),
    requestExit: (code) => {
      exitCode = code;
      stopRequested(`exit ${code} requested`);
    },
  });

  let stopRequested: (signal: string) => void = () => undefined;
  const stopped = new Promise<string>((resolve) => (stopRequested = resolve));
  // An installed upgrade asks for a restart: stop in order (the spool is durable), exit with its code.
  let exitCode = 0;
  process.once('SIGTERM', () => stopRequested('SIGTERM'));
  process.once('SIGINT', () => stopRequested('SIGINT'));

  try {
    await daemon.start();
  } catch (error) {
    logger.error('mamori-agent could not start', { error: error as Error });
    lock.release();
    return 1;
  }
  const signal = await stopped;
  logger.info('mamori-agent stopping', { signal });
  await daemon.stop();
  lock.release();
  return exitCode;
}
