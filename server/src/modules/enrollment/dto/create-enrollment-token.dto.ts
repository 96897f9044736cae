import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';

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
  @Max(1_000_000, { message: 'maxUses must be at most 1000000' })
  maxUses?: number;

  @ApiPropertyOptional({ description: 'lifetime in seconds (default 86400)' })
  @IsOptional()
  @IsInt({ message: 'expiresInSeconds must be a whole number' })
  @Min(1, { message: 'expiresInSeconds must be at least 1' })
  @Max(31_536_000, { message: 'expiresInSeconds must be at most 31536000 (one year)' })
  expiresInSeconds?: number;
}
