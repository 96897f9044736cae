import { Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { uuidParam } from '../../common/uuid-param';
import { AgentEntity } from './agent.entity';
import { AgentsService } from './agents.service';
import { UninstallCodesService } from './uninstall-codes.service';
import { ApiRoleForbiddenResponse } from '../../common/api-role-forbidden-response';
import { Roles } from '../auth/roles.decorator';
import { READERS } from '../auth/roles';

export class UninstallCodeView {
  @ApiProperty() agentId!: string;
  @ApiProperty({ description: 'shown only in this answer (stored hashed); give it to the person removing the agent: `uninstall.sh --code CODE`' }) code!: string;
  @ApiProperty() issuedAt!: string;
}

export class AgentView {
  @ApiProperty() id!: string;
  @ApiProperty({ enum: ['enrolled', 'revoked'] }) status!: string;
  @ApiProperty() hostname!: string;
  @ApiProperty({ description: 'host identity facts from the last heartbeat (or enrollment)' }) facts!: Record<string, unknown>;
  @ApiProperty({ nullable: true, type: Object }) posture!: Record<string, unknown> | null;
  @ApiProperty({ nullable: true, type: Object }) health!: Record<string, unknown> | null;
  @ApiProperty() enrolledAt!: string;
  @ApiProperty({ nullable: true, type: String }) revokedAt!: string | null;
  @ApiProperty({ nullable: true, type: String }) lastSeenAt!: string | null;
  @ApiProperty({ description: 'the policy version the agent runs, from its last heartbeat (0: none yet)' }) policyVersion!: number;
  @ApiProperty({ nullable: true, type: String, description: 'the network zone the device must be in (PATCH /agents/:id/required-zone); null: none' }) requiredZone!: string | null;
  @ApiProperty({ description: "the zone the agent last reported its host in ('' when none matched or not reported)" }) reportedZone!: string;
  @ApiProperty() certificateExpiresAt!: string;
  @ApiPropertyOptional() eventCount?: number;
}

class AgentListView {
  @ApiProperty({ type: [AgentView] }) items!: AgentView[];
}

export function agentView(agent: AgentEntity): AgentView {
  return {
    id: agent.id,
    status: agent.status,
    hostname: agent.hostname,
    facts: {
      hostname: agent.hostname,
      osFamily: agent.osFamily,
      osVersion: agent.osVersion,
      agentVersion: agent.agentVersion,
      architecture: agent.architecture,
      machineId: agent.machineId,
      hardwareSerial: agent.hardwareSerial,
      hardwareModel: agent.hardwareModel,
      hardwareVendor: agent.hardwareVendor,
      loggedInUsers: agent.loggedInUsers,
      networkInterfaces: agent.networkInterfaces,
    },
    posture: agent.posture,
    health: agent.health,
    enrolledAt: agent.enrolledAt.toISOString(),
    revokedAt: agent.revokedAt?.toISOString() ?? null,
    lastSeenAt: agent.lastSeenAt?.toISOString() ?? null,
    policyVersion: agent.policyVersion,
    requiredZone: agent.requiredZone,
    reportedZone: typeof agent.posture?.networkZone === 'string' ? agent.posture.networkZone : '',
    certificateExpiresAt: agent.certExpiresAt.toISOString(),
  };
}

/** REST: the agent registry. */
@ApiTags('agents')
@ApiBearerAuth()
@ApiRoleForbiddenResponse()
@Controller('api/v1/agents')
export class AgentsController {
  constructor(
    private readonly agents: AgentsService,
    private readonly uninstallCodes: UninstallCodesService,
  ) {}

  @Get()
  @Roles(...READERS, 'it')
  @ApiOkResponse({ type: AgentListView })
  async list(): Promise<AgentListView> {
    return { items: (await this.agents.list()).map(agentView) };
  }

  @Get(':id')
  @Roles(...READERS, 'it')
  @ApiOkResponse({ type: AgentView })
  async get(@Param('id', uuidParam('id')) id: string): Promise<AgentView> {
    const agent = await this.agents.get(id);
    return { ...agentView(agent), eventCount: await this.agents.eventCount(id) };
  }

  @Post(':id/revoke')
  @Roles('it')
  @HttpCode(200)
  @ApiOkResponse({ type: AgentView })
  async revoke(@Param('id', uuidParam('id')) id: string): Promise<AgentView> {
    return agentView(await this.agents.revoke(id));
  }

  /** A new uninstall code for this device (replacing any earlier one), shown once. */
  @Post(':id/uninstall-code')
  @Roles('it')
  @ApiCreatedResponse({ type: UninstallCodeView })
  async issueUninstallCode(@Param('id', uuidParam('id')) id: string): Promise<UninstallCodeView> {
    const issued = await this.uninstallCodes.issue(id);
    return { agentId: issued.agentId, code: issued.code, issuedAt: issued.issuedAt.toISOString() };
  }
}
