import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsIn, IsOptional, IsString, IsUUID, MaxLength } from 'class-validator';
import { TimeWindowPageQuery } from '../../../common/list-query.dto';
import { VIOLATION_SEVERITIES, VIOLATION_STATUSES } from '../violation.entity';

export class ListViolationsQuery extends TimeWindowPageQuery {
  @ApiPropertyOptional()
  @IsOptional()
  @IsUUID('all', { message: 'agentId must be a UUID' })
  agentId?: string;

  @ApiPropertyOptional({ example: 'usb.unregistered_device' })
  @IsOptional()
  @IsString({ message: 'rule must be a string' })
  @MaxLength(64, { message: 'rule must be at most 64 characters' })
  rule?: string;

  @ApiPropertyOptional({ enum: VIOLATION_STATUSES })
  @IsOptional()
  @IsIn(VIOLATION_STATUSES, { message: `status must be one of ${VIOLATION_STATUSES.join(', ')}` })
  status?: string;

  @ApiPropertyOptional({ enum: VIOLATION_SEVERITIES })
  @IsOptional()
  @IsIn(VIOLATION_SEVERITIES, { message: `severity must be one of ${VIOLATION_SEVERITIES.join(', ')}` })
  severity?: string;

  @ApiPropertyOptional({ description: "the ledger department of the violation's machine, exactly as the ledger spells it" })
  @IsOptional()
  @IsString({ message: 'department must be a string' })
  @MaxLength(200, { message: 'department must be at most 200 characters' })
  department?: string;

  @ApiPropertyOptional({ description: 'the username the violations are assigned to' })
  @IsOptional()
  @IsString({ message: 'assignee must be a string' })
  @MaxLength(64, { message: 'assignee must be at most 64 characters' })
  assignee?: string;

  @ApiPropertyOptional({ description: 'true: only violations nobody is assigned to; false: only assigned ones' })
  @IsOptional()
  @Transform(({ value }) => (value === 'true' ? true : value === 'false' ? false : value))
  @IsBoolean({ message: 'unassigned must be true or false' })
  unassigned?: boolean;
}
