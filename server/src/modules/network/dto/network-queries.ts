import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { TimeWindowPageQuery } from '../../../common/list-query.dto';
import { WHITELIST_HISTORY_KINDS } from '../whitelist-history';

export const WHITELIST_ENTRY_STATUSES = ['active', 'expired', 'revoked'] as const;
export const WHITELIST_REQUEST_STATUSES = ['pending', 'approved', 'rejected', 'withdrawn'] as const;

/** GET /api/v1/whitelist query; since/until apply to when the entry was created. */
export class ListWhitelistQuery extends TimeWindowPageQuery {
  @ApiPropertyOptional({ description: "entries that apply in this zone: its own and the every-zone ones" })
  @IsOptional()
  @IsString({ message: 'zone must be a string' })
  @MaxLength(64, { message: 'zone must be at most 64 characters' })
  zone?: string;

  @ApiPropertyOptional({ description: 'text searched in the host pattern, CIDR and justification (case-insensitive)' })
  @IsOptional()
  @IsString({ message: 'q must be a string' })
  @MaxLength(256, { message: 'q must be at most 256 characters' })
  q?: string;

  @ApiPropertyOptional({ enum: WHITELIST_ENTRY_STATUSES, description: 'default: active only (expired and revoked too with includeExpired)' })
  @IsOptional()
  @IsIn(WHITELIST_ENTRY_STATUSES, { message: `status must be one of ${WHITELIST_ENTRY_STATUSES.join(', ')}` })
  status?: (typeof WHITELIST_ENTRY_STATUSES)[number];

  @ApiPropertyOptional({ description: 'true: list expired and revoked entries too' })
  @IsOptional()
  @Transform(({ value }) => (value === 'true' ? true : value === 'false' ? false : value))
  @IsBoolean({ message: 'includeExpired must be true or false' })
  includeExpired?: boolean;
}

/** GET /api/v1/whitelist/requests query; since/until apply to when the request was filed. */
export class ListWhitelistRequestsQuery extends TimeWindowPageQuery {
  @ApiPropertyOptional({ enum: WHITELIST_REQUEST_STATUSES })
  @IsOptional()
  @IsIn(WHITELIST_REQUEST_STATUSES, { message: `status must be one of ${WHITELIST_REQUEST_STATUSES.join(', ')}` })
  status?: (typeof WHITELIST_REQUEST_STATUSES)[number];
}

/** GET /api/v1/whitelist/history query; since/until apply to when the step was taken. */
export class ListWhitelistHistoryQuery extends TimeWindowPageQuery {
  @ApiPropertyOptional({ enum: WHITELIST_HISTORY_KINDS })
  @IsOptional()
  @IsIn(WHITELIST_HISTORY_KINDS, { message: `kind must be one of ${WHITELIST_HISTORY_KINDS.join(', ')}` })
  kind?: string;

  @ApiPropertyOptional({ description: 'the zone name, entry id, request id or agent id the steps are about' })
  @IsOptional()
  @IsString({ message: 'subjectId must be a string' })
  @MaxLength(64, { message: 'subjectId must be at most 64 characters' })
  subjectId?: string;
}

/** GET /api/v1/whitelist/check query: would this destination be allowed under the current policy version? */
export class CheckDestinationQuery {
  @ApiPropertyOptional({ example: 'git.example.com', description: 'the host name asked for; give host, ip or both' })
  @IsOptional()
  @IsString({ message: 'host must be a string' })
  @MaxLength(255, { message: 'host must be at most 255 characters' })
  host?: string;

  @ApiPropertyOptional({ example: '10.30.1.5' })
  @IsOptional()
  @IsString({ message: 'ip must be a string' })
  @MaxLength(64, { message: 'ip must be at most 64 characters' })
  ip?: string;

  @ApiProperty({ example: 443 })
  @Type(() => Number)
  @IsInt({ message: 'port must be a whole number from 1 to 65535' })
  @Min(1, { message: 'port must be a whole number from 1 to 65535' })
  @Max(65535, { message: 'port must be a whole number from 1 to 65535' })
  port!: number;

  @ApiPropertyOptional({ enum: ['tcp', 'udp'], default: 'tcp' })
  @IsOptional()
  @IsIn(['tcp', 'udp'], { message: 'protocol must be one of tcp, udp' })
  protocol?: 'tcp' | 'udp';

  @ApiPropertyOptional({ example: 'dev-lan', description: "the zone the host is in; '' or left out: no zone (only every-zone entries apply)" })
  @IsOptional()
  @IsString({ message: 'zone must be a string' })
  @MaxLength(64, { message: 'zone must be at most 64 characters' })
  zone?: string;
}
