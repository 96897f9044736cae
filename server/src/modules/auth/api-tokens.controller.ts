import { Body, Controller, Delete, ForbiddenException, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBadRequestResponse, ApiBearerAuth, ApiCookieAuth, ApiCreatedResponse, ApiNoContentResponse, ApiNotFoundResponse, ApiOkResponse, ApiProperty, ApiTags } from '@nestjs/swagger';
import { ApiRoleForbiddenResponse } from '../../common/api-role-forbidden-response';
import { uuidParam } from '../../common/uuid-param';
import { ApiTokensService } from './api-tokens.service';
import { CurrentPrincipal } from './current-principal.decorator';
import { CreateApiTokenDto, ListApiTokensQuery } from './dto/auth.dto';
import type { Principal } from './principal';
import { ROLES, type Role } from './roles';
import { Roles } from './roles.decorator';

export class ApiTokenViewDto {
  @ApiProperty() id!: string;
  @ApiProperty() name!: string;
  @ApiProperty() userId!: string;
  @ApiProperty() username!: string;
  @ApiProperty({ enum: ROLES, isArray: true }) roles!: Role[];
  @ApiProperty() createdAt!: string;
  @ApiProperty() expiresAt!: string;
  @ApiProperty({ nullable: true, type: String }) lastUsedAt!: string | null;
  @ApiProperty({ nullable: true, type: String }) revokedAt!: string | null;
  @ApiProperty({ enum: ['active', 'expired', 'revoked'] }) state!: string;
}

export class CreatedApiTokenView extends ApiTokenViewDto {
  @ApiProperty({ description: 'mamori_pat_<id>_<secret>: shown only in this response; send as "Authorization: Bearer <token>"' }) token!: string;
}

class ApiTokenListView {
  @ApiProperty({ type: [ApiTokenViewDto] }) items!: ApiTokenViewDto[];
}

/** REST: API tokens for scripts, each owned by a signed-in user and limited to some of their roles. */
@ApiTags('api-tokens')
@ApiBearerAuth()
@ApiCookieAuth()
@ApiRoleForbiddenResponse()
@Roles(...ROLES)
@Controller('api/v1/api-tokens')
export class ApiTokensController {
  constructor(private readonly tokens: ApiTokensService) {}

  @Post()
  @Roles(...ROLES)
  @ApiCreatedResponse({ type: CreatedApiTokenView })
  @ApiBadRequestResponse({ description: 'no name, no role, or expiresInDays outside 1 to 365' })
  create(@CurrentPrincipal() principal: Principal, @Body() body: CreateApiTokenDto): Promise<CreatedApiTokenView> {
    return this.tokens.create(principal, body);
  }

  @Get()
  @Roles(...ROLES)
  @ApiOkResponse({ type: ApiTokenListView })
  async list(@CurrentPrincipal() principal: Principal, @Query() query: ListApiTokensQuery): Promise<ApiTokenListView> {
    if (query.all === true && !principal.roles.includes('admin')) {
      throw new ForbiddenException({ statusCode: 403, error: 'Forbidden', message: `all=true needs the role admin; you hold ${principal.roles.join(', ') || 'no role'}`, requiredRoles: ['admin'], heldRoles: principal.roles });
    }
    return { items: await this.tokens.list(principal, query.all === true) };
  }

  @Delete(':id')
  @Roles(...ROLES)
  @HttpCode(204)
  @ApiNoContentResponse({ description: 'revoked (it stops working at once)' })
  @ApiNotFoundResponse({ description: 'no such token of the caller (an admin may revoke anyone\'s)' })
  async revoke(@CurrentPrincipal() principal: Principal, @Param('id', uuidParam('id')) id: string): Promise<void> {
    await this.tokens.revoke(principal, id);
  }
}
