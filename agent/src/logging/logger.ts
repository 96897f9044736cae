/** Log levels in increasing severity. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function isLogLevel(value: string): value is LogLevel {
  return Object.prototype.hasOwnProperty.call(LEVELS, value);
}

/**
 * Structured logger port: one JSON object per line. Fields are merged into the line; Error
 * values are rendered as their message. Writing never throws (a closed stdout must not stop the
 * agent).
 */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export type LineWriter = (line: string) => void;

const stdoutWriter: LineWriter = (line) => {
  try {
    process.stdout.write(line + '\n');
  } catch {
    // stdout gone (EPIPE): the agent keeps working; logs are best effort, events are not.
  }
};

export function createLogger(level: LogLevel = 'info', write: LineWriter = stdoutWriter, base: Record<string, unknown> = {}): Logger {
  const threshold = LEVELS[level];
  const emit = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (LEVELS[lvl] < threshold) return;
    const line: Record<string, unknown> = { time: new Date().toISOString(), level: lvl, name: 'mamori-agent', msg, ...base };
    for (const [key, value] of Object.entries(fields ?? {})) {
      line[key] = value instanceof Error ? value.message : typeof value === 'bigint' ? value.toString() : value;
    }
    write(JSON.stringify(line));
  };
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    child: (fields) => createLogger(level, write, { ...base, ...fields }),
  };
}

/** A logger that discards everything, for tools and tests that assert on behaviour, not logs. */
export const silentLogger: Logger = createLogger('error', () => undefined);
