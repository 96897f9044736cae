import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsISO8601, IsOptional, IsString, Length } from 'class-validator';
import { DestinationFieldsDto } from './whitelist-entry.dto';

/** POST /api/v1/whitelist/requests body: an application for a destination. */
export class RequestWhitelistEntryDto extends DestinationFieldsDto {
  @ApiProperty({ example: 'push to the customer repository for project K' })
  @IsString({ message: 'justification must be a string' })
  @Length(1, 4096, { message: 'justification must be 1 to 4096 characters' })
  justification!: string;

  @ApiPropertyOptional({ example: 'Hanako Yamada', description: 'signed-in users and API tokens: leave out (or give your own username); the administrator token must name the person' })
  @IsOptional()
  @IsString({ message: 'requestedBy must be a string' })
  @Length(1, 256, { message: 'requestedBy must be 1 to 256 characters' })
  requestedBy?: string;

  @ApiPropertyOptional({ description: 'ISO-8601; when the entry should end (left out: no end asked for)' })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'expiresAt must be an ISO-8601 date-time, e.g. 2025-03-31T18:00:00Z' })
  expiresAt?: string;
}

/** POST /api/v1/whitelist/requests/:id/approve body. */
export class ApproveWhitelistRequestDto {
  @ApiPropertyOptional({ example: 'Taro Suzuki (manager)', description: 'who approves; not the requester; signed-in users and API tokens: leave out (or give your own username); the administrator token must name the person' })
  @IsOptional()
  @IsString({ message: 'approvedBy must be a string' })
  @Length(1, 256, { message: 'approvedBy must be 1 to 256 characters' })
  approvedBy?: string;

  @ApiPropertyOptional({ description: 'ISO-8601; an earlier end than requested (an approver may shorten, never lengthen)' })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'expiresAt must be an ISO-8601 date-time, e.g. 2025-03-02T18:00:00Z' })
  expiresAt?: string;
}

/** POST /api/v1/whitelist/requests/:id/reject body. */
export class RejectWhitelistRequestDto {
  @ApiPropertyOptional({ description: 'signed-in users and API tokens: leave out (or give your own username); the administrator token must name the person' })
  @IsOptional()
  @IsString({ message: 'rejectedBy must be a string' })
  @Length(1, 256, { message: 'rejectedBy must be 1 to 256 characters' })
  rejectedBy?: string;

  @ApiProperty({ example: 'use the internal mirror instead' })
  @IsString({ message: 'reason must be a string' })
  @Length(1, 4096, { message: 'reason must be 1 to 4096 characters' })
  reason!: string;
}

/** POST /api/v1/whitelist/requests/:id/withdraw body. */
export class WithdrawWhitelistRequestDto {
  @ApiPropertyOptional({ description: 'who withdraws (default: the requester); signed-in users and API tokens: leave out or give their own username' })
  @IsOptional()
  @IsString({ message: 'withdrawnBy must be a string' })
  @Length(1, 256, { message: 'withdrawnBy must be 1 to 256 characters' })
  withdrawnBy?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString({ message: 'reason must be a string' })
  @Length(1, 4096, { message: 'reason must be 1 to 4096 characters' })
  reason?: string;
}
