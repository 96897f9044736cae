import { Metadata, status } from '@grpc/grpc-js';
import { RpcException } from '@nestjs/microservices';

/**
 * An RpcException whose payload grpc-js turns into the status, message and trailing metadata
 * of the call (it reads `code`, `details` and a Metadata `metadata`).
 */
export function grpcError(code: status, message: string, trailers?: Record<string, string>): RpcException {
  const metadata = new Metadata();
  for (const [key, value] of Object.entries(trailers ?? {})) metadata.set(key, value);
  return new RpcException({ code, message, details: message, metadata });
}

export const unauthenticated = (message: string) => grpcError(status.UNAUTHENTICATED, message);
export const invalidArgument = (message: string, trailers?: Record<string, string>) => grpcError(status.INVALID_ARGUMENT, message, trailers);
