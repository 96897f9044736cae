import { Controller, UseInterceptors } from '@nestjs/common';
import { GrpcMetricsInterceptor } from '../metrics/grpc-metrics.interceptor';
import { status, type Metadata, type ServerUnaryCall } from '@grpc/grpc-js';
import { grpcError } from '../../common/grpc-errors';
import { toTimestamp } from '../../common/protobuf-time';
import {
  UninstallRequest,
  UninstallResponse,
  UninstallServiceController,
  UninstallServiceControllerMethods,
} from '../../generated/mamori/v1/uninstall';
import { AgentAuthenticator } from './agent-authenticator';
import { UninstallCodesService, UninstallRefused } from './uninstall-codes.service';

/** gRPC adapter for mamori.v1.UninstallService; the agent id comes from the client certificate. */
@Controller()
@UseInterceptors(GrpcMetricsInterceptor)
@UninstallServiceControllerMethods()
export class UninstallGrpcController implements UninstallServiceController {
  constructor(
    private readonly authenticator: AgentAuthenticator,
    private readonly codes: UninstallCodesService,
  ) {}

  async uninstall(request: UninstallRequest, _metadata?: Metadata, call?: ServerUnaryCall<unknown, unknown>): Promise<UninstallResponse> {
    const agent = await this.authenticator.authenticate(call);
    try {
      const at = await this.codes.redeem(agent.agentId, request.uninstallCode ?? '', call?.getPeer() ?? 'unknown');
      return { uninstalledAt: toTimestamp(at) };
    } catch (error) {
      if (error instanceof UninstallRefused) {
        throw grpcError(error.reason === 'wrong_code' ? status.PERMISSION_DENIED : status.FAILED_PRECONDITION, error.message);
      }
      throw error;
    }
  }
}
