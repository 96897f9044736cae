import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsUUID } from 'class-validator';
import { TimeWindowPageQuery } from '../../../common/list-query.dto';

/**
 * What an exception is, as people ask for it. `approved` is approved and not yet ended
 * (`active` is the part of it whose window holds now); `expired` ended by itself, approved or
 * still waiting for a decision.
 */
export const USB_EXCEPTION_STATUSES = ['requested', 'approved', 'active', 'expired', 'rejected', 'revoked'] as const;
export type UsbExceptionStatusFilter = (typeof USB_EXCEPTION_STATUSES)[number];

/** GET /api/v1/usb-exceptions query; since/until apply to when the exception was requested. */
export class ListUsbExceptionsQuery extends TimeWindowPageQuery {
  @ApiPropertyOptional({ enum: USB_EXCEPTION_STATUSES })
  @IsOptional()
  @IsIn(USB_EXCEPTION_STATUSES, { message: `status must be one of ${USB_EXCEPTION_STATUSES.join(', ')}` })
  status?: UsbExceptionStatusFilter;

  @ApiPropertyOptional()
  @IsOptional()
  @IsUUID('all', { message: 'agentId must be a UUID' })
  agentId?: string;
}
