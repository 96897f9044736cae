import { Controller, NotFoundException, UseInterceptors } from '@nestjs/common';
import { status, type Metadata, type ServerWritableStream } from '@grpc/grpc-js';
import { defer, from, mergeMap, Observable } from 'rxjs';
import { grpcError } from '../../common/grpc-errors';
import {
  DownloadReleaseRequest,
  DownloadReleaseResponse,
  ReleaseServiceController,
  ReleaseServiceControllerMethods,
} from '../../generated/mamori/v1/release';
import { AgentAuthenticator } from '../agents/agent-authenticator';
import { GrpcMetricsInterceptor } from '../metrics/grpc-metrics.interceptor';
import { ReleasesService } from './releases.service';

/** gRPC adapter for mamori.v1.ReleaseService: an enrolled agent downloads a stored bundle. */
@Controller()
@UseInterceptors(GrpcMetricsInterceptor)
@ReleaseServiceControllerMethods()
export class ReleaseGrpcController implements ReleaseServiceController {
  constructor(
    private readonly authenticator: AgentAuthenticator,
    private readonly releases: ReleasesService,
  ) {}

  /** An Observable, not an async handler (an async streaming handler hangs in Nest). */
  downloadRelease(request: DownloadReleaseRequest, _metadata?: Metadata, call?: ServerWritableStream<unknown, unknown>): Observable<DownloadReleaseResponse> {
    return defer(async () => {
      await this.authenticator.authenticate(call);
      try {
        return await this.releases.open(request.version ?? '', request.platform ?? '');
      } catch (error) {
        if (error instanceof NotFoundException) throw grpcError(status.NOT_FOUND, error.message);
        throw error;
      }
    }).pipe(
      mergeMap((opened) => {
        let offset = 0;
        return from(opened.chunks).pipe(
          mergeMap(async (data) => {
            const message = { offset: String(offset), data, sizeBytes: String(opened.sizeBytes) };
            offset += data.length;
            return message;
          }, 1),
        );
      }),
    );
  }
}
