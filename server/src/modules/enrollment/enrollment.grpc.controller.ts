import { Controller } from '@nestjs/common';
import {
  EnrollmentServiceController,
  EnrollmentServiceControllerMethods,
  EnrollRequest,
  EnrollResponse,
} from '../../generated/mamori/v1/enrollment';
import { EnrollmentService } from './enrollment.service';

/** gRPC adapter for mamori.v1.EnrollmentService; the only RPC that needs no client certificate. */
@Controller()
@EnrollmentServiceControllerMethods()
export class EnrollmentGrpcController implements EnrollmentServiceController {
  constructor(private readonly enrollment: EnrollmentService) {}

  enroll(request: EnrollRequest): Promise<EnrollResponse> {
    return this.enrollment.enroll(request);
  }
}
