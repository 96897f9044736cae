import { BadRequestException, Body, Controller, ForbiddenException, Get, HttpCode, Post, Req, Res } from '@nestjs/common';
import { ApiBadRequestResponse, ApiBearerAuth, ApiCookieAuth, ApiNoContentResponse, ApiOkResponse, ApiProperty, ApiTags, ApiTooManyRequestsResponse, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { ApiRoleForbiddenResponse } from '../../common/api-role-forbidden-response';
import { clientAddressOf } from '../audit/audit-context';
import { Public } from '../admin-auth/public.decorator';
import { crossSiteDecision, sessionCookie } from './auth.rules';
import { CurrentPrincipal, type RequestWithPrincipal } from './current-principal.decorator';
import { ChangeOwnPasswordDto, LoginDto } from './dto/auth.dto';
import { verifyPassword } from './password-hash';
import type { Principal } from './principal';
import { ROLES, type Role } from './roles';
import { Roles } from './roles.decorator';
import { SessionsService, SignInThrottledException } from './sessions.service';
import { UsersService } from './users.service';

/** The parts of Express's request and response these handlers use. */
export interface HttpRequest {
  ip?: string;
  secure?: boolean;
  socket?: { remoteAddress?: string };
  headers: Record<string, string | string[] | undefined>;
}
export interface HttpResponse {
  setHeader(name: string, value: string | number | readonly string[]): unknown;
}

class SessionUserView {
  @ApiProperty() id!: string;
  @ApiProperty() username!: string;
  @ApiProperty() displayName!: string;
  @ApiProperty({ enum: ROLES, isArray: true }) roles!: Role[];
}

export class SessionView {
  @ApiProperty({ type: SessionUserView }) user!: SessionUserView;
  @ApiProperty({ nullable: true, type: String, description: 'send as X-CSRF-Token with every request that changes something; null for token callers' })
  csrfToken!: string | null;
  @ApiProperty({ nullable: true, type: String, description: 'when the session ends at the latest (it also ends after the idle limit)' })
  expiresAt!: string | null;
}

function isSecure(request: HttpRequest): boolean {
  const forwarded = request.headers['x-forwarded-proto'];
  return request.secure === true || (typeof forwarded === 'string' && forwarded.split(',')[0].trim().toLowerCase() === 'https');
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** REST: console sign-in. The session lives in an HttpOnly, SameSite=Strict cookie; scripts use API tokens instead. */
@ApiTags('auth')
@Controller('api/v1/auth')
export class AuthController {
  constructor(
    private readonly sessions: SessionsService,
    private readonly users: UsersService,
  ) {}

  @Post('login')
  @Public()
  @HttpCode(200)
  @ApiOkResponse({ type: SessionView, description: 'signed in; Set-Cookie: mamori_session (HttpOnly, SameSite=Strict)' })
  @ApiUnauthorizedResponse({ description: 'username or password is wrong (the same answer for an unknown or disabled user)' })
  @ApiTooManyRequestsResponse({ description: 'too many failed sign-ins for this username or from this address; Retry-After says when to try again' })
  async login(@Body() body: LoginDto, @Req() request: HttpRequest, @Res({ passthrough: true }) response: HttpResponse): Promise<SessionView> {
    // A page on another site must not sign the browser in to an account of its choosing.
    const crossSite = crossSiteDecision(single(request.headers.origin), single(request.headers.host), single(request.headers['sec-fetch-site']));
    if (crossSite !== null) throw new ForbiddenException(crossSite);
    const address = clientAddressOf(request.ip ?? request.socket?.remoteAddress);
    try {
      const opened = await this.sessions.signIn(body.username, body.password, address);
      response.setHeader('Set-Cookie', sessionCookie(opened.secret, isSecure(request), (opened.expiresAt.getTime() - Date.now()) / 1000));
      const { id, username, displayName, roles } = opened.user;
      return { user: { id, username, displayName, roles }, csrfToken: opened.csrfToken, expiresAt: opened.expiresAt.toISOString() };
    } catch (error) {
      if (error instanceof SignInThrottledException) response.setHeader('Retry-After', String(error.retryAfterSeconds));
      throw error;
    }
  }

  @Get('session')
  @Roles(...ROLES)
  @ApiBearerAuth()
  @ApiCookieAuth()
  @ApiOkResponse({ type: SessionView })
  @ApiUnauthorizedResponse({ description: 'not signed in, or the session has ended' })
  session(@CurrentPrincipal() principal: Principal, @Req() request: RequestWithPrincipal): SessionView {
    const user = { id: principal.userId ?? principal.id, username: principal.username, displayName: principal.displayName, roles: principal.roles };
    const session = request.authSession;
    if (principal.kind !== 'user' || session === undefined) return { user, csrfToken: null, expiresAt: null };
    return { user, csrfToken: session.csrfToken, expiresAt: session.expiresAt.toISOString() };
  }

  @Post('logout')
  @Roles(...ROLES)
  @HttpCode(204)
  @ApiCookieAuth()
  @ApiNoContentResponse({ description: 'the session is ended and its cookie cleared' })
  async logout(@CurrentPrincipal() principal: Principal, @Req() request: HttpRequest, @Res({ passthrough: true }) response: HttpResponse): Promise<void> {
    await this.sessions.signOut(principal);
    response.setHeader('Set-Cookie', sessionCookie(null, isSecure(request), 0));
  }

  @Post('password')
  @Roles(...ROLES)
  @HttpCode(204)
  @ApiCookieAuth()
  @ApiNoContentResponse({ description: 'password changed; the user\'s other sessions are ended' })
  @ApiBadRequestResponse({ description: 'currentPassword is wrong, or the new password is too short or too long' })
  @ApiRoleForbiddenResponse()
  async changePassword(@CurrentPrincipal() principal: Principal, @Body() body: ChangeOwnPasswordDto): Promise<void> {
    if (principal.kind !== 'user' || principal.userId === null) {
      throw new ForbiddenException('only a signed-in user can change their own password (not an API token or the administrator token)');
    }
    const user = await this.users.get(principal.userId);
    if (user.passwordHash === null || !(await verifyPassword(body.currentPassword, user.passwordHash))) {
      // 400, not 401: the session is fine, and a console treats 401 as "signed out".
      throw new BadRequestException('currentPassword is wrong');
    }
    await this.users.setPassword(user.id, body.newPassword, { action: 'user.password_changed', keepSessionId: principal.sessionId, field: 'newPassword' });
  }
}
