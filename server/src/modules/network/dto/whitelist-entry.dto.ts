import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsIn, IsISO8601, IsOptional, IsString, Length, MaxLength, ValidateIf } from 'class-validator';
import { WHITELIST_PROTOCOL_NAMES, WHITELIST_SERVICES, type WhitelistProtocolName, type WhitelistServiceName } from '../../policy/network-names';

/** The destination part every entry and request body shares. */
export class DestinationFieldsDto {
  @ApiPropertyOptional({
    example: 'git.example.com',
    description: '"git.example.com" exactly that name; "*.example.com" its subdomains only; ".example.com" the domain and its subdomains. Give this or cidr.',
  })
  @IsOptional()
  @IsString({ message: 'hostPattern must be a string' })
  @MaxLength(255, { message: 'hostPattern must be at most 255 characters' })
  hostPattern?: string;

  @ApiPropertyOptional({ example: '10.30.0.0/16', description: 'an IPv4 or IPv6 address or CIDR block. Give this or hostPattern.' })
  @IsOptional()
  @IsString({ message: 'cidr must be a string' })
  @MaxLength(64, { message: 'cidr must be at most 64 characters' })
  cidr?: string;

  @ApiPropertyOptional({ type: [String], example: ['443', '8000-8100'], description: 'ports or inclusive ranges; empty or left out: every port' })
  @IsOptional()
  @IsArray({ message: 'ports must be a list of ports or ranges such as "443" or "8000-8100"' })
  @ArrayMaxSize(64, { message: 'ports must hold at most 64 ports or ranges' })
  ports?: Array<string | number>;

  @ApiPropertyOptional({ enum: WHITELIST_PROTOCOL_NAMES, default: 'any', description: 'any: TCP and UDP' })
  @IsOptional()
  @IsIn(WHITELIST_PROTOCOL_NAMES, { message: `protocol must be one of ${WHITELIST_PROTOCOL_NAMES.join(', ')}` })
  protocol?: WhitelistProtocolName;

  @ApiPropertyOptional({ enum: WHITELIST_SERVICES, default: 'any', description: 'what the destination is for' })
  @IsOptional()
  @IsIn(WHITELIST_SERVICES, { message: `service must be one of ${WHITELIST_SERVICES.join(', ')}` })
  service?: WhitelistServiceName;

  @ApiPropertyOptional({ example: 'dev-lan', description: "the zone the entry applies in (a defined zone); '' or left out: every zone" })
  @IsOptional()
  @IsString({ message: 'zone must be a string' })
  @MaxLength(64, { message: 'zone must be at most 64 characters' })
  zone?: string;
}

/** POST /api/v1/whitelist body: an administrator adds an approved entry directly. */
export class CreateWhitelistEntryDto extends DestinationFieldsDto {
  @ApiProperty({ example: 'the project Git server' })
  @IsString({ message: 'justification must be a string' })
  @Length(1, 4096, { message: 'justification must be 1 to 4096 characters' })
  justification!: string;

  @ApiProperty({ example: 'Hanako Yamada' })
  @IsString({ message: 'requestedBy must be a string' })
  @Length(1, 256, { message: 'requestedBy must be 1 to 256 characters' })
  requestedBy!: string;

  @ApiPropertyOptional({ example: 'Taro Suzuki (IT)', description: 'signed-in users and API tokens: leave out (or give your own username); the administrator token must name the person' })
  @IsOptional()
  @IsString({ message: 'approvedBy must be a string' })
  @Length(1, 256, { message: 'approvedBy must be 1 to 256 characters' })
  approvedBy?: string;

  @ApiPropertyOptional({ description: 'ISO-8601; when the entry ends by itself (left out: no end)' })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'expiresAt must be an ISO-8601 date-time, e.g. 2025-03-31T18:00:00Z' })
  expiresAt?: string;
}

/** PATCH /api/v1/whitelist/:id body: the fields given are changed; expiresAt null removes the end. */
export class UpdateWhitelistEntryDto extends DestinationFieldsDto {
  @ApiPropertyOptional()
  @IsOptional()
  @IsString({ message: 'justification must be a string' })
  @Length(1, 4096, { message: 'justification must be 1 to 4096 characters' })
  justification?: string;

  @ApiPropertyOptional({ nullable: true, type: String, description: 'ISO-8601 in the future, or null for no end' })
  @ValidateIf((body: UpdateWhitelistEntryDto) => body.expiresAt !== undefined && body.expiresAt !== null)
  @IsISO8601({ strict: true }, { message: 'expiresAt must be an ISO-8601 date-time or null' })
  expiresAt?: string | null;

  @ApiPropertyOptional({ example: 'Taro Suzuki (IT)', description: 'who makes the change; signed-in users and API tokens: leave out (or give your own username); the administrator token must name the person' })
  @IsOptional()
  @IsString({ message: 'changedBy must be a string' })
  @Length(1, 256, { message: 'changedBy must be 1 to 256 characters' })
  changedBy?: string;
}

/** POST /api/v1/whitelist/:id/expire body: ends the entry now. */
export class ExpireWhitelistEntryDto {
  @ApiPropertyOptional({ description: 'signed-in users and API tokens: leave out (or give your own username); the administrator token must name the person' })
  @IsOptional()
  @IsString({ message: 'expiredBy must be a string' })
  @Length(1, 256, { message: 'expiredBy must be 1 to 256 characters' })
  expiredBy?: string;

  @ApiProperty({ example: 'project ended' })
  @IsString({ message: 'reason must be a string' })
  @Length(1, 4096, { message: 'reason must be 1 to 4096 characters' })
  reason!: string;
}
