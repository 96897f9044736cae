#!/usr/bin/env node
// mamori-agent: command line and wiring only; the work happens in commands/ and below.
import { parseArgs } from 'node:util';
import { runCommand } from './commands/run.command';
import { statusCommand } from './commands/status.command';
import { createLogger } from './logging/logger';
import { resolveStateDir } from './state/state-dir';

// grpc-js hands an IP-literal target (`--server 10.0.0.5:50051`) to TLS as the SNI server name,
// and Node warns about it (DEP0123) on every start. Nothing is wrong: no SNI is sent for an IP,
// and the certificate is still checked against the address. Every other warning is printed.
process.removeAllListeners('warning');
process.on('warning', (warning: Error & { code?: string }) => {
  if (warning.code !== 'DEP0123') process.stderr.write(`${warning.name}: ${warning.message}\n`);
});

const USAGE = `Usage: mamori-agent <command> [options]

Commands:
  enroll --server HOST:PORT --token TOKEN [--zone ZONE] [--state-dir DIR]
                      enroll this host with a mamori collector; --zone: the network
                      zone (defined at the collector) this device must be in
  run [--state-dir DIR]
                      run the agent daemon (SIGTERM/SIGINT stop it in an orderly way)
  uninstall --code CODE [--state-dir DIR]
                      present the uninstall code IT issued for this device; exit 0
                      when the collector accepts it (the agent is revoked; uninstall.sh
                      then removes the files), 1 when it refuses
  status [--state-dir DIR] [--json]
                      show enrollment, connection, spool depth, drops, policy version
                      disk-encryption posture, and the places watched for file
                      transfers (and those not watched, with the reason)
                      (exit 0 when enrolled, 3 when not)

State folder: --state-dir, else MAMORI_AGENT_STATE_DIR, else /var/lib/mamori-agent (root)
or $XDG_STATE_HOME/mamori-agent (~/.local/state/mamori-agent).
Environment: MAMORI_AGENT_USB_BACKEND (fake|unsupported), MAMORI_AGENT_FAKE_USB_SCRIPT,
MAMORI_AGENT_HEARTBEAT_SECONDS, MAMORI_AGENT_SPOOL_MAX_BYTES, MAMORI_AGENT_BATCH_SIZE,
MAMORI_AGENT_BATCH_MAX_BYTES (default 1048576),
MAMORI_AGENT_ENCRYPTION_BACKEND (linux|win32|darwin|fake|unsupported, default this platform's),
MAMORI_AGENT_FAKE_ENCRYPTION_FILE, MAMORI_AGENT_ENCRYPTION_CHECK_SECONDS (default 300),
MAMORI_AGENT_TRANSFER_CPU_PERCENT (default 25, percent of one core while inspecting
transfers), MAMORI_AGENT_TRANSFER_CONCURRENCY (default 2),
MAMORI_AGENT_TRANSFER_SETTLE_MS (default 1000, how long a written file must stay unchanged),
MAMORI_AGENT_LOG_LEVEL (debug|info|warn|error),
MAMORI_AGENT_TRIAL_SECONDS (default 900, how long an upgraded version may take to reach the
collector before it is rolled back; the boot script also reads MAMORI_AGENT_TRIAL_STARTS, default 3).
`;

const OPTIONS = {
  enroll: { server: { type: 'string' }, token: { type: 'string' }, zone: { type: 'string' }, 'state-dir': { type: 'string' } },
  run: { 'state-dir': { type: 'string' } },
  status: { 'state-dir': { type: 'string' }, json: { type: 'boolean' } },
  uninstall: { code: { type: 'string' }, 'state-dir': { type: 'string' } },
} as const;

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (!(command in OPTIONS)) throw new UsageError(`unknown command "${command}"`);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    const parsed = parseArgs({ args: rest, options: OPTIONS[command as keyof typeof OPTIONS], strict: true, allowPositionals: false });
    values = parsed.values as Record<string, string | boolean | undefined>;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const stateDir = resolveStateDir(values['state-dir'] as string | undefined);
  switch (command) {
    case 'enroll': {
      if (typeof values.server !== 'string' || values.server === '') throw new UsageError('enroll needs --server HOST:PORT');
      if (typeof values.token !== 'string' || values.token === '') throw new UsageError('enroll needs --token TOKEN');
      if (values.zone !== undefined && (typeof values.zone !== 'string' || values.zone.trim() === '')) throw new UsageError('--zone needs a zone name (e.g. dev-lan)');
      const level = process.env.MAMORI_AGENT_LOG_LEVEL;
      const logger = createLogger(level === 'debug' || level === 'warn' || level === 'error' ? level : 'info');
      // Loaded on demand: the X.509 stack is only needed to enroll.
      const { enrollCommand } = await import('./commands/enroll.command.js');
      return enrollCommand({ server: values.server, token: values.token, zone: values.zone as string | undefined, stateDir, logger });
    }
    case 'run':
      return runCommand({ stateDir });
    case 'uninstall': {
      if (typeof values.code !== 'string' || values.code.trim() === '') throw new UsageError('uninstall needs --code CODE (IT issues one per device)');
      const { uninstallCommand } = await import('./commands/uninstall.command.js');
      return uninstallCommand({ stateDir, code: values.code });
    }
    default:
      return statusCommand({ stateDir, json: values.json === true });
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Open gRPC channels or timers must not keep a finished command alive.
    setImmediate(() => process.exit(code));
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`mamori-agent: ${error.message}\n\n${USAGE}`);
      process.exit(2);
    }
    process.stderr.write(`mamori-agent: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
