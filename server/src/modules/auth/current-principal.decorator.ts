import { createParamDecorator, ExecutionContext, InternalServerErrorException } from '@nestjs/common';
import type { Principal } from './principal';

/** Where the guard leaves the authenticated caller on the Express request. */
export interface RequestWithPrincipal {
  principal?: Principal;
  /** For a session-authenticated request: the session's CSRF token and absolute expiry. */
  authSession?: { csrfToken: string; expiresAt: Date };
}

/**
 * The authenticated caller of this request (set by the global AuthGuard). On a @Public() route
 * there is none, and asking for it is a programming error.
 */
export const CurrentPrincipal = createParamDecorator((_data: unknown, context: ExecutionContext): Principal => {
  const principal = context.switchToHttp().getRequest<RequestWithPrincipal>().principal;
  if (principal === undefined) throw new InternalServerErrorException('this route reads the caller, but no one was authenticated for it');
  return principal;
});
