import { Controller, UseInterceptors } from '@nestjs/common';
import type { Metadata, ServerUnaryCall } from '@grpc/grpc-js';
import { toTimestamp } from '../../common/protobuf-time';
import {
  CertificateServiceController,
  CertificateServiceControllerMethods,
  RenewCertificateRequest,
  RenewCertificateResponse,
} from '../../generated/mamori/v1/certificate';
import { AgentAuthenticator } from '../agents/agent-authenticator';
import { GrpcMetricsInterceptor } from '../metrics/grpc-metrics.interceptor';
import { CertificateRenewalService } from './certificate-renewal.service';

/** gRPC adapter for mamori.v1.CertificateService; the agent is the one its client certificate names. */
@Controller()
@UseInterceptors(GrpcMetricsInterceptor)
@CertificateServiceControllerMethods()
export class CertificateGrpcController implements CertificateServiceController {
  constructor(
    private readonly authenticator: AgentAuthenticator,
    private readonly renewal: CertificateRenewalService,
  ) {}

  async renewCertificate(request: RenewCertificateRequest, _metadata?: Metadata, call?: ServerUnaryCall<unknown, unknown>): Promise<RenewCertificateResponse> {
    const agent = await this.authenticator.authenticate(call);
    // authenticate() succeeded, so the verified peer certificate is there.
    const presented = call!.getAuthContext().sslPeerCertificate!.raw!;
    const renewed = await this.renewal.renew(agent, presented, request.certificateSigningRequestPem ?? '', call?.getPeer() ?? 'unknown');
    return {
      clientCertificatePem: renewed.certificatePem,
      certificateExpiresAt: toTimestamp(renewed.notAfter),
      caBundlePem: renewed.caBundlePem,
    };
  }
}
