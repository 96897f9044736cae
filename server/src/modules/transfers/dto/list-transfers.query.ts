import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsISO8601, IsOptional, IsString, IsUUID, Matches, MaxLength } from 'class-validator';
import { TimeWindowPageQuery } from '../../../common/list-query.dto';
import { TRANSFER_CHANNELS, TRANSFER_OPERATIONS } from '../transfers.rules';

/** GET /api/v1/transfers: every filter given must hold (AND); newest first. */
export class ListTransfersQuery extends TimeWindowPageQuery {
  @ApiPropertyOptional({ description: 'the user logged in when the file was written (exact)' })
  @IsOptional()
  @IsString({ message: 'userName must be a string' })
  @MaxLength(256, { message: 'userName must be at most 256 characters' })
  userName?: string;

  @ApiPropertyOptional({ description: "the USB device's serial number (exact)" })
  @IsOptional()
  @IsString({ message: 'deviceSerial must be a string' })
  @MaxLength(256, { message: 'deviceSerial must be at most 256 characters' })
  deviceSerial?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsUUID('all', { message: 'agentId must be a UUID' })
  agentId?: string;

  @ApiPropertyOptional({ description: "the file's SHA-256, 64 hex digits (either case)" })
  @IsOptional()
  @Matches(/^[0-9a-fA-F]{64}$/, { message: 'sha256 must be 64 hex digits' })
  sha256?: string;

  @ApiPropertyOptional({ enum: ['true', 'false'], description: 'true: files with personal-data findings; false: files without' })
  @IsOptional()
  @IsIn(['true', 'false'], { message: 'hasPersonalData must be true or false' })
  hasPersonalData?: 'true' | 'false';

  @ApiPropertyOptional({ enum: TRANSFER_CHANNELS })
  @IsOptional()
  @IsIn(TRANSFER_CHANNELS, { message: `channel must be one of ${TRANSFER_CHANNELS.join(', ')}` })
  channel?: string;

  @ApiPropertyOptional({ enum: TRANSFER_OPERATIONS })
  @IsOptional()
  @IsIn(TRANSFER_OPERATIONS, { message: `operation must be one of ${TRANSFER_OPERATIONS.join(', ')}` })
  operation?: string;
}

/** GET /api/v1/transfers/export.csv: the period, both ends required. */
export class ExportTransfersQuery {
  @ApiProperty({ description: 'ISO-8601; transfers at or after this time', example: '2026-10-01T00:00:00+09:00' })
  @IsISO8601({ strict: true }, { message: 'since must be an ISO-8601 date-time, e.g. 2026-10-01T00:00:00+09:00' })
  since!: string;

  @ApiProperty({ description: 'ISO-8601; transfers before this time', example: '2026-11-01T00:00:00+09:00' })
  @IsISO8601({ strict: true }, { message: 'until must be an ISO-8601 date-time, e.g. 2026-11-01T00:00:00+09:00' })
  until!: string;
}
