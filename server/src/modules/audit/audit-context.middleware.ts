import { Injectable, NestMiddleware } from '@nestjs/common';
import { clientAddressOf, runWithAuditContext } from './audit-context';

interface IncomingRequest {
  ip?: string;
  socket?: { remoteAddress?: string };
}

/**
 * Opens an audit context for every REST request, so services record who and from where without
 * taking new parameters: the client address now, the actor once the guard has authenticated
 * the caller. Express runs the rest of the request (guards, pipes, the handler) inside next().
 */
@Injectable()
export class AuditContextMiddleware implements NestMiddleware {
  use(request: IncomingRequest, _response: unknown, next: (error?: unknown) => void): void {
    runWithAuditContext({ actor: null, sourceAddress: clientAddressOf(request.ip ?? request.socket?.remoteAddress) }, () => next());
  }
}
