import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { RpcException } from '@nestjs/microservices';
import { Observable } from 'rxjs';
import { MetricsService } from './metrics.service';

/** Server-streaming methods: each open call is also counted in mamori_grpc_streams_open. */
const STREAMING_METHODS = new Set(['/mamori.v1.PolicyService/WatchPolicy']);

/**
 * Times every gRPC handler from call to its end and labels it with the full method path and the
 * status code it ended with (what grpc-js sends: an RpcException's or error's numeric code, else
 * UNKNOWN). REST requests pass through untouched; their latency is measured by the HTTP
 * middleware, which sees the status the exception filters chose.
 */
@Injectable()
export class GrpcMetricsInterceptor implements NestInterceptor {
  constructor(private readonly metrics: MetricsService) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'rpc') return next.handle();
    const call = context.getArgs()[2] as { getPath?: () => string } | undefined;
    const method = call?.getPath?.() ?? `${context.getClass().name}.${context.getHandler().name}`;
    const streaming = STREAMING_METHODS.has(method);
    return new Observable((subscriber) => {
      const stop = this.metrics.grpcCalls.startTimer({ method });
      if (streaming) this.metrics.grpcStreamsOpen.inc({ method });
      let ended = false;
      const end = (code: number) => {
        if (ended) return;
        ended = true;
        stop({ code: GrpcStatus[code] ?? String(code) });
        if (streaming) this.metrics.grpcStreamsOpen.dec({ method });
      };
      const subscription = next.handle().subscribe({
          next: (value) => subscriber.next(value),
          error: (error: unknown) => {
            end(codeOf(error));
            subscriber.error(error);
          },
          complete: () => {
            end(GrpcStatus.OK);
            subscriber.complete();
          },
        });
      return () => {
        // Unsubscribed before the end: the client cancelled (or the server shut the stream).
        end(GrpcStatus.CANCELLED);
        subscription.unsubscribe();
      };
    });
  }
}

function codeOf(error: unknown): number {
  const payload = error instanceof RpcException ? error.getError() : error;
  const code = (payload as { code?: unknown } | null)?.code;
  return typeof code === 'number' && GrpcStatus[code] !== undefined ? code : GrpcStatus.UNKNOWN;
}
