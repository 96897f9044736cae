import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiProperty, ApiTags } from '@nestjs/swagger';
import { uuidParam } from '../../common/uuid-param';
import { CreateEnrollmentTokenDto } from './dto/create-enrollment-token.dto';
import { EnrollmentTokenEntity } from './enrollment-token.entity';
import { EnrollmentTokensService } from './enrollment-tokens.service';
import { ApiRoleForbiddenResponse } from '../../common/api-role-forbidden-response';
import { Roles } from '../auth/roles.decorator';
import { READERS } from '../auth/roles';

export class EnrollmentTokenView {
  @ApiProperty() id!: string;
  @ApiProperty() label!: string;
  @ApiProperty() createdAt!: string;
  @ApiProperty() expiresAt!: string;
  @ApiProperty({ nullable: true, type: Number }) maxUses!: number | null;
  @ApiProperty() uses!: number;
  @ApiProperty({ nullable: true, type: String }) revokedAt!: string | null;
  @ApiProperty({ enum: ['active', 'expired', 'revoked', 'used_up'] }) state!: string;
  @ApiProperty({ nullable: true, type: String, description: 'the network zone every agent it enrolls is required in; null: the installer may name any defined zone or none' })
  zone!: string | null;
}

export class CreatedEnrollmentTokenView extends EnrollmentTokenView {
  @ApiProperty({ description: 'the full token; shown only in this response' }) token!: string;
  @ApiProperty({ description: 'base64url SHA-256 of the CA certificate the agent must see' }) caPin!: string;
  @ApiProperty() enrollCommand!: string;
}

class EnrollmentTokenListView {
  @ApiProperty({ type: [EnrollmentTokenView] }) items!: EnrollmentTokenView[];
}

export function enrollmentTokenView(token: EnrollmentTokenEntity, now = new Date()): EnrollmentTokenView {
  const state =
    token.revokedAt !== null
      ? 'revoked'
      : token.expiresAt.getTime() <= now.getTime()
        ? 'expired'
        : token.maxUses !== null && token.uses >= token.maxUses
          ? 'used_up'
          : 'active';
  return {
    id: token.id,
    label: token.label,
    createdAt: token.createdAt.toISOString(),
    expiresAt: token.expiresAt.toISOString(),
    maxUses: token.maxUses,
    uses: token.uses,
    revokedAt: token.revokedAt?.toISOString() ?? null,
    state,
    zone: token.zone,
  };
}

/** REST: enrollment tokens. Secrets appear only in the create response. */
@ApiTags('enrollment-tokens')
@ApiBearerAuth()
@ApiRoleForbiddenResponse()
@Controller('api/v1/enrollment-tokens')
export class EnrollmentTokensController {
  constructor(private readonly tokens: EnrollmentTokensService) {}

  @Post()
  @Roles('it')
  @ApiCreatedResponse({ type: CreatedEnrollmentTokenView })
  async create(@Body() body: CreateEnrollmentTokenDto): Promise<CreatedEnrollmentTokenView> {
    const created = await this.tokens.create(body);
    return { ...enrollmentTokenView(created.entity), token: created.token, caPin: created.caPin, enrollCommand: created.enrollCommand };
  }

  @Get()
  @Roles(...READERS, 'it')
  @ApiOkResponse({ type: EnrollmentTokenListView })
  async list(): Promise<EnrollmentTokenListView> {
    return { items: (await this.tokens.list()).map((token) => enrollmentTokenView(token)) };
  }

  @Post(':id/revoke')
  @Roles('it')
  @HttpCode(200)
  @ApiOkResponse({ type: EnrollmentTokenView })
  async revoke(@Param('id', uuidParam('id')) id: string): Promise<EnrollmentTokenView> {
    return enrollmentTokenView(await this.tokens.revoke(id));
  }
}
