import { Body, Controller, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiBadRequestResponse, ApiBearerAuth, ApiConflictResponse, ApiCreatedResponse, ApiNotFoundResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { cursorOf, DEFAULT_PAGE_SIZE, timeWindowOf } from '../../common/list-query.dto';
import { uuidParam } from '../../common/uuid-param';
import { protocolName } from '../policy/network-names';
import { CheckDestinationQuery, ListWhitelistHistoryQuery, ListWhitelistQuery } from './dto/network-queries';
import { CreateWhitelistEntryDto, ExpireWhitelistEntryDto, UpdateWhitelistEntryDto } from './dto/whitelist-entry.dto';
import { DestinationCheckView, WhitelistEntryPageView, WhitelistEntryView, WhitelistHistoryPageView } from './network-views';
import { WhitelistService } from './whitelist.service';
import { ApiRoleForbiddenResponse } from '../../common/api-role-forbidden-response';
import { Roles } from '../auth/roles.decorator';
import { READERS } from '../auth/roles';
import { requireActingPerson } from '../../common/acting-person';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import type { Principal } from '../auth/principal';

/**
 * REST: the destination whitelist (CONTROLS.md C3). The fixed routes (check, history) come before
 * /:id, and the requests controller is registered before this one, so /whitelist/requests is
 * never taken for an entry id.
 */
@ApiTags('network')
@ApiBearerAuth()
@ApiRoleForbiddenResponse()
@Controller('api/v1/whitelist')
export class WhitelistController {
  constructor(private readonly whitelist: WhitelistService) {}

  @Get('check')
  @Roles(...READERS, 'it', 'approver')
  @ApiOkResponse({ type: DestinationCheckView, description: 'the verdict of the current policy version, by the matcher agents run' })
  @ApiBadRequestResponse({ description: 'a bad host, ip or port (named in the message)' })
  check(@Query() query: CheckDestinationQuery): DestinationCheckView {
    const answer = this.whitelist.check(query);
    return {
      ...answer,
      entry:
        answer.entry === null
          ? null
          : { ...answer.entry, protocol: protocolName(answer.entry.protocol), expiresAt: answer.entry.expiresAt === null ? null : new Date(answer.entry.expiresAt).toISOString() },
    };
  }

  @Get('history')
  @Roles(...READERS, 'it', 'approver')
  @ApiOkResponse({ type: WhitelistHistoryPageView, description: 'every step on zones, entries, requests and required zones, newest first' })
  history(@Query() query: ListWhitelistHistoryQuery): Promise<WhitelistHistoryPageView> {
    return this.whitelist.history({ kind: query.kind, subjectId: query.subjectId, ...timeWindowOf(query) }, query.limit ?? DEFAULT_PAGE_SIZE, cursorOf(query, 'uuid'));
  }

  @Get()
  @Roles(...READERS, 'it', 'approver')
  @ApiOkResponse({ type: WhitelistEntryPageView, description: 'newest first; active entries unless status or includeExpired say otherwise' })
  list(@Query() query: ListWhitelistQuery): Promise<WhitelistEntryPageView> {
    return this.whitelist.list(
      { zone: query.zone, q: query.q, status: query.status, includeExpired: query.includeExpired, ...timeWindowOf(query) },
      query.limit ?? DEFAULT_PAGE_SIZE,
      cursorOf(query, 'uuid'),
    );
  }

  @Post()
  @Roles('admin')
  @ApiCreatedResponse({ type: WhitelistEntryView, description: 'added and approved; the next policy version (published now) carries it' })
  @ApiBadRequestResponse({ description: 'a bad field, named in the message (hostPattern, cidr, ports[0], zone, expiresAt, …)' })
  create(@Body() body: CreateWhitelistEntryDto, @CurrentPrincipal() principal: Principal): Promise<WhitelistEntryView> {
    // requestedBy names whoever asked for the entry (not the caller), so it stays as the body says.
    return this.whitelist.create({ ...body, approvedBy: requireActingPerson(principal, 'approvedBy', body.approvedBy) });
  }

  @Get(':id')
  @Roles(...READERS, 'it', 'approver')
  @ApiOkResponse({ type: WhitelistEntryView })
  @ApiNotFoundResponse()
  get(@Param('id', uuidParam('id')) id: string): Promise<WhitelistEntryView> {
    return this.whitelist.get(id);
  }

  @Patch(':id')
  @Roles('admin')
  @ApiOkResponse({ type: WhitelistEntryView, description: 'changed; a new policy version carries the change' })
  @ApiBadRequestResponse({ description: 'a bad field, named in the message' })
  @ApiConflictResponse({ description: 'the entry has ended' })
  update(@Param('id', uuidParam('id')) id: string, @Body() body: UpdateWhitelistEntryDto, @CurrentPrincipal() principal: Principal): Promise<WhitelistEntryView> {
    return this.whitelist.update(id, { ...body, changedBy: requireActingPerson(principal, 'changedBy', body.changedBy) });
  }

  @Post(':id/expire')
  @Roles('admin')
  @HttpCode(200)
  @ApiOkResponse({ type: WhitelistEntryView, description: 'ended now (status revoked); a new policy version no longer carries it' })
  @ApiConflictResponse({ description: 'the entry has ended already' })
  expire(@Param('id', uuidParam('id')) id: string, @Body() body: ExpireWhitelistEntryDto, @CurrentPrincipal() principal: Principal): Promise<WhitelistEntryView> {
    return this.whitelist.expire(id, { ...body, expiredBy: requireActingPerson(principal, 'expiredBy', body.expiredBy) });
  }
}
