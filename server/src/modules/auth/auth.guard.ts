import { CanActivate, ExecutionContext, ForbiddenException, Injectable, InternalServerErrorException, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { adminTokenActor, setCurrentActor } from '../audit/audit-context';
import { AdminAuthService } from '../admin-auth/admin-auth.service';
import { PUBLIC_ROUTE } from '../admin-auth/public.decorator';
import { ApiTokensService } from './api-tokens.service';
import { credentialOf, crossSiteDecision, csrfDecision, CSRF_HEADER, isUnsafeMethod, NO_CREDENTIAL_MESSAGE, roleDecision, routeAccessOf } from './auth.rules';
import type { RequestWithPrincipal } from './current-principal.decorator';
import { adminTokenPrincipal, principalActor, type Principal } from './principal';
import { REQUIRED_ROLES } from './roles.decorator';
import type { Role } from './roles';
import { sameSecret, SessionsService } from './sessions.service';

export interface GuardedRequest extends RequestWithPrincipal {
  method: string;
  headers: Record<string, string | string[] | undefined>;
}

function header(request: GuardedRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The collector's one REST guard. It declines a route that declares neither @Public() nor
 * @Roles() (500: fail closed), makes a Principal from the request's credential (an API token,
 * the administrator token, or the session cookie), holds session-cookie requests that change
 * something to the CSRF token and to same-site origins, and lets the caller in when it holds
 * one of the route's roles (else 403 naming them). The rest of the request sees the caller as
 * `request.principal` (@CurrentPrincipal()) and in the audit context.
 *
 * Adding a sign-in method (OIDC) means adding a producer of Principals (sessions opened by the
 * OIDC callback are ordinary sessions); nothing here or on any route changes.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly adminAuth: AdminAuthService,
    private readonly sessions: SessionsService,
    private readonly apiTokens: ApiTokensService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    // gRPC is authenticated by the agent's certificate instead.
    if (context.getType() !== 'http') return true;
    const targets = [context.getHandler(), context.getClass()];
    const access = routeAccessOf(
      this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, targets),
      this.reflector.getAllAndOverride<Role[]>(REQUIRED_ROLES, targets),
    );
    if (access.kind === 'public') return true;
    if (access.kind === 'undeclared') {
      throw new InternalServerErrorException(`route has no role declaration (${context.getClass().name}.${context.getHandler().name} needs @Roles or @Public)`);
    }
    const request = context.switchToHttp().getRequest<GuardedRequest>();
    const principal = await this.authenticate(request);
    const forbidden = roleDecision(access.roles, principal.roles);
    if (forbidden !== null) throw new ForbiddenException(forbidden);
    return true;
  }

  /**
   * For a response that stays open (the violation stream): whether the request's credential still
   * authenticates and still holds one of `roles`, checked without counting as session activity.
   * Null while it does; else the status (401: signed out, expired, disabled, revoked; 403: the
   * role was taken away) and the message a refused request would get.
   */
  async recheck(request: GuardedRequest, roles: readonly Role[]): Promise<{ statusCode: 401 | 403; message: string } | null> {
    try {
      const principal = await this.authenticate(request, { touch: false });
      const forbidden = roleDecision(roles, principal.roles);
      return forbidden === null ? null : { statusCode: 403, message: forbidden.message };
    } catch (error) {
      if (error instanceof UnauthorizedException) return { statusCode: 401, message: error.message };
      if (error instanceof ForbiddenException) return { statusCode: 403, message: error.message };
      throw error;
    }
  }

  private async authenticate(request: GuardedRequest, options: { touch?: boolean } = {}): Promise<Principal> {
    const credential = credentialOf(header(request, 'authorization'), header(request, 'cookie'));
    let principal: Principal;
    switch (credential.kind) {
      case 'none':
        throw new UnauthorizedException(NO_CREDENTIAL_MESSAGE);
      case 'malformed':
        throw new UnauthorizedException(credential.problem);
      case 'api-token':
        principal = await this.apiTokens.authenticate(credential.id, credential.secret);
        setCurrentActor(principalActor(principal));
        break;
      case 'admin-token': {
        if (!(await this.adminAuth.verify(credential.token))) throw new UnauthorizedException('administrator token is not valid');
        const actor = adminTokenActor(credential.token);
        principal = adminTokenPrincipal(actor.id);
        setCurrentActor(actor);
        break;
      }
      case 'session': {
        const session = await this.sessions.authenticate(credential.secret, new Date(), options);
        if (isUnsafeMethod(request.method)) {
          const crossSite = crossSiteDecision(header(request, 'origin'), header(request, 'host'), header(request, 'sec-fetch-site'));
          if (crossSite !== null) throw new ForbiddenException(crossSite);
        }
        const csrf = csrfDecision(request.method, session.csrfToken, header(request, CSRF_HEADER), sameSecret);
        if (csrf !== null) throw new ForbiddenException(csrf);
        principal = session.principal;
        request.authSession = { csrfToken: session.csrfToken, expiresAt: session.expiresAt };
        setCurrentActor(principalActor(principal));
        break;
      }
    }
    request.principal = principal;
    return principal;
  }
}
