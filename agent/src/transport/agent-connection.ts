import { CertificateServiceClient } from '../generated/mamori/v1/certificate';
import { PolicyServiceClient } from '../generated/mamori/v1/policy';
import { ReleaseServiceClient } from '../generated/mamori/v1/release';
import { TelemetryServiceClient } from '../generated/mamori/v1/telemetry';
import type { AgentCredentials } from '../state/agent-identity';
import { CHANNEL_OPTIONS, createAgentClients, type AgentClients } from './grpc-clients';

/** How long replaced clients stay open, so that calls already in flight on them can finish. */
const RETIRE_AFTER_MS = 60_000;

/**
 * The agent's mutual-TLS clients, re-created when its credentials change (a renewed client
 * certificate, a new CA bundle). `telemetry` and `policy` are stable handles that forward every
 * call to the current clients, so the uploader, heartbeat and policy watcher keep theirs and
 * their next call connects with the new certificate. A watch stream already open stays on the
 * old connection until it ends (the old certificate stays accepted until then or its expiry).
 */
export class AgentConnection implements AgentClients {
  readonly telemetry: TelemetryServiceClient;
  readonly policy: PolicyServiceClient;
  private current: AgentClients & { certificate: CertificateServiceClient; release: ReleaseServiceClient };
  private readonly retiring = new Set<NodeJS.Timeout>();
  private readonly retired: AgentClients[] = [];

  constructor(
    private readonly target: string,
    credentials: AgentCredentials,
  ) {
    this.current = this.open(credentials);
    this.telemetry = forwarding(() => this.current.telemetry);
    this.policy = forwarding(() => this.current.policy);
  }

  /** The client for RenewCertificate, on the current credentials. */
  get certificate(): CertificateServiceClient {
    return this.current.certificate;
  }

  /** The client for DownloadRelease (agent upgrades), on the current credentials. */
  get release(): ReleaseServiceClient {
    return this.current.release;
  }

  /** Switches every later call to `credentials`; the old clients close once their calls had time to finish. */
  swap(credentials: AgentCredentials): void {
    const previous = this.current;
    this.current = this.open(credentials);
    this.retired.push(previous);
    const timer = setTimeout(() => {
      this.retiring.delete(timer);
      previous.close();
    }, RETIRE_AFTER_MS);
    timer.unref();
    this.retiring.add(timer);
  }

  close(): void {
    for (const timer of this.retiring) clearTimeout(timer);
    this.retiring.clear();
    for (const clients of this.retired.splice(0)) clients.close();
    this.current.close();
  }

  private open(credentials: AgentCredentials): AgentClients & { certificate: CertificateServiceClient; release: ReleaseServiceClient } {
    const clients = createAgentClients(this.target, credentials);
    const certificate = new CertificateServiceClient(this.target, clients.channelCredentials, CHANNEL_OPTIONS);
    const release = new ReleaseServiceClient(this.target, clients.channelCredentials, CHANNEL_OPTIONS);
    return {
      ...clients,
      certificate,
      release,
      close: () => {
        clients.close();
        certificate.close();
        release.close();
      },
    };
  }
}

/** A stand-in whose every property is read from the client current at the time of the call. */
function forwarding<T extends object>(current: () => T): T {
  return new Proxy({} as T, {
    get(_target, property) {
      const client = current();
      const value = Reflect.get(client, property, client) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(client) : value;
    },
  });
}
