import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsISO8601, IsOptional, IsString, IsUUID, Length, Matches } from 'class-validator';
import { USB_EXCEPTION_MODE_NAMES, type UsbExceptionModeName } from '../../policy/usb-modes';

/** POST /api/v1/usb-exceptions body: a request to use one named device on one agent for a while (CONTROLS.md C7). */
export class RequestUsbExceptionDto {
  @ApiProperty({ example: '0781', description: 'USB vendor id, 4 hex digits (no wildcards: an exception names one device)' })
  @IsString({ message: 'vendorId must be a string of 4 hex digits' })
  @Matches(/^[0-9a-fA-F]{4}$/, { message: 'vendorId must be 4 hex digits, e.g. "0781"' })
  vendorId!: string;

  @ApiProperty({ example: '5567', description: 'USB product id, 4 hex digits' })
  @IsString({ message: 'productId must be a string of 4 hex digits' })
  @Matches(/^[0-9a-fA-F]{4}$/, { message: 'productId must be 4 hex digits, e.g. "5567"' })
  productId!: string;

  @ApiProperty({ example: '4C530001', description: 'serial number, compared exactly' })
  @IsString({ message: 'serial must be a string' })
  @Length(1, 256, { message: 'serial must be 1 to 256 characters (a device without a serial cannot be named)' })
  serial!: string;

  @ApiProperty({ description: 'the enrolled agent (laptop) the device may be used on' })
  @IsUUID('all', { message: 'agentId must be a UUID' })
  agentId!: string;

  @ApiPropertyOptional({ example: 'alice', description: 'only this user of the agent; any user when left out' })
  @IsOptional()
  @IsString({ message: 'userName must be a string' })
  @Length(1, 256, { message: 'userName must be 1 to 256 characters' })
  userName?: string;

  @ApiPropertyOptional({ description: 'ISO-8601; when the exception starts (default: now)' })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'notBefore must be an ISO-8601 date-time, e.g. 2025-03-01T09:00:00Z' })
  notBefore?: string;

  @ApiProperty({ description: 'ISO-8601; when the exception ends by itself' })
  @IsISO8601({ strict: true }, { message: 'notAfter must be an ISO-8601 date-time, e.g. 2025-03-03T18:00:00Z' })
  notAfter!: string;

  @ApiProperty({ example: 'Customer workshop in Osaka, slides on the stick' })
  @IsString({ message: 'justification must be a string' })
  @Length(1, 4096, { message: 'justification must be 1 to 4096 characters' })
  justification!: string;

  @ApiPropertyOptional({ example: 'Hanako Yamada', description: 'signed-in users and API tokens: leave out (or give your own username); the administrator token must name the person' })
  @IsOptional()
  @IsString({ message: 'requestedBy must be a string' })
  @Length(1, 256, { message: 'requestedBy must be 1 to 256 characters' })
  requestedBy?: string;

  @ApiProperty({ enum: USB_EXCEPTION_MODE_NAMES, description: 'allow, or read_only to let the device be read only' })
  @IsIn(USB_EXCEPTION_MODE_NAMES, { message: `mode must be one of ${USB_EXCEPTION_MODE_NAMES.join(', ')}` })
  mode!: UsbExceptionModeName;
}

/** POST /api/v1/usb-exceptions/:id/approve body. */
export class ApproveUsbExceptionDto {
  @ApiPropertyOptional({ example: 'Taro Suzuki (manager)', description: 'who approves; not the requester; signed-in users and API tokens: leave out (or give your own username); the administrator token must name the person' })
  @IsOptional()
  @IsString({ message: 'approvedBy must be a string' })
  @Length(1, 256, { message: 'approvedBy must be 1 to 256 characters' })
  approvedBy?: string;

  @ApiPropertyOptional({ description: 'ISO-8601; an earlier end than requested (an approver may shorten, never extend)' })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'notAfter must be an ISO-8601 date-time, e.g. 2025-03-02T18:00:00Z' })
  notAfter?: string;
}

/** POST /api/v1/usb-exceptions/:id/reject body. */
export class RejectUsbExceptionDto {
  @ApiPropertyOptional({ description: 'signed-in users and API tokens: leave out (or give your own username); the administrator token must name the person' })
  @IsOptional()
  @IsString({ message: 'rejectedBy must be a string' })
  @Length(1, 256, { message: 'rejectedBy must be 1 to 256 characters' })
  rejectedBy?: string;

  @ApiProperty({ example: 'use the encrypted team stick instead' })
  @IsString({ message: 'reason must be a string' })
  @Length(1, 4096, { message: 'reason must be 1 to 4096 characters' })
  reason!: string;
}

/** POST /api/v1/usb-exceptions/:id/revoke body. */
export class RevokeUsbExceptionDto {
  @ApiPropertyOptional({ description: 'signed-in users and API tokens: leave out (or give your own username); the administrator token must name the person' })
  @IsOptional()
  @IsString({ message: 'revokedBy must be a string' })
  @Length(1, 256, { message: 'revokedBy must be 1 to 256 characters' })
  revokedBy?: string;

  @ApiProperty({ example: 'trip cancelled' })
  @IsString({ message: 'reason must be a string' })
  @Length(1, 4096, { message: 'reason must be 1 to 4096 characters' })
  reason!: string;
}
