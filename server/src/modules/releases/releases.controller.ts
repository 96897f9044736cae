import { BadRequestException, Body, Controller, Get, HttpCode, Post, Put, Query, Req } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiBody,
  ApiConflictResponse,
  ApiConsumes,
  ApiCreatedResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiPayloadTooLargeResponse,
  ApiProperty,
  ApiPropertyOptional,
  ApiTags,
} from '@nestjs/swagger';
import { IsOptional, IsString, Length } from 'class-validator';
import type { IncomingMessage } from 'node:http';
import { ApiRoleForbiddenResponse } from '../../common/api-role-forbidden-response';
import { readBody } from '../../common/read-body';
import { AgentsService } from '../agents/agents.service';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import { principalActor, type Principal } from '../auth/principal';
import { Roles } from '../auth/roles.decorator';
import { READERS } from '../auth/roles';
import { RELEASE_MAX_BYTES, ReleasesService, type AgentReleaseRecord } from './releases.service';
import type { PolicyAgentRelease } from './release-target';

export class SetReleaseTargetDto {
  @ApiPropertyOptional({ type: String, nullable: true, example: '0.2.0', description: 'the version every agent should run (stored with `mamori-server release add`); null: no upgrades, agents keep theirs' })
  @IsOptional()
  @IsString({ message: 'version must be a version like 1.2.3, or null' })
  @Length(1, 64, { message: 'version must be 1 to 64 characters, or null' })
  version?: string | null;
}

export class UploadReleaseQuery {
  @ApiProperty({ example: 'mamori-agent-0.2.0-linux-x64.tar.gz', description: 'the archive\'s file name as `npm run package:agent` made it: it names the version and platform' })
  @IsString({ message: 'fileName must be the archive\'s file name, e.g. mamori-agent-0.2.0-linux-x64.tar.gz' })
  @Length(1, 200, { message: 'fileName must be 1 to 200 characters' })
  fileName!: string;
}

/** What an uploaded archive may be sent as; anything else is most likely not the archive. */
const ARCHIVE_CONTENT_TYPES = /^(application\/gzip|application\/x-gzip|application\/octet-stream)\s*(;|$)/i;

export class AgentReleaseView {
  @ApiProperty() version!: string;
  @ApiProperty({ example: 'linux-x64' }) platform!: string;
  @ApiProperty() fileName!: string;
  @ApiProperty({ description: 'SHA-256 of the archive (hex); agents check it before unpacking' }) sha256!: string;
  @ApiProperty() sizeBytes!: number;
  @ApiProperty() uploadedBy!: string;
  @ApiProperty() uploadedAt!: string;
}

export class FleetAgentVersionView {
  @ApiProperty() agentId!: string;
  @ApiProperty() hostname!: string;
  @ApiProperty({ description: 'the version the agent reported in its last heartbeat' }) runningVersion!: string;
  @ApiProperty({ description: 'runs the target version (true when no target is set)' }) onTarget!: boolean;
}

export class AgentReleasesView {
  @ApiProperty({ type: Object, nullable: true, description: 'the target version and its bundles per platform; null: no upgrades' }) target!: PolicyAgentRelease | null;
  @ApiProperty({ type: [AgentReleaseView] }) items!: AgentReleaseView[];
  @ApiProperty({ type: [FleetAgentVersionView], description: 'enrolled agents: the version each runs against the target' }) agents!: FleetAgentVersionView[];
}

export function agentReleaseView(record: AgentReleaseRecord): AgentReleaseView {
  return { ...record, uploadedAt: record.uploadedAt.toISOString() };
}

/** REST: the register of agent releases and the fleet's target version (README "Upgrades"). */
@ApiTags('agent-releases')
@ApiBearerAuth()
@ApiRoleForbiddenResponse()
@Controller('api/v1/agent-releases')
export class ReleasesController {
  constructor(
    private readonly releases: ReleasesService,
    private readonly agents: AgentsService,
  ) {}

  @Get()
  @Roles(...READERS, 'it')
  @ApiOkResponse({ type: AgentReleasesView })
  async list(): Promise<AgentReleasesView> {
    return this.view();
  }

  /**
   * Stores an agent bundle, as `mamori-server release add` does, for collectors whose machine the
   * administrator does not log in to (a container, a cluster). Administrators only: once it is
   * the target, the bundle runs as root on every laptop.
   */
  @Post()
  @Roles('admin')
  @HttpCode(201)
  @ApiConsumes('application/gzip', 'application/octet-stream')
  @ApiBody({ description: 'the archive\'s bytes (curl --data-binary @file)', schema: { type: 'string', format: 'binary' } })
  @ApiCreatedResponse({ type: AgentReleaseView })
  @ApiBadRequestResponse({ description: 'not sent as application/gzip, a file name that is no bundle\'s, or an archive that is not that bundle (the reason is in the message)' })
  @ApiConflictResponse({ description: 'that version is already stored for that platform (a version\'s bytes are never replaced)' })
  @ApiPayloadTooLargeResponse({ description: `larger than ${RELEASE_MAX_BYTES} bytes` })
  async upload(@Query() query: UploadReleaseQuery, @Req() request: IncomingMessage, @CurrentPrincipal() principal: Principal): Promise<AgentReleaseView> {
    const type = request.headers['content-type'] ?? '';
    if (!ARCHIVE_CONTENT_TYPES.test(type)) {
      throw new BadRequestException(`send the bundle archive as content-type application/gzip (or application/octet-stream), got ${type === '' ? 'none' : type}`);
    }
    const archive = await readBody(request, RELEASE_MAX_BYTES);
    return agentReleaseView(await this.releases.add(query.fileName, archive, principalActor(principal).name));
  }

  /** Sets (or with null clears) the version agents should run; publishes a policy version. */
  @Put('target')
  @Roles('admin', 'it')
  @ApiOkResponse({ type: AgentReleasesView })
  @ApiBadRequestResponse({ description: 'not a version' })
  @ApiNotFoundResponse({ description: 'no bundle of that version is stored' })
  async setTarget(@Body() body: SetReleaseTargetDto): Promise<AgentReleasesView> {
    await this.releases.setTarget(body.version ?? null);
    return this.view();
  }

  private async view(): Promise<AgentReleasesView> {
    const target = await this.releases.target();
    const agents = (await this.agents.list()).filter((agent) => agent.status === 'enrolled');
    return {
      target,
      items: (await this.releases.list()).map(agentReleaseView),
      agents: agents.map((agent) => ({ agentId: agent.id, hostname: agent.hostname, runningVersion: agent.agentVersion, onTarget: target === null || agent.agentVersion === target.version })),
    };
  }
}
