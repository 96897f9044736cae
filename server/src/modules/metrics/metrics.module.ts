import { Global, Module } from '@nestjs/common';
import { ViolationsModule } from '../violations/violations.module';
import { GrpcMetricsInterceptor } from './grpc-metrics.interceptor';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';

/** Prometheus metrics: the registry every module may count into, and GET /metrics. */
@Global()
@Module({
  imports: [ViolationsModule],
  providers: [MetricsService, GrpcMetricsInterceptor],
  controllers: [MetricsController],
  exports: [MetricsService, GrpcMetricsInterceptor],
})
export class MetricsModule {}
