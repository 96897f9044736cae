import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiForbiddenResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiProperty,
  ApiTags,
} from '@nestjs/swagger';
import { cursorOf, DEFAULT_PAGE_SIZE, timeWindowOf } from '../../common/list-query.dto';
import { toUsbHex } from '../../common/usb-hex';
import { uuidParam } from '../../common/uuid-param';
import { USB_EXCEPTION_MODE_NAMES } from '../policy/usb-modes';
import { ListUsbExceptionsQuery } from './dto/list-usb-exceptions.query';
import { ApproveUsbExceptionDto, RejectUsbExceptionDto, RequestUsbExceptionDto, RevokeUsbExceptionDto } from './dto/request-usb-exception.dto';
import type { UsbExceptionRecord } from './usb-exception.record';
import { UsbExceptionsService, UsbExceptionUse } from './usb-exceptions.service';
import { ApiRoleForbiddenResponse } from '../../common/api-role-forbidden-response';
import { Roles } from '../auth/roles.decorator';
import { READERS } from '../auth/roles';
import { requireActingPerson } from '../../common/acting-person';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import type { Principal } from '../auth/principal';

class UsbExceptionView {
  @ApiProperty() id!: string;
  @ApiProperty({ example: '0781' }) vendorId!: string;
  @ApiProperty({ example: '5567' }) productId!: string;
  @ApiProperty() serial!: string;
  @ApiProperty() agentId!: string;
  @ApiProperty({ nullable: true, type: String, description: 'null: any user of the agent' }) userName!: string | null;
  @ApiProperty() notBefore!: string;
  @ApiProperty({ description: 'the end in force (an approver may have shortened the request)' }) notAfter!: string;
  @ApiProperty() requestedNotAfter!: string;
  @ApiProperty() justification!: string;
  @ApiProperty({ enum: USB_EXCEPTION_MODE_NAMES }) mode!: string;
  @ApiProperty({ enum: ['requested', 'approved', 'expired', 'rejected', 'revoked'] }) status!: string;
  @ApiProperty({ description: 'approved and its window holds now' }) active!: boolean;
  @ApiProperty() requestedBy!: string;
  @ApiProperty() requestedAt!: string;
  @ApiProperty({ nullable: true, type: String }) approvedBy!: string | null;
  @ApiProperty({ nullable: true, type: String }) approvedAt!: string | null;
  @ApiProperty({ nullable: true, type: String }) rejectedBy!: string | null;
  @ApiProperty({ nullable: true, type: String }) rejectedAt!: string | null;
  @ApiProperty({ nullable: true, type: String }) rejectionReason!: string | null;
  @ApiProperty({ nullable: true, type: String }) revokedBy!: string | null;
  @ApiProperty({ nullable: true, type: String }) revokedAt!: string | null;
  @ApiProperty({ nullable: true, type: String }) revocationReason!: string | null;
}

class UsbExceptionUseView {
  @ApiProperty() eventId!: string;
  @ApiProperty() agentId!: string;
  @ApiProperty({ example: 'usb_device_attached' }) kind!: string;
  @ApiProperty() occurredAt!: string;
  @ApiProperty() receivedAt!: string;
  @ApiProperty() userName!: string;
  @ApiProperty({ type: Object, description: 'the event as stored, with the device and the enforcement the agent applied' }) payload!: Record<string, unknown>;
}

class UsbExceptionDetailView extends UsbExceptionView {
  @ApiProperty({ type: [UsbExceptionUseView], description: 'the events that used this exception, oldest first' }) uses!: UsbExceptionUseView[];
}

class UsbExceptionPageView {
  @ApiProperty({ type: [UsbExceptionView] }) items!: UsbExceptionView[];
  @ApiProperty({ nullable: true, type: String }) nextCursor!: string | null;
}

const iso = (date: Date | null) => (date === null ? null : date.toISOString());

function exceptionView(record: UsbExceptionRecord): UsbExceptionView {
  return {
    id: record.id,
    vendorId: toUsbHex(record.vendorId),
    productId: toUsbHex(record.productId),
    serial: record.serial,
    agentId: record.agentId,
    userName: record.userName === '' ? null : record.userName,
    notBefore: record.notBefore.toISOString(),
    notAfter: record.notAfter.toISOString(),
    requestedNotAfter: record.requestedNotAfter.toISOString(),
    justification: record.justification,
    mode: record.mode,
    status: record.status,
    active: record.active,
    requestedBy: record.requestedBy,
    requestedAt: record.requestedAt.toISOString(),
    approvedBy: record.approvedBy,
    approvedAt: iso(record.approvedAt),
    rejectedBy: record.rejectedBy,
    rejectedAt: iso(record.rejectedAt),
    rejectionReason: record.rejectionReason,
    revokedBy: record.revokedBy,
    revokedAt: iso(record.revokedAt),
    revocationReason: record.revocationReason,
  };
}

/** REST: time-boxed USB exceptions and their approval workflow (CONTROLS.md C7). */
@ApiTags('usb-exceptions')
@ApiBearerAuth()
@ApiRoleForbiddenResponse()
@Controller('api/v1/usb-exceptions')
export class UsbExceptionsController {
  constructor(private readonly exceptions: UsbExceptionsService) {}

  @Post()
  @Roles('admin', 'it', 'security')
  @ApiCreatedResponse({ type: UsbExceptionView, description: 'the request, waiting for approval' })
  @ApiBadRequestResponse({ description: 'a bad field (named in the message), or an agent that is not enrolled' })
  async request(@Body() body: RequestUsbExceptionDto, @CurrentPrincipal() principal: Principal): Promise<UsbExceptionView> {
    return exceptionView(await this.exceptions.request({ ...body, requestedBy: requireActingPerson(principal, 'requestedBy', body.requestedBy) }));
  }

  @Get()
  @Roles(...READERS, 'it', 'approver')
  @ApiOkResponse({ type: UsbExceptionPageView })
  async list(@Query() query: ListUsbExceptionsQuery): Promise<UsbExceptionPageView> {
    const page = await this.exceptions.list(
      { status: query.status, agentId: query.agentId, ...timeWindowOf(query) },
      query.limit ?? DEFAULT_PAGE_SIZE,
      cursorOf(query, 'uuid'),
    );
    return { items: page.items.map(exceptionView), nextCursor: page.nextCursor };
  }

  @Get(':id')
  @Roles(...READERS, 'it', 'approver')
  @ApiOkResponse({ type: UsbExceptionDetailView })
  @ApiNotFoundResponse()
  async get(@Param('id', uuidParam('id')) id: string): Promise<UsbExceptionDetailView> {
    const record = await this.exceptions.get(id);
    const uses: UsbExceptionUse[] = await this.exceptions.uses(id);
    return { ...exceptionView(record), uses };
  }

  @Post(':id/approve')
  @Roles('approver')
  @HttpCode(200)
  @ApiOkResponse({ type: UsbExceptionView, description: 'approved; the next policy version carries it' })
  @ApiForbiddenResponse({ description: 'the approver is the requester, or the caller does not hold the role approver' })
  @ApiConflictResponse({ description: 'already decided, or its period has ended' })
  async approve(@Param('id', uuidParam('id')) id: string, @Body() body: ApproveUsbExceptionDto, @CurrentPrincipal() principal: Principal): Promise<UsbExceptionView> {
    return exceptionView(await this.exceptions.approve(id, { ...body, approvedBy: requireActingPerson(principal, 'approvedBy', body.approvedBy) }));
  }

  @Post(':id/reject')
  @Roles('approver')
  @HttpCode(200)
  @ApiOkResponse({ type: UsbExceptionView })
  @ApiConflictResponse({ description: 'already decided, or its period has ended' })
  async reject(@Param('id', uuidParam('id')) id: string, @Body() body: RejectUsbExceptionDto, @CurrentPrincipal() principal: Principal): Promise<UsbExceptionView> {
    return exceptionView(await this.exceptions.reject(id, { ...body, rejectedBy: requireActingPerson(principal, 'rejectedBy', body.rejectedBy) }));
  }

  @Post(':id/revoke')
  @Roles('admin', 'approver')
  @HttpCode(200)
  @ApiOkResponse({ type: UsbExceptionView, description: 'revoked; the next policy version no longer carries it' })
  @ApiConflictResponse({ description: 'not approved, or already ended' })
  async revoke(@Param('id', uuidParam('id')) id: string, @Body() body: RevokeUsbExceptionDto, @CurrentPrincipal() principal: Principal): Promise<UsbExceptionView> {
    return exceptionView(await this.exceptions.revoke(id, { ...body, revokedBy: requireActingPerson(principal, 'revokedBy', body.revokedBy) }));
  }
}
