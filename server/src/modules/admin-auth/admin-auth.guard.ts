import { CanActivate, ExecutionContext, Injectable, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { adminTokenActor, setCurrentActor } from '../audit/audit-context';
import { AdminAuthService } from './admin-auth.service';
import { PUBLIC_ROUTE } from './public.decorator';

/** Every REST route needs `Authorization: Bearer <admin token>` unless marked @Public(). gRPC is authenticated by certificate instead. */
@Injectable()
export class AdminAuthGuard implements CanActivate {
  constructor(
    private readonly auth: AdminAuthService,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, [context.getHandler(), context.getClass()])) return true;
    const header = context.switchToHttp().getRequest<{ headers: Record<string, string | undefined> }>().headers.authorization;
    if (header === undefined) throw new UnauthorizedException('Authorization header with a Bearer administrator token is required');
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (match === null) throw new UnauthorizedException('Authorization header must be "Bearer <administrator token>"');
    if (!(await this.auth.verify(match[1]))) throw new UnauthorizedException('administrator token is not valid');
    // The audit log's seam: whoever authenticated the request names its actor.
    setCurrentActor(adminTokenActor(match[1]));
    return true;
  }
}
