import type { Server } from '@grpc/grpc-js';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check';

export const GRPC_SERVICE_NAMES = ['mamori.v1.EnrollmentService', 'mamori.v1.TelemetryService', 'mamori.v1.PolicyService'];

/**
 * Adds grpc.health.v1.Health and server reflection to the collector's gRPC server, so stock
 * tools (grpc_health_probe, grpcurl) work. Both answer without a client certificate.
 */
export function addStandardGrpcServices(packageDefinition: PackageDefinition, server: Server): HealthImplementation {
  const health = new HealthImplementation({ '': 'SERVING', ...Object.fromEntries(GRPC_SERVICE_NAMES.map((name) => [name, 'SERVING' as const])) });
  health.addToServer(server);
  // Reflection describes what it is given: add the health service's definition so that
  // `grpcurl list` shows every service the port answers.
  const healthDefinition = loadSync(healthProtoPath, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  new ReflectionService({ ...packageDefinition, ...healthDefinition }).addToServer(server);
  return health;
}
