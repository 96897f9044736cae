import { isIP } from 'node:net';
import { EGRESS_BACKENDS, type EgressBackendName } from '../enforce/egress/egress-enforcer';
import { isLogLevel, type LogLevel } from '../logging/logger';

/** The USB backends this build can run: the platforms' real ones, the scripted fake, and "unsupported". */
export const USB_BACKENDS = ['linux', 'win32', 'darwin', 'fake', 'unsupported'] as const;
export type UsbBackendName = (typeof USB_BACKENDS)[number];

/**
 * How USB verdicts are carried out: "auto" enforces through the kernel where the USB backend
 * watches the real kernel (linux) and audits elsewhere; "audit-only" never changes the host;
 * "linux" forces the kernel enforcer whatever the USB backend.
 */
export const USB_ENFORCEMENTS = ['auto', 'audit-only', 'linux'] as const;
export type UsbEnforcementName = (typeof USB_ENFORCEMENTS)[number];

export interface AgentConfig {
  usbBackend: UsbBackendName;
  usbEnforcement: UsbEnforcementName;
  /** Where sysfs is mounted; tests and rigs point it elsewhere. */
  sysfsRoot: string;
  /** The fake backend's JSON-lines script (required when usbBackend is "fake"). */
  fakeUsbScript: string | undefined;
  /** Overrides the heartbeat interval the collector asks for, when set. */
  heartbeatSecondsOverride: number | undefined;
  spoolMaxBytes: number;
  batchSize: number;
  /** Most bytes of one UploadEventsRequest (one event larger than this still goes alone). */
  batchMaxBytes: number;
  logLevel: LogLevel;
  /** How disk encryption is read (MAMORI_AGENT_ENCRYPTION_BACKEND): the platform's tools, a file (fake), or not at all. */
  encryptionBackend: EncryptionBackendName;
  /** The fake encryption backend's JSON file (required when encryptionBackend is "fake"), re-read at each check. */
  fakeEncryptionFile: string | undefined;
  /** Seconds between disk-encryption checks (MAMORI_AGENT_ENCRYPTION_CHECK_SECONDS, default 300). */
  encryptionCheckSeconds: number;
  /** CPU limit while inspecting file transfers, percent of one core (MAMORI_AGENT_TRANSFER_CPU_PERCENT, default 25). */
  transferCpuPercent: number;
  /** Files hashed and inspected at once (MAMORI_AGENT_TRANSFER_CONCURRENCY, default 2). */
  transferConcurrency: number;
  /** Quiet-and-unchanged window after which a written file counts as complete (MAMORI_AGENT_TRANSFER_SETTLE_MS, default 1000). */
  transferSettleMs: number;
  /** Where the host's addresses and DNS suffixes come from (MAMORI_AGENT_NETWORK_BACKEND, default "os"). */
  networkBackend: NetworkBackendName;
  /** The fake network backend's JSON file (MAMORI_AGENT_FAKE_NETWORK_FILE; required when networkBackend is "fake"), re-read when it changes. */
  fakeNetworkFile: string | undefined;
  /** Seconds between readings of the host's network (MAMORI_AGENT_NETWORK_POLL_SECONDS, default 10). */
  networkPollSeconds: number;
  /** How the whitelist is enforced on the host (MAMORI_AGENT_EGRESS_BACKEND; default nftables on Linux as root, else unsupported). */
  egressBackend: EgressBackendName;
  /** Where the local egress proxy listens (MAMORI_AGENT_EGRESS_PROXY "host:port"); undefined: no proxy. */
  egressProxy: { host: string; port: number } | undefined;
}

/** The network-view backends: the operating system's, and a JSON file (fake). */
export const NETWORK_BACKENDS = ['os', 'fake'] as const;
export type NetworkBackendName = (typeof NETWORK_BACKENDS)[number];
export const DEFAULT_NETWORK_POLL_SECONDS = 10;


/** nftables needs Linux and root (CAP_NET_ADMIN); elsewhere the default is "unsupported". */
export function defaultEgressBackend(platform: NodeJS.Platform, isRoot: boolean): EgressBackendName {
  return platform === 'linux' && isRoot ? 'nftables' : 'unsupported';
}

/**
 * MAMORI_AGENT_EGRESS_PROXY: "127.0.0.1:3128", "[::1]:3128" or "localhost:3128" (read as
 * 127.0.0.1). The host must be an IP address (or localhost), so that what is bound is exactly what
 * was configured, never a name resolved at start; the port 1-65535 (applications are pointed at
 * it, so it cannot be picked at random). Empty or unset: no proxy.
 */
export function parseEgressProxyAddress(raw: string | undefined): { host: string; port: number } | undefined {
  const text = (raw ?? '').trim();
  if (text === '') return undefined;
  const match = /^(?:\[([^\]]+)\]|([^:\[\]]+)):(\d{1,5})$/.exec(text);
  const fail = (why: string): never => {
    throw new ConfigError(`MAMORI_AGENT_EGRESS_PROXY must be "host:port" with an IP address or localhost (e.g. 127.0.0.1:3128): ${why}, got "${text}"`);
  };
  if (match === null) return fail('no port, or IPv6 without brackets');
  const host = match[1] ?? match[2];
  const port = Number(match[3]);
  if (port < 1 || port > 65_535) return fail('the port must be between 1 and 65535');
  if (host.toLowerCase() === 'localhost') return { host: '127.0.0.1', port };
  const family = isIP(host);
  if (family === 0 || (match[1] !== undefined && family !== 6)) return fail(`"${host}" is not an IP address`);
  return { host, port };
}

export const DEFAULT_TRANSFER_CPU_PERCENT = 25;
export const DEFAULT_TRANSFER_CONCURRENCY = 2;
export const DEFAULT_TRANSFER_SETTLE_MS = 1_000;

/** The disk-encryption backends: the platforms' real ones, the file-driven fake, and "unsupported". */
export const ENCRYPTION_BACKENDS = ['linux', 'win32', 'darwin', 'fake', 'unsupported'] as const;
export type EncryptionBackendName = (typeof ENCRYPTION_BACKENDS)[number];
export const DEFAULT_ENCRYPTION_CHECK_SECONDS = 300;

/** A configuration value the agent cannot run with; main prints it and exits with code 2. */
export class ConfigError extends Error {}

export const DEFAULT_SPOOL_MAX_BYTES = 104_857_600;
export const DEFAULT_BATCH_SIZE = 500;
/** Well under the collector's default 4 MiB message limit. */
export const DEFAULT_BATCH_MAX_BYTES = 1_048_576;
/** The collector refuses larger batches. */
export const MAX_BATCH_SIZE = 5000;

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number | undefined, min: number, max: number): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
  const value = Number(raw.trim());
  if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

/** The platform's real USB backend, used when MAMORI_AGENT_USB_BACKEND is not set. */
export function platformUsbBackend(platform: NodeJS.Platform): UsbBackendName {
  return platform === 'linux' || platform === 'win32' || platform === 'darwin' ? platform : 'unsupported';
}

/** Whether this process runs as root (always false where there are no user ids, i.e. Windows). */
function runningAsRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Reads the agent's environment; throws ConfigError naming the variable for any bad value. */
export function loadAgentConfig(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, isRoot: boolean = runningAsRoot()): AgentConfig {
  const backend = (env.MAMORI_AGENT_USB_BACKEND ?? '').trim() || platformUsbBackend(platform);
  if (!(USB_BACKENDS as readonly string[]).includes(backend)) {
    throw new ConfigError(`MAMORI_AGENT_USB_BACKEND must be one of ${USB_BACKENDS.join(', ')}, got "${backend}"`);
  }
  const script = env.MAMORI_AGENT_FAKE_USB_SCRIPT?.trim() || undefined;
  if (backend === 'fake' && script === undefined) {
    throw new ConfigError('MAMORI_AGENT_FAKE_USB_SCRIPT must name the script file when MAMORI_AGENT_USB_BACKEND is "fake"');
  }
  const enforcement = (env.MAMORI_AGENT_USB_ENFORCEMENT ?? '').trim() || 'auto';
  if (!(USB_ENFORCEMENTS as readonly string[]).includes(enforcement)) {
    throw new ConfigError(`MAMORI_AGENT_USB_ENFORCEMENT must be one of ${USB_ENFORCEMENTS.join(', ')}, got "${enforcement}"`);
  }
  const sysfsRoot = (env.MAMORI_AGENT_SYSFS_ROOT ?? '').trim() || '/sys';
  if (!sysfsRoot.startsWith('/')) throw new ConfigError(`MAMORI_AGENT_SYSFS_ROOT must be an absolute path, got "${sysfsRoot}"`);
  const encryptionBackend = (env.MAMORI_AGENT_ENCRYPTION_BACKEND ?? '').trim() || platformUsbBackend(platform);
  if (!(ENCRYPTION_BACKENDS as readonly string[]).includes(encryptionBackend)) {
    throw new ConfigError(`MAMORI_AGENT_ENCRYPTION_BACKEND must be one of ${ENCRYPTION_BACKENDS.join(', ')}, got "${encryptionBackend}"`);
  }
  const fakeEncryptionFile = env.MAMORI_AGENT_FAKE_ENCRYPTION_FILE?.trim() || undefined;
  if (encryptionBackend === 'fake' && fakeEncryptionFile === undefined) {
    throw new ConfigError('MAMORI_AGENT_FAKE_ENCRYPTION_FILE must name the JSON file when MAMORI_AGENT_ENCRYPTION_BACKEND is "fake"');
  }
  const networkBackend = (env.MAMORI_AGENT_NETWORK_BACKEND ?? '').trim() || 'os';
  if (!(NETWORK_BACKENDS as readonly string[]).includes(networkBackend)) {
    throw new ConfigError(`MAMORI_AGENT_NETWORK_BACKEND must be one of ${NETWORK_BACKENDS.join(', ')}, got "${networkBackend}"`);
  }
  const fakeNetworkFile = env.MAMORI_AGENT_FAKE_NETWORK_FILE?.trim() || undefined;
  if (networkBackend === 'fake' && fakeNetworkFile === undefined) {
    throw new ConfigError('MAMORI_AGENT_FAKE_NETWORK_FILE must name the JSON file when MAMORI_AGENT_NETWORK_BACKEND is "fake"');
  }
  const egressBackend = (env.MAMORI_AGENT_EGRESS_BACKEND ?? '').trim() || defaultEgressBackend(platform, isRoot);
  if (!(EGRESS_BACKENDS as readonly string[]).includes(egressBackend)) {
    throw new ConfigError(`MAMORI_AGENT_EGRESS_BACKEND must be one of ${EGRESS_BACKENDS.join(', ')}, got "${egressBackend}"`);
  }
  const level = (env.MAMORI_AGENT_LOG_LEVEL ?? '').trim() || 'info';
  if (!isLogLevel(level)) throw new ConfigError(`MAMORI_AGENT_LOG_LEVEL must be debug, info, warn or error, got "${level}"`);
  return {
    usbBackend: backend as UsbBackendName,
    fakeUsbScript: script,
    usbEnforcement: enforcement as UsbEnforcementName,
    sysfsRoot,
    heartbeatSecondsOverride: integer(env, 'MAMORI_AGENT_HEARTBEAT_SECONDS', undefined, 1, 86_400),
    spoolMaxBytes: integer(env, 'MAMORI_AGENT_SPOOL_MAX_BYTES', DEFAULT_SPOOL_MAX_BYTES, 4096, Number.MAX_SAFE_INTEGER)!,
    batchSize: integer(env, 'MAMORI_AGENT_BATCH_SIZE', DEFAULT_BATCH_SIZE, 1, MAX_BATCH_SIZE)!,
    batchMaxBytes: integer(env, 'MAMORI_AGENT_BATCH_MAX_BYTES', DEFAULT_BATCH_MAX_BYTES, 1024, 1_073_741_824)!,
    logLevel: level,
    encryptionBackend: encryptionBackend as EncryptionBackendName,
    fakeEncryptionFile,
    encryptionCheckSeconds: integer(env, 'MAMORI_AGENT_ENCRYPTION_CHECK_SECONDS', DEFAULT_ENCRYPTION_CHECK_SECONDS, 1, 86_400)!,
    transferCpuPercent: integer(env, 'MAMORI_AGENT_TRANSFER_CPU_PERCENT', DEFAULT_TRANSFER_CPU_PERCENT, 1, 6_400)!,
    transferConcurrency: integer(env, 'MAMORI_AGENT_TRANSFER_CONCURRENCY', DEFAULT_TRANSFER_CONCURRENCY, 1, 64)!,
    transferSettleMs: integer(env, 'MAMORI_AGENT_TRANSFER_SETTLE_MS', DEFAULT_TRANSFER_SETTLE_MS, 50, 600_000)!,
    networkBackend: networkBackend as NetworkBackendName,
    fakeNetworkFile,
    networkPollSeconds: integer(env, 'MAMORI_AGENT_NETWORK_POLL_SECONDS', DEFAULT_NETWORK_POLL_SECONDS, 1, 3_600)!,
    egressBackend: egressBackend as EgressBackendName,
    egressProxy: parseEgressProxyAddress(env.MAMORI_AGENT_EGRESS_PROXY),
  };
}
