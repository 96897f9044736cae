import type { LoggerService } from '@nestjs/common';
import pino, { type Logger as PinoLogger } from 'pino';
import type { LogLevel } from '../config/collector-config';

/** Nest's start-up chatter (one line per module and route) is useful only when debugging. */
const CHATTY_CONTEXTS = new Set(['InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestFactory']);

/**
 * Field names whose values never reach a log line, at the top level or one level down (pino's
 * redact paths): API and enrollment tokens, passwords, session cookies, authorization headers,
 * private keys. Their value is replaced, the key stays, so a reader sees that one was there.
 */
const SECRET_KEYS = ['token', 'adminToken', 'enrollmentToken', 'password', 'secret', 'authorization', 'cookie', 'privateKey', 'uninstallCode'];
export const REDACTED_PATHS: readonly string[] = [
  ...SECRET_KEYS,
  ...SECRET_KEYS.map((key) => `*.${key}`),
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
];
export const REDACTED = '[redacted]';

/**
 * The collector's log: one JSON object per line (pino), on stdout by default, which is what log
 * shippers and the tests read. Each line has `time` (ISO 8601), `level` (debug, info, warn, error),
 * `msg` and the entry's own fields; secrets named in REDACTED_PATHS are replaced by "[redacted]".
 * Writes are synchronous, so the lines logged just before a crash or `process.exit` are not lost.
 * Also serves as Nest's logger, so framework messages come out in the same shape.
 */
export class JsonLogger implements LoggerService {
  private readonly pino: PinoLogger;

  constructor(level: LogLevel = 'info', write?: (line: string) => void) {
    // A caller's writer (the tests, the CLI's stderr) gets each line without its newline.
    const destination = write === undefined ? pino.destination({ dest: 1, sync: true }) : { write: (chunk: string) => write(chunk.endsWith('\n') ? chunk.slice(0, -1) : chunk) };
    this.pino = pino(
      {
        level,
        base: undefined,
        messageKey: 'msg',
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
        redact: { paths: [...REDACTED_PATHS], censor: REDACTED },
      },
      destination,
    );
  }

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
    this.pino[level](fields, msg);
  }

  private emit(level: LogLevel, message: unknown, rest: unknown[]): void {
    if (!this.pino.isLevelEnabled(level)) return;
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
      const { msg, ...others } = message as Record<string, unknown>;
      this.emitFields(level, msg !== undefined ? String(msg) : JSON.stringify(message), { ...fields, ...others });
      return;
    }
    this.emitFields(level, String(message), fields);
  }
}
