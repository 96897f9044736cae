import { deferCleanup, type CleanupScope } from '../../support/cleanup-scope';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseKind, provideDatabase } from '../../support/databases';
import { freePort } from '../../support/ports';
import { AGENT_BIN, RunningProcess, SERVER_BIN, runNodeProgram, startNodeProgram } from '../../support/processes';
import { makeTempDir } from '../../support/temp-dir';
import { RestClient } from './rest-client';

/** One fake USB device as the fake backend's script describes it. */
export interface ScriptDevice {
  vendorId: string;
  productId: string;
  serial: string;
  manufacturer?: string;
  product?: string;
  interfaceClasses: number[];
  busPath: string;
}

export function attachLine(device: ScriptDevice): string {
  return JSON.stringify({ op: 'attach', device });
}

export function detachLine(busPath: string): string {
  return JSON.stringify({ op: 'detach', busPath });
}

/**
 * A real collector process on loopback with a database and data folder of its own.
 * Stopped (and its data removed) by t.after, even when the test fails.
 */
export class CollectorUnderTest {
  process!: RunningProcess;
  rest!: RestClient;
  grpcAddress!: string;
  private constructor(
    readonly kind: DatabaseKind,
    readonly dataDir: string,
    readonly databaseUrl: string | undefined,
    readonly grpcPort: number,
    readonly httpPort: number,
    readonly adminToken = `test-admin-${randomBytes(16).toString('hex')}`,
  ) {}

  static async start(t: CleanupScope, kind: DatabaseKind, extraEnv: Record<string, string> = {}): Promise<CollectorUnderTest | null> {
    const database = await provideDatabase(t, kind);
    if (database === null) return null;
    const collector = new CollectorUnderTest(kind, database.dataDir, database.url, await freePort(), await freePort());
    deferCleanup(t, () => collector.process?.stop());
    await collector.launch(extraEnv);
    return collector;
  }

  /**
   * A second collector process on the same PostgreSQL database, as operators run several behind
   * one address: its own data folder and ports, the first one's CA (agents pin one CA) and admin
   * token. Stopped and its folder removed by t.after.
   */
  static async startBeside(t: CleanupScope, first: CollectorUnderTest, extraEnv: Record<string, string> = {}): Promise<CollectorUnderTest> {
    if (first.databaseUrl === undefined) throw new Error('collector processes share a database only on PostgreSQL');
    const dir = makeTempDir('mamori-collector-peer-');
    const peer = new CollectorUnderTest(first.kind, dir.path, first.databaseUrl, await freePort(), await freePort(), first.adminToken);
    deferCleanup(t, async () => {
      await peer.process?.stop();
      dir.cleanup();
    });
    await peer.launch({ MAMORI_TLS_CA_FILE: join(first.dataDir, 'ca.crt'), MAMORI_TLS_CA_KEY_FILE: join(first.dataDir, 'ca.key'), ...extraEnv });
    return peer;
  }

  get env(): Record<string, string | undefined> {
    return {
      MAMORI_DATA_DIR: this.dataDir,
      MAMORI_DATABASE_URL: this.databaseUrl,
      MAMORI_GRPC_ADDRESS: `127.0.0.1:${this.grpcPort}`,
      MAMORI_HTTP_ADDRESS: `127.0.0.1:${this.httpPort}`,
      MAMORI_ADMIN_TOKEN: this.adminToken,
      MAMORI_SERVER_NAMES: 'localhost,127.0.0.1',
      MAMORI_LOG_LEVEL: 'info',
    };
  }

  /** Starts (or restarts, after a kill) the collector process on the same data and ports. */
  async launch(extraEnv: Record<string, string> = {}): Promise<void> {
    this.process = startNodeProgram(`mamori-server(${this.kind})`, SERVER_BIN, ['run'], { ...this.env, ...extraEnv });
    await this.process.waitForLine(/"msg":"mamori-server ready"/, 60_000);
    this.grpcAddress = `127.0.0.1:${this.grpcPort}`;
    this.rest = new RestClient(`http://127.0.0.1:${this.httpPort}`, this.adminToken);
  }

  async createEnrollmentToken(body: Record<string, unknown> = {}): Promise<{ id: string; token: string }> {
    return this.rest.expect(201, 'POST', '/api/v1/enrollment-tokens', body);
  }

  async countEvents(query: Record<string, string>): Promise<number> {
    const params = new URLSearchParams(query).toString();
    const result = await this.rest.expect<{ count: number }>(200, 'GET', `/api/v1/events/count?${params}`);
    return result.count;
  }
}

/**
 * A real agent process enrolled against a collector, driven by a fake USB script that the
 * test appends to while the agent runs.
 */
export class AgentUnderTest {
  process!: RunningProcess;
  agentId!: string;
  readonly stateDir: string;
  readonly scriptPath: string;

  private constructor(t: CleanupScope, readonly collector: CollectorUnderTest) {
    const dir = makeTempDir('mamori-agent-');
    // One hook, so the agent stops before its folder goes whichever order the scope runs hooks in
    // (node:test runs a test's after hooks first to last, suiteScope last to first): a running
    // agent still writes its status and plug files while the folder is being removed.
    deferCleanup(t, async () => {
      await this.process?.stop();
      dir.cleanup();
    });
    this.stateDir = join(dir.path, 'state');
    this.scriptPath = join(dir.path, 'usb-script.jsonl');
    mkdirSync(this.stateDir, { recursive: true, mode: 0o700 });
    writeFileSync(this.scriptPath, '');
  }

  static async enroll(t: CleanupScope, collector: CollectorUnderTest): Promise<AgentUnderTest> {
    const agent = new AgentUnderTest(t, collector);
    const { token } = await collector.createEnrollmentToken({ label: 'e2e' });
    const result = await runNodeProgram(
      AGENT_BIN,
      ['enroll', '--server', collector.grpcAddress, '--token', token, '--state-dir', agent.stateDir],
      {},
    );
    if (result.code !== 0) {
      throw new Error(`mamori-agent enroll failed (${result.code}):\n${result.stdout}\n${result.stderr}`);
    }
    const status = await runNodeProgram(AGENT_BIN, ['status', '--json', '--state-dir', agent.stateDir], {});
    agent.agentId = JSON.parse(status.stdout).agentId;
    return agent;
  }

  get env(): Record<string, string> {
    return {
      MAMORI_AGENT_USB_BACKEND: 'fake',
      MAMORI_AGENT_FAKE_USB_SCRIPT: this.scriptPath,
      // E2E agents read scripted sources only: not this host's real disks (a test that wants a
      // disk-encryption posture sets the fake backend and its file).
      MAMORI_AGENT_ENCRYPTION_BACKEND: 'unsupported',
      // Nor this host's firewall: a test that wants enforcement runs the agent in a network namespace of its own.
      MAMORI_AGENT_EGRESS_BACKEND: 'unsupported',
      MAMORI_AGENT_HEARTBEAT_SECONDS: '1',
      MAMORI_AGENT_LOG_LEVEL: 'info',
    };
  }

  async start(): Promise<void> {
    this.process = startNodeProgram('mamori-agent', AGENT_BIN, ['run', '--state-dir', this.stateDir], this.env);
    await this.process.waitForLine(/"msg":"mamori-agent running"/, 30_000);
  }

  appendScript(lines: string[]): void {
    appendFileSync(this.scriptPath, lines.map((l) => `${l}\n`).join(''));
  }
}
