import type { LoggerService } from '@nestjs/common';
import type { LogLevel } from '../config/collector-config';

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
/** Nest's start-up chatter (one line per module and route) is useful only when debugging. */
const CHATTY_CONTEXTS = new Set(['InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestFactory']);

/**
 * Writes one JSON object per line on stdout, which is what log shippers and the tests read.
 * Also serves as Nest's logger, so framework messages come out in the same shape.
 */
export class JsonLogger implements LoggerService {
  constructor(
    private readonly level: LogLevel = 'info',
    private readonly write: (line: string) => void = (line) => process.stdout.write(line + '\n'),
  ) {}

  debug(message: unknown, ...rest: unknown[]): void {
    this.emit('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.emit('debug', message, rest);
  }
  log(message: unknown, ...rest: unknown[]): void {
    const context = rest[rest.length - 1];
    this.emit(typeof context === 'string' && CHATTY_CONTEXTS.has(context) ? 'debug' : 'info', message, rest);
  }
  info(message: string, fields: Record<string, unknown> = {}): void {
    this.emitFields('info', message, fields);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.emit('warn', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.emit('error', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]): void {
    this.emit('error', message, rest);
  }

  /** Structured entry point for mamori's own code: a message plus named fields. */
  emitFields(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
    if (RANK[level] < RANK[this.level]) return;
    this.write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }));
  }

  private emit(level: LogLevel, message: unknown, rest: unknown[]): void {
    if (RANK[level] < RANK[this.level]) return;
    // Nest passes (message, context) or (message, stack, context); the last string is the context.
    const fields: Record<string, unknown> = {};
    const strings = rest.filter((item): item is string => typeof item === 'string');
    if (strings.length > 0) fields.context = strings[strings.length - 1];
    if (level === 'error' && strings.length > 1) fields.stack = strings[0];
    if (message instanceof Error) {
      fields.error = message.message;
      fields.stack = message.stack;
      this.emitFields(level, message.message, fields);
      return;
    }
    if (message !== null && typeof message === 'object') {
      this.emitFields(level, 'msg' in message ? String((message as { msg: unknown }).msg) : JSON.stringify(message), {
        ...fields,
        ...(message as Record<string, unknown>),
      });
      return;
    }
    this.emitFields(level, String(message), fields);
  }
}
