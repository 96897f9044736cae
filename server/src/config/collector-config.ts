import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { parseDurationSeconds } from '../common/duration';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** Everything the collector reads from its environment, resolved and checked once at start. */
export interface CollectorConfig {
  dataDir: string;
  /** undefined selects the embedded SQLite database in dataDir. */
  databaseUrl: string | undefined;
  grpcAddress: string;
  httpAddress: string;
  adminToken: string | undefined;
  serverNames: string[];
  tls: {
    certFile: string | undefined;
    keyFile: string | undefined;
    caFile: string | undefined;
    caKeyFile: string | undefined;
    /**
     * More certificate authorities the collector trusts for agent certificates and hands to
     * agents beside the signing CA: the next CA while rotating to it, or the previous one until
     * every agent has renewed from the new one.
     */
    caTrustFile: string | undefined;
  };
  grpcMaxMessageBytes: number;
  heartbeatSeconds: number;
  agentCertDays: number;
  /** An enrolled agent unheard for this long raises agent.silent (default 3 days: a long weekend plus a day). */
  agentSilentAfterSeconds: number;
  /** How often the ledger sweeper looks for silent agents and overdue loans. */
  ledgerSweepSeconds: number;
  /** Console sign-in sessions: ended after idleMinutes without a request, and maxHours after sign-in in any case. */
  session: { idleMinutes: number; maxHours: number };
  /** The built console (index.html and assets/); undefined: dist/console beside the compiled collector. */
  consoleDir: string | undefined;
  logLevel: LogLevel;
}

/** A configuration value that cannot be used; the message names the variable. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`${variable}: ${problem}`);
    this.name = 'ConfigError';
  }
}

export const KNOWN_VARIABLES = [
  'MAMORI_DATA_DIR',
  'MAMORI_DATABASE_URL',
  'MAMORI_GRPC_ADDRESS',
  'MAMORI_HTTP_ADDRESS',
  'MAMORI_ADMIN_TOKEN',
  'MAMORI_SERVER_NAMES',
  'MAMORI_TLS_CERT_FILE',
  'MAMORI_TLS_KEY_FILE',
  'MAMORI_TLS_CA_FILE',
  'MAMORI_TLS_CA_KEY_FILE',
  'MAMORI_TLS_CA_TRUST_FILE',
  'MAMORI_GRPC_MAX_MESSAGE_BYTES',
  'MAMORI_HEARTBEAT_SECONDS',
  'MAMORI_AGENT_CERT_DAYS',
  'MAMORI_AGENT_SILENT_AFTER_SECONDS',
  'MAMORI_LEDGER_SWEEP_SECONDS',
  'MAMORI_SESSION_IDLE_MINUTES',
  'MAMORI_SESSION_MAX_HOURS',
  'MAMORI_CONSOLE_DIR',
  'MAMORI_LOG_LEVEL',
] as const;
type Variable = (typeof KNOWN_VARIABLES)[number];

/**
 * Reads the configuration from `env` and, when MAMORI_CONFIG names one, a JSON file whose keys
 * are the same variable names. The environment wins over the file. Relative paths are resolved
 * against `cwd`. Throws ConfigError naming the variable for a bad value.
 */
export function loadCollectorConfig(
  env: NodeJS.ProcessEnv,
  cwd: string = process.cwd(),
  readFile: (path: string) => string = (path) => readFileSync(path, 'utf8'),
): CollectorConfig {
  const file = readConfigFile(env.MAMORI_CONFIG, cwd, readFile);
  const value = (name: Variable): string | undefined => {
    const fromEnv = env[name];
    if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
    return file[name];
  };

  const tls = {
    certFile: optionalPath(value('MAMORI_TLS_CERT_FILE'), cwd),
    keyFile: optionalPath(value('MAMORI_TLS_KEY_FILE'), cwd),
    caFile: optionalPath(value('MAMORI_TLS_CA_FILE'), cwd),
    caKeyFile: optionalPath(value('MAMORI_TLS_CA_KEY_FILE'), cwd),
    caTrustFile: optionalPath(value('MAMORI_TLS_CA_TRUST_FILE'), cwd),
  };
  requirePair(tls.certFile, 'MAMORI_TLS_CERT_FILE', tls.keyFile, 'MAMORI_TLS_KEY_FILE');
  requirePair(tls.caFile, 'MAMORI_TLS_CA_FILE', tls.caKeyFile, 'MAMORI_TLS_CA_KEY_FILE');
  if (tls.certFile !== undefined && tls.caFile === undefined) {
    // The agent verifies the server against the CA it pinned; a server certificate from some
    // other authority next to a CA generated here would fail that check on every agent.
    throw new ConfigError(
      'MAMORI_TLS_CERT_FILE',
      'an operator-supplied server certificate needs the CA that signs agent certificates too (set MAMORI_TLS_CA_FILE and MAMORI_TLS_CA_KEY_FILE)',
    );
  }

  const adminToken = value('MAMORI_ADMIN_TOKEN');
  if (adminToken !== undefined && adminToken.length < 16) {
    throw new ConfigError('MAMORI_ADMIN_TOKEN', 'must be at least 16 characters long');
  }

  const session = {
    idleMinutes: integer('MAMORI_SESSION_IDLE_MINUTES', value('MAMORI_SESSION_IDLE_MINUTES'), 480, 5, 10_080),
    maxHours: integer('MAMORI_SESSION_MAX_HOURS', value('MAMORI_SESSION_MAX_HOURS'), 12, 1, 720),
  };
  if (session.idleMinutes > session.maxHours * 60) {
    throw new ConfigError(
      'MAMORI_SESSION_IDLE_MINUTES',
      `${session.idleMinutes} minutes is longer than MAMORI_SESSION_MAX_HOURS (${session.maxHours} h), which ends every session anyway`,
    );
  }

  return {
    dataDir: resolve(cwd, value('MAMORI_DATA_DIR') ?? './mamori-data'),
    databaseUrl: databaseUrl(value('MAMORI_DATABASE_URL')),
    grpcAddress: address('MAMORI_GRPC_ADDRESS', value('MAMORI_GRPC_ADDRESS') ?? '0.0.0.0:50051'),
    httpAddress: address('MAMORI_HTTP_ADDRESS', value('MAMORI_HTTP_ADDRESS') ?? '127.0.0.1:8080'),
    adminToken,
    serverNames: serverNames(value('MAMORI_SERVER_NAMES')),
    tls,
    grpcMaxMessageBytes: integer('MAMORI_GRPC_MAX_MESSAGE_BYTES', value('MAMORI_GRPC_MAX_MESSAGE_BYTES'), 4_194_304, 1024, 1 << 30),
    heartbeatSeconds: integer('MAMORI_HEARTBEAT_SECONDS', value('MAMORI_HEARTBEAT_SECONDS'), 60, 1, 86_400),
    agentCertDays: agentCertDays(value('MAMORI_AGENT_CERT_DAYS')),
    agentSilentAfterSeconds: integer('MAMORI_AGENT_SILENT_AFTER_SECONDS', value('MAMORI_AGENT_SILENT_AFTER_SECONDS'), 259_200, 60, 31_536_000),
    ledgerSweepSeconds: integer('MAMORI_LEDGER_SWEEP_SECONDS', value('MAMORI_LEDGER_SWEEP_SECONDS'), 300, 1, 86_400),
    session,
    consoleDir: value('MAMORI_CONSOLE_DIR') === undefined ? undefined : resolve(cwd, value('MAMORI_CONSOLE_DIR')!),
    logLevel: logLevel(value('MAMORI_LOG_LEVEL')),
  };
}

function readConfigFile(
  path: string | undefined,
  cwd: string,
  readFile: (path: string) => string,
): Partial<Record<Variable, string>> {
  if (path === undefined || path === '') return {};
  let text: string;
  try {
    text = readFile(resolve(cwd, path));
  } catch (error) {
    throw new ConfigError('MAMORI_CONFIG', `cannot read ${path}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError('MAMORI_CONFIG', `${path} is not valid JSON: ${(error as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError('MAMORI_CONFIG', `${path} must hold a JSON object of MAMORI_* settings`);
  }
  const result: Partial<Record<Variable, string>> = {};
  for (const [key, raw] of Object.entries(parsed)) {
    if (!(KNOWN_VARIABLES as readonly string[]).includes(key)) {
      throw new ConfigError('MAMORI_CONFIG', `${path} has an unknown setting "${key}"`);
    }
    if (typeof raw === 'string') result[key as Variable] = raw;
    else if (typeof raw === 'number' && Number.isFinite(raw)) result[key as Variable] = String(raw);
    else if (Array.isArray(raw) && raw.every((item) => typeof item === 'string')) result[key as Variable] = raw.join(',');
    else throw new ConfigError(key, `in ${path} must be a string or a number`);
  }
  return result;
}

function optionalPath(raw: string | undefined, cwd: string): string | undefined {
  return raw === undefined ? undefined : resolve(cwd, raw);
}

function requirePair(a: string | undefined, aName: string, b: string | undefined, bName: string): void {
  if (a !== undefined && b === undefined) throw new ConfigError(bName, `must be set together with ${aName}`);
  if (b !== undefined && a === undefined) throw new ConfigError(aName, `must be set together with ${bName}`);
}

function databaseUrl(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError('MAMORI_DATABASE_URL', 'is not a URL (expected postgres://user@host:port/database)');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigError('MAMORI_DATABASE_URL', `scheme "${url.protocol.replace(/:$/, '')}" is not supported; use postgres:// or leave it unset for SQLite`);
  }
  if (url.pathname.length <= 1) {
    throw new ConfigError('MAMORI_DATABASE_URL', 'names no database (expected postgres://user@host:port/database)');
  }
  return raw;
}

/** Parses "host:port", "[v6]:port" or ":port"; the result keeps the brackets for IPv6. */
export function parseListenAddress(raw: string): { host: string; port: number } | null {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(raw.trim());
  if (match === null) return null;
  const port = Number(match[3]);
  if (port < 0 || port > 65535) return null;
  const host = match[1] ?? (match[2] === '' ? '0.0.0.0' : match[2]);
  return { host, port };
}

function address(name: string, raw: string): string {
  const parsed = parseListenAddress(raw);
  if (parsed === null) throw new ConfigError(name, `"${raw}" is not host:port (port 0..65535)`);
  return raw.trim();
}

function serverNames(raw: string | undefined): string[] {
  if (raw === undefined) return [hostname(), 'localhost', '127.0.0.1', '::1'];
  const names = raw
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name.length > 0);
  if (names.length === 0) throw new ConfigError('MAMORI_SERVER_NAMES', 'must list at least one host name or IP address');
  for (const name of names) {
    if (!/^[A-Za-z0-9.:*-]+$/.test(name)) {
      throw new ConfigError('MAMORI_SERVER_NAMES', `"${name}" is not a host name or IP address`);
    }
  }
  return [...new Set(names)];
}

function integer(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(name, `"${raw}" is not a whole number`);
  const parsed = Number(raw.trim());
  if (parsed < min || parsed > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${parsed}`);
  return parsed;
}

/**
 * Whole days (1-3650), or a duration of at least 30 s ("90s", "10m", "12h") for short-lived
 * certificates: agents renew theirs when a third of the lifetime is left, so a short lifetime
 * shows renewal working within minutes. Returned in (possibly fractional) days.
 */
function agentCertDays(raw: string | undefined): number {
  if (raw !== undefined && /^\s*\d+[smh]\s*$/.test(raw)) {
    const seconds = parseDurationSeconds(raw);
    if (seconds === null || seconds < 30 || seconds > 3650 * 86_400) {
      throw new ConfigError('MAMORI_AGENT_CERT_DAYS', `"${raw}" must be at least 30s and at most 3650 days`);
    }
    return seconds / 86_400;
  }
  return integer('MAMORI_AGENT_CERT_DAYS', raw, 365, 1, 3650);
}

function logLevel(raw: string | undefined): LogLevel {
  if (raw === undefined) return 'info';
  const lower = raw.toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(lower)) {
    throw new ConfigError('MAMORI_LOG_LEVEL', `"${raw}" is not one of ${LOG_LEVELS.join(', ')}`);
  }
  return lower as LogLevel;
}
