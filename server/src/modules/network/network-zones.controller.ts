import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiBadRequestResponse, ApiBearerAuth, ApiConflictResponse, ApiCreatedResponse, ApiNoContentResponse, ApiNotFoundResponse, ApiOkResponse, ApiQuery, ApiTags } from '@nestjs/swagger';
import { CreateNetworkZoneDto, UpdateNetworkZoneDto } from './dto/network-zone.dto';
import { DEFAULT_ADMIN_ACTOR, NetworkZonesService } from './network-zones.service';
import { NetworkZoneListView, NetworkZoneView } from './network-views';
import { ApiRoleForbiddenResponse } from '../../common/api-role-forbidden-response';
import { Roles } from '../auth/roles.decorator';
import { READERS } from '../auth/roles';
import { actingPerson } from '../../common/acting-person';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import type { Principal } from '../auth/principal';

/** REST: network zones (CONTROLS.md C2); every change publishes a policy version. */
@ApiTags('network')
@ApiBearerAuth()
@ApiRoleForbiddenResponse()
@Controller('api/v1/zones')
export class NetworkZonesController {
  constructor(private readonly zones: NetworkZonesService) {}

  @Get()
  @Roles(...READERS, 'it', 'approver')
  @ApiOkResponse({ type: NetworkZoneListView, description: 'in the order agents try them' })
  async list(): Promise<NetworkZoneListView> {
    return { items: await this.zones.list() };
  }

  @Get(':name')
  @Roles(...READERS, 'it', 'approver')
  @ApiOkResponse({ type: NetworkZoneView })
  @ApiNotFoundResponse()
  get(@Param('name') name: string): Promise<NetworkZoneView> {
    return this.zones.get(name);
  }

  @Post()
  @Roles('admin')
  @ApiCreatedResponse({ type: NetworkZoneView })
  @ApiBadRequestResponse({ description: 'a bad field, named in the message (cidrs[1], dnsSuffixes[0], mode, …)' })
  @ApiConflictResponse({ description: 'a zone of that name exists' })
  create(@Body() body: CreateNetworkZoneDto, @CurrentPrincipal() principal: Principal): Promise<NetworkZoneView> {
    return this.zones.create({ ...body, changedBy: actingPerson(principal, 'changedBy', body.changedBy) });
  }

  @Patch(':name')
  @Roles('admin')
  @ApiOkResponse({ type: NetworkZoneView })
  @ApiBadRequestResponse({ description: 'a bad field, named in the message' })
  @ApiNotFoundResponse()
  update(@Param('name') name: string, @Body() body: UpdateNetworkZoneDto, @CurrentPrincipal() principal: Principal): Promise<NetworkZoneView> {
    return this.zones.update(name, { ...body, changedBy: actingPerson(principal, 'changedBy', body.changedBy) });
  }

  @Delete(':name')
  @Roles('admin')
  @HttpCode(204)
  @ApiQuery({ name: 'changedBy', required: false, description: 'who deletes it, for the history (default: admin); signed-in users and API tokens: leave out or give their own username' })
  @ApiNoContentResponse()
  @ApiNotFoundResponse()
  @ApiConflictResponse({ description: 'active entries, pending requests or devices still name the zone' })
  async delete(@Param('name') name: string, @CurrentPrincipal() principal: Principal, @Query('changedBy') changedBy?: string): Promise<void> {
    const named = typeof changedBy === 'string' ? changedBy.trim().slice(0, 256) : undefined;
    await this.zones.delete(name, actingPerson(principal, 'changedBy', named) ?? DEFAULT_ADMIN_ACTOR);
  }
}
