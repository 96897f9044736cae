import { Client, type ClientConfig, type Pool } from 'pg';

/** What the listener tells its owner; `reason` says why a connection ended, for the log. */
export interface NotificationHandlers {
  /** A NOTIFY on the channel, with its payload. */
  notified(payload: string): void;
  /**
   * The listener (re)connected and LISTENs again. Notifications sent while it was not connected
   * are lost (PostgreSQL does not queue them for absent listeners), so the owner re-reads whatever
   * they would have told it.
   */
  listening(): void;
  /** The connection ended or could not be made; the listener retries by itself. */
  lost(reason: string, retryInMs: number): void;
}

const FIRST_RETRY_MS = 250;
const LAST_RETRY_MS = 10_000;

/**
 * Holds one dedicated PostgreSQL connection that LISTENs on a channel, so that several collector
 * processes sharing a database hear each other's changes through PostgreSQL itself. The
 * connection is its own, not a pooled one: a pooled client would be handed back and forth, and a
 * LISTEN lasts only as long as its session. Contract: `start` resolves once the first LISTEN is
 * in place or rejects when the first connection fails (a collector should not serve half-wired);
 * after that, a lost connection is retried with doubling pauses up to 10 s until `stop`.
 */
export class PostgresNotificationListener {
  private client: Client | null = null;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryMs = FIRST_RETRY_MS;

  constructor(
    private readonly connection: ClientConfig,
    private readonly channel: string,
    private readonly handlers: NotificationHandlers,
  ) {
    if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`channel name "${channel}" must be a lower-case SQL identifier`);
  }

  /** The connection settings of a pg pool (the one TypeORM opened), for a listener beside it. */
  static connectionOf(pool: Pool): ClientConfig {
    return { ...(pool as unknown as { options: ClientConfig }).options };
  }

  async start(): Promise<void> {
    await this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const client = this.client;
    this.client = null;
    if (client !== null) await client.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const client = new Client(this.connection);
    // Without an 'error' listener a dropped connection would end the process.
    client.on('error', (error) => this.connectionEnded(client, error.message));
    client.on('end', () => this.connectionEnded(client, 'the server closed the connection'));
    client.on('notification', (message) => {
      if (message.channel === this.channel) this.handlers.notified(message.payload ?? '');
    });
    this.client = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${this.channel}`);
    } catch (error) {
      this.client = null;
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    this.retryMs = FIRST_RETRY_MS;
    this.handlers.listening();
  }

  private connectionEnded(client: Client, reason: string): void {
    if (this.client !== client || this.stopped) return;
    this.client = null;
    client.end().catch(() => undefined);
    this.scheduleRetry(reason);
  }

  private scheduleRetry(reason: string): void {
    if (this.stopped || this.retryTimer !== null) return;
    const wait = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, LAST_RETRY_MS);
    this.handlers.lost(reason, wait);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect().catch((error: Error) => this.scheduleRetry(error.message));
    }, wait);
    this.retryTimer.unref();
  }
}
