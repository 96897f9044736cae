import type { Server } from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';

export const GRPC_SERVICE_NAMES = ['mamori.v1.EnrollmentService', 'mamori.v1.TelemetryService', 'mamori.v1.PolicyService'];

/**
 * Adds grpc.health.v1.Health and server reflection to the collector's gRPC server, so stock
 * tools (grpc_health_probe, grpcurl) work. Both answer without a client certificate.
 */
export function addStandardGrpcServices(packageDefinition: PackageDefinition, server: Server): HealthImplementation {
  const health = new HealthImplementation({ '': 'SERVING', ...Object.fromEntries(GRPC_SERVICE_NAMES.map((name) => [name, 'SERVING' as const])) });
  health.addToServer(server);
  new ReflectionService(packageDefinition).addToServer(server);
  return health;
}
