import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBadRequestResponse, ApiBearerAuth, ApiConflictResponse, ApiCreatedResponse, ApiForbiddenResponse, ApiNotFoundResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { cursorOf, DEFAULT_PAGE_SIZE, timeWindowOf } from '../../common/list-query.dto';
import { uuidParam } from '../../common/uuid-param';
import { ListWhitelistRequestsQuery } from './dto/network-queries';
import { ApproveWhitelistRequestDto, RejectWhitelistRequestDto, RequestWhitelistEntryDto, WithdrawWhitelistRequestDto } from './dto/whitelist-request.dto';
import { WhitelistRequestPageView, WhitelistRequestView } from './network-views';
import { WhitelistRequestsService } from './whitelist-requests.service';
import { ApiRoleForbiddenResponse } from '../../common/api-role-forbidden-response';
import { Roles } from '../auth/roles.decorator';
import { READERS } from '../auth/roles';
import { actingPerson, requireActingPerson } from '../../common/acting-person';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import type { Principal } from '../auth/principal';

/** REST: applications for whitelist entries and their decisions (CONTROLS.md C3). */
@ApiTags('network')
@ApiBearerAuth()
@ApiRoleForbiddenResponse()
@Controller('api/v1/whitelist/requests')
export class WhitelistRequestsController {
  constructor(private readonly requests: WhitelistRequestsService) {}

  @Post()
  @Roles('admin', 'it', 'security')
  @ApiCreatedResponse({ type: WhitelistRequestView, description: 'filed, waiting for a decision' })
  @ApiBadRequestResponse({ description: 'a bad field, named in the message' })
  file(@Body() body: RequestWhitelistEntryDto, @CurrentPrincipal() principal: Principal): Promise<WhitelistRequestView> {
    return this.requests.file({ ...body, requestedBy: requireActingPerson(principal, 'requestedBy', body.requestedBy) });
  }

  @Get()
  @Roles(...READERS, 'it', 'approver')
  @ApiOkResponse({ type: WhitelistRequestPageView, description: 'newest first' })
  list(@Query() query: ListWhitelistRequestsQuery): Promise<WhitelistRequestPageView> {
    return this.requests.list({ status: query.status, ...timeWindowOf(query) }, query.limit ?? DEFAULT_PAGE_SIZE, cursorOf(query, 'uuid'));
  }

  @Get(':id')
  @Roles(...READERS, 'it', 'approver')
  @ApiOkResponse({ type: WhitelistRequestView })
  @ApiNotFoundResponse()
  get(@Param('id', uuidParam('id')) id: string): Promise<WhitelistRequestView> {
    return this.requests.get(id);
  }

  @Post(':id/approve')
  @Roles('approver')
  @HttpCode(200)
  @ApiOkResponse({ type: WhitelistRequestView, description: 'approved: the entry is made and the policy version that carries it published in the same transaction' })
  @ApiBadRequestResponse({ description: 'expiresAt later than requested, or past' })
  @ApiForbiddenResponse({ description: 'the approver is the requester, or the caller does not hold the role approver' })
  @ApiConflictResponse({ description: 'already decided or withdrawn' })
  approve(@Param('id', uuidParam('id')) id: string, @Body() body: ApproveWhitelistRequestDto, @CurrentPrincipal() principal: Principal): Promise<WhitelistRequestView> {
    return this.requests.approve(id, { ...body, approvedBy: requireActingPerson(principal, 'approvedBy', body.approvedBy) });
  }

  @Post(':id/reject')
  @Roles('approver')
  @HttpCode(200)
  @ApiOkResponse({ type: WhitelistRequestView })
  @ApiConflictResponse({ description: 'already decided or withdrawn' })
  reject(@Param('id', uuidParam('id')) id: string, @Body() body: RejectWhitelistRequestDto, @CurrentPrincipal() principal: Principal): Promise<WhitelistRequestView> {
    return this.requests.reject(id, { ...body, rejectedBy: requireActingPerson(principal, 'rejectedBy', body.rejectedBy) });
  }

  @Post(':id/withdraw')
  @Roles('admin', 'it', 'security')
  @HttpCode(200)
  @ApiOkResponse({ type: WhitelistRequestView })
  @ApiConflictResponse({ description: 'already decided or withdrawn' })
  withdraw(@Param('id', uuidParam('id')) id: string, @Body() body: WithdrawWhitelistRequestDto, @CurrentPrincipal() principal: Principal): Promise<WhitelistRequestView> {
    return this.requests.withdraw(id, { ...body, withdrawnBy: actingPerson(principal, 'withdrawnBy', body.withdrawnBy) });
  }
}
