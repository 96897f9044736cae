import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, MaxLength } from 'class-validator';
import { VIOLATION_STATUSES, type ViolationStatus } from '../violation.entity';

/** PATCH /api/v1/violations/:id body. */
export class TriageViolationDto {
  @ApiProperty({ enum: VIOLATION_STATUSES })
  @IsIn(VIOLATION_STATUSES, { message: `status must be one of ${VIOLATION_STATUSES.join(', ')}` })
  status!: ViolationStatus;

  @ApiPropertyOptional({ description: 'why, for the next reviewer' })
  @IsOptional()
  @IsString({ message: 'note must be a string' })
  @MaxLength(4096, { message: 'note must be at most 4096 characters' })
  note?: string;
}
