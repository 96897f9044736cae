import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { VIOLATION_STATUSES, type ViolationStatus } from '../violation.entity';

/** PATCH /api/v1/violations/:id body: at least one of status, note, assignee. */
export class TriageViolationDto {
  @ApiPropertyOptional({ enum: VIOLATION_STATUSES })
  @IsOptional()
  @IsIn(VIOLATION_STATUSES, { message: `status must be one of ${VIOLATION_STATUSES.join(', ')}` })
  status?: ViolationStatus;

  @ApiPropertyOptional({ description: 'why, for the next reviewer' })
  @IsOptional()
  @IsString({ message: 'note must be a string' })
  @MaxLength(4096, { message: 'note must be at most 4096 characters' })
  note?: string;

  @ApiPropertyOptional({
    nullable: true,
    type: String,
    description: 'the username of an enabled user holding the role security; null takes the assignment away; absent leaves it as it is',
  })
  @IsOptional()
  @IsString({ message: 'assignee must be a username or null' })
  @MaxLength(64, { message: 'assignee must be at most 64 characters' })
  @Matches(/\S/, { message: 'assignee must be a username or null, not blank' })
  assignee?: string | null;
}
