#!/usr/bin/env node
import 'reflect-metadata';
import { HttpException } from '@nestjs/common';
import { ConfigError, loadCollectorConfig } from './config/collector-config';
import { openCollectorContext, openCore, startCollector } from './collector';
import { runAdminCommand } from './cli/admin-commands';
import { CaRotationError } from './modules/pki/ca-rotation.service';
import { USAGE, UsageError } from './cli/cli-usage';
import { Command, parseCommandLine } from './cli/command-line';
import { JsonLogger } from './logging/json-logger';
import { openDatabase } from './database/data-source.factory';
import { AdminTokenConfiguredError } from './modules/admin-auth/admin-auth.service';

const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

async function main(argv: string[]): Promise<number> {
  let command: Command;
  try {
    command = parseCommandLine(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`mamori-server: ${error.message}\nRun "mamori-server --help" for usage.\n`);
    return EXIT_USAGE;
  }
  if (command.name === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }

  let config;
  try {
    config = loadCollectorConfig(process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`mamori-server: configuration error: ${error.message}\n`);
    return EXIT_USAGE;
  }

  if (command.name === 'run') return run(config);
  if (command.name === 'admin-token reset' && config.adminToken !== undefined) {
    // Refused before the database is touched: a stored token would never be used while this is set.
    process.stderr.write(`mamori-server: ${new AdminTokenConfiguredError().message}\n`);
    return EXIT_USAGE;
  }

  // CLI commands keep stdout for their answer; their logs go to stderr.
  const logger = new JsonLogger('warn', (line) => process.stderr.write(line + '\n'));
  if (command.name === 'migrate') {
    const { dataSource, applied } = await openDatabase(config);
    await dataSource.destroy();
    process.stdout.write(applied.length === 0 ? 'mamori-server: database is up to date\n' : `mamori-server: applied ${applied.join(', ')}\n`);
    return 0;
  }
  const core = await openCore(config, logger);
  const context = await openCollectorContext(core);
  try {
    return await runAdminCommand(context, command, (line) => process.stdout.write(line + '\n'));
  } catch (error) {
    if (error instanceof HttpException || error instanceof CaRotationError) {
      process.stderr.write(`mamori-server: ${error.message}\n`);
      return EXIT_FAILURE;
    }
    throw error;
  } finally {
    await context.close();
    await core.database.dataSource.destroy();
  }
}

async function run(config: ReturnType<typeof loadCollectorConfig>): Promise<number> {
  const logger = new JsonLogger(config.logLevel);
  // A failing request must not take the collector down with it; it is logged and the process serves on.
  process.on('unhandledRejection', (reason) => logger.emitFields('error', 'unhandled rejection', { error: String((reason as Error)?.stack ?? reason) }));
  const collector = await startCollector(config, logger);
  if (collector.generatedAdminToken !== null) {
    process.stdout.write(`mamori-server: administrator API token (shown once): ${collector.generatedAdminToken}\n`);
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      logger.emitFields('info', 'mamori-server stopping', { signal });
      const force = setTimeout(() => {
        logger.emitFields('warn', 'shutdown took too long; exiting', { signal });
        resolve(EXIT_FAILURE);
      }, 15_000);
      force.unref();
      collector.close().then(
        () => {
          clearTimeout(force);
          logger.emitFields('info', 'mamori-server stopped', { signal });
          resolve(0);
        },
        (error: unknown) => {
          clearTimeout(force);
          logger.emitFields('error', 'shutdown failed', { error: String(error) });
          resolve(EXIT_FAILURE);
        },
      );
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`mamori-server: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(EXIT_FAILURE);
  },
);
