import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength } from 'class-validator';
import { TimeWindowPageQuery } from '../../../common/list-query.dto';

export class ListAuditQuery extends TimeWindowPageQuery {
  @ApiPropertyOptional({ example: 'whitelist.entry.created' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  action?: string;

  @ApiPropertyOptional({ example: 'whitelist_entry' })
  @IsOptional()
  @IsString()
  @MaxLength(32)
  subjectType?: string;

  @ApiPropertyOptional({ description: 'the id of the subject: an entry, request, violation, token, agent, zone name' })
  @IsOptional()
  @IsString()
  @MaxLength(128)
  subjectId?: string;

  @ApiPropertyOptional({ description: "the actor's id or name, or the person a request named (approvedBy, changedBy, …)" })
  @IsOptional()
  @IsString()
  @MaxLength(256)
  actor?: string;
}
