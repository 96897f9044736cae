import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsOptional, IsString, Length, Max, MaxLength, Min } from 'class-validator';
import { MAX_TOKEN_LIFETIME_SECONDS, MAX_TOKEN_USES } from '../enrollment-token.limits';

/** POST /api/v1/enrollment-tokens body. */
export class CreateEnrollmentTokenDto {
  @ApiPropertyOptional({ example: 'Sales laptops, May' })
  @IsOptional()
  @IsString({ message: 'label must be a string' })
  @MaxLength(256, { message: 'label must be at most 256 characters' })
  label?: string;

  @ApiPropertyOptional({ description: 'how many agents may enroll with it; unlimited until expiry when absent' })
  @IsOptional()
  @IsInt({ message: 'maxUses must be a whole number' })
  @Min(1, { message: 'maxUses must be at least 1' })
  @Max(MAX_TOKEN_USES, { message: `maxUses must be at most ${MAX_TOKEN_USES}` })
  maxUses?: number;

  @ApiPropertyOptional({ description: 'lifetime in seconds (default 86400)' })
  @IsOptional()
  @IsInt({ message: 'expiresInSeconds must be a whole number' })
  @Min(1, { message: 'expiresInSeconds must be at least 1' })
  @Max(MAX_TOKEN_LIFETIME_SECONDS, { message: `expiresInSeconds must be at most ${MAX_TOKEN_LIFETIME_SECONDS} (one year)` })
  expiresInSeconds?: number;

  @ApiPropertyOptional({
    example: 'dev-lan',
    description: 'a defined network zone (GET /api/v1/zones) every agent enrolled with this token is required in; an install naming another zone is refused. Absent: the installer may name any defined zone (install.sh --zone) or none',
  })
  @IsOptional()
  @IsString({ message: 'zone must be a zone name' })
  @Length(1, 64, { message: 'zone must be 1 to 64 characters' })
  zone?: string;
}
