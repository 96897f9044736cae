import { Body, Controller, Param, Patch } from '@nestjs/common';
import { ApiBadRequestResponse, ApiBearerAuth, ApiNotFoundResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { uuidParam } from '../../common/uuid-param';
import { agentView, AgentView } from '../agents/agents.controller';
import { AgentsService } from '../agents/agents.service';
import { AgentZoneService } from './agent-zone.service';
import { SetRequiredZoneDto } from './dto/required-zone.dto';
import { ApiRoleForbiddenResponse } from '../../common/api-role-forbidden-response';
import { Roles } from '../auth/roles.decorator';
import { actingPerson } from '../../common/acting-person';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import type { Principal } from '../auth/principal';

/** REST: the zone a device must be in (a partner's machine marked as belonging to the development LAN). */
@ApiTags('agents')
@ApiBearerAuth()
@ApiRoleForbiddenResponse()
@Controller('api/v1/agents')
export class AgentZoneController {
  constructor(
    private readonly zones: AgentZoneService,
    private readonly agents: AgentsService,
  ) {}

  @Patch(':id/required-zone')
  @Roles('admin')
  @ApiOkResponse({ type: AgentView, description: 'set; the last reported zone is judged at once (network.wrong_zone)' })
  @ApiBadRequestResponse({ description: 'zone names no defined zone' })
  @ApiNotFoundResponse()
  async setRequiredZone(@Param('id', uuidParam('id')) id: string, @Body() body: SetRequiredZoneDto, @CurrentPrincipal() principal: Principal): Promise<AgentView> {
    await this.zones.setRequiredZone(id, body.zone, actingPerson(principal, 'changedBy', body.changedBy));
    return agentView(await this.agents.get(id));
  }
}
