import { Controller, Inject, UseInterceptors } from '@nestjs/common';
import { GrpcMetricsInterceptor } from '../metrics/grpc-metrics.interceptor';
import type { Metadata, ServerUnaryCall } from '@grpc/grpc-js';
import type { CollectorConfig } from '../../config/collector-config';
import { COLLECTOR_CONFIG } from '../../config/collector-config.token';
import { toTimestamp } from '../../common/protobuf-time';
import {
  HeartbeatRequest,
  HeartbeatResponse,
  TelemetryServiceController,
  TelemetryServiceControllerMethods,
  UploadEventsRequest,
  UploadEventsResponse,
} from '../../generated/mamori/v1/telemetry';
import { AgentAuthenticator } from '../agents/agent-authenticator';
import { AgentsService, reportedCaPins } from '../agents/agents.service';
import { LedgerPostureService } from '../ledger/ledger-posture.service';
import { AgentZoneService } from '../network/agent-zone.service';
import { PolicyService } from '../policy/policy.service';
import { PkiService } from '../pki/pki.service';
import { issuerPinOf, renewalReason } from '../pki/trusted-authorities';
import { IngestService } from './ingest.service';

/** A CA rotation in progress asks the agent to renew now (see renewalReason). */
function renewalAdvice(...args: Parameters<typeof renewalReason>): Pick<HeartbeatResponse, 'renewCertificate' | 'renewCertificateReason'> {
  const reason = renewalReason(...args);
  return { renewCertificate: reason !== null, renewCertificateReason: reason ?? '' };
}

/** gRPC adapter for mamori.v1.TelemetryService; the agent id comes from the client certificate. */
@Controller()
@UseInterceptors(GrpcMetricsInterceptor)
@TelemetryServiceControllerMethods()
export class TelemetryGrpcController implements TelemetryServiceController {
  constructor(
    private readonly authenticator: AgentAuthenticator,
    private readonly ingest: IngestService,
    private readonly agents: AgentsService,
    private readonly policy: PolicyService,
    private readonly ledger: LedgerPostureService,
    private readonly zones: AgentZoneService,
    private readonly pki: PkiService,
    @Inject(COLLECTOR_CONFIG) private readonly config: CollectorConfig,
  ) {}

  async uploadEvents(request: UploadEventsRequest, _metadata?: Metadata, call?: ServerUnaryCall<unknown, unknown>): Promise<UploadEventsResponse> {
    const agent = await this.authenticator.authenticate(call);
    return this.ingest.upload(agent.agentId, request);
  }

  async heartbeat(request: HeartbeatRequest, _metadata?: Metadata, call?: ServerUnaryCall<unknown, unknown>): Promise<HeartbeatResponse> {
    const agent = await this.authenticator.authenticate(call);
    const now = new Date();
    // authenticate() succeeded, so the verified peer certificate is there.
    const issuerPin = issuerPinOf(call!.getAuthContext().sslPeerCertificate!.raw!, this.pki.authorities);
    await this.agents.heartbeat(agent.agentId, request, now, issuerPin);
    // The ledger links the machine to its row and judges its disks (disk.unencrypted, ledger.unknown_device).
    await this.ledger.heartbeat(agent.agentId, request.posture, now);
    // A device required in a zone and reported in another raises network.wrong_zone; back in its zone clears it.
    await this.zones.heartbeat(agent.agentId, now);
    return {
      serverTime: toTimestamp(now),
      currentPolicyVersion: String(this.policy.current().version),
      nextHeartbeatSeconds: this.config.heartbeatSeconds,
      ...renewalAdvice(issuerPin, reportedCaPins(request.trustedCaPins), this.pki.authorities),
    };
  }
}
