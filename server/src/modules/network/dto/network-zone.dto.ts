import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsIn, IsInt, IsOptional, IsString, Length, Matches, Max, Min } from 'class-validator';
import { ZONE_NAME_PATTERN } from '../../../../../agent/src/core/destinations/whitelist-entry';
import { ZONE_MODE_NAMES, type ZoneModeName } from '../../policy/network-names';

const ZONE_NAME_MESSAGE = 'name must be 1 to 63 lower-case letters, digits, dots, hyphens or underscores, starting with a letter or digit (e.g. "dev-lan")';

class ZoneFieldsDto {
  @ApiPropertyOptional({ type: [String], example: ['10.20.0.0/16', 'fd00:20::/48'], description: 'address blocks; a single address is a /32 or /128' })
  @IsOptional()
  @IsArray({ message: 'cidrs must be a list of CIDR blocks' })
  @ArrayMaxSize(256, { message: 'cidrs must hold at most 256 blocks' })
  @IsString({ each: true, message: 'cidrs must be a list of strings' })
  cidrs?: string[];

  @ApiPropertyOptional({ type: [String], example: ['dev.example.co.jp'], description: "DNS suffixes; a host whose DNS domain or search domain ends in one is in the zone" })
  @IsOptional()
  @IsArray({ message: 'dnsSuffixes must be a list of DNS suffixes' })
  @ArrayMaxSize(64, { message: 'dnsSuffixes must hold at most 64 suffixes' })
  @IsString({ each: true, message: 'dnsSuffixes must be a list of strings' })
  dnsSuffixes?: string[];

  @ApiPropertyOptional({ description: 'where the zone is tried: 0 first; the zones after it move down one (default: after the last zone)' })
  @IsOptional()
  @IsInt({ message: 'position must be a whole number from 0 to 10000' })
  @Min(0, { message: 'position must be a whole number from 0 to 10000' })
  @Max(10_000, { message: 'position must be a whole number from 0 to 10000' })
  position?: number;

  @ApiPropertyOptional({ example: 'Taro Suzuki (IT)', description: 'who makes the change, for the history (default: admin); signed-in users and API tokens: leave out or give their own username' })
  @IsOptional()
  @IsString({ message: 'changedBy must be a string' })
  @Length(1, 256, { message: 'changedBy must be 1 to 256 characters' })
  changedBy?: string;
}

/** POST /api/v1/zones body. */
export class CreateNetworkZoneDto extends ZoneFieldsDto {
  @ApiProperty({ example: 'dev-lan' })
  @IsString({ message: ZONE_NAME_MESSAGE })
  @Matches(ZONE_NAME_PATTERN, { message: ZONE_NAME_MESSAGE })
  name!: string;

  @ApiProperty({ enum: ZONE_MODE_NAMES, description: 'off: the whitelist does not apply; audit: other destinations are let through and reported; enforce: refused and reported' })
  @IsIn(ZONE_MODE_NAMES, { message: `mode must be one of ${ZONE_MODE_NAMES.join(', ')}` })
  mode!: ZoneModeName;
}

/** PATCH /api/v1/zones/:name body: the fields given are changed. */
export class UpdateNetworkZoneDto extends ZoneFieldsDto {
  @ApiPropertyOptional({ enum: ZONE_MODE_NAMES })
  @IsOptional()
  @IsIn(ZONE_MODE_NAMES, { message: `mode must be one of ${ZONE_MODE_NAMES.join(', ')}` })
  mode?: ZoneModeName;
}
