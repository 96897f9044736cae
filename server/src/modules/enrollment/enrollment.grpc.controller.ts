import { Controller, UseInterceptors } from '@nestjs/common';
import { GrpcMetricsInterceptor } from '../metrics/grpc-metrics.interceptor';
import {
  EnrollmentServiceController,
  EnrollmentServiceControllerMethods,
  EnrollRequest,
  EnrollResponse,
} from '../../generated/mamori/v1/enrollment';
import { EnrollmentService } from './enrollment.service';

/** gRPC adapter for mamori.v1.EnrollmentService; the only RPC that needs no client certificate. */
@Controller()
@UseInterceptors(GrpcMetricsInterceptor)
@EnrollmentServiceControllerMethods()
export class EnrollmentGrpcController implements EnrollmentServiceController {
  constructor(private readonly enrollment: EnrollmentService) {}

  enroll(request: EnrollRequest): Promise<EnrollResponse> {
    return this.enrollment.enroll(request);
  }
}
