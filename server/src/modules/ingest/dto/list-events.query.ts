import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsUUID } from 'class-validator';
import { TimeWindowPageQuery } from '../../../common/list-query.dto';
import { EVENT_KINDS } from '../event-validation';

const KINDS = Object.values(EVENT_KINDS);

export class EventCountQuery {
  @ApiPropertyOptional()
  @IsOptional()
  @IsUUID('all', { message: 'agentId must be a UUID' })
  agentId?: string;

  @ApiPropertyOptional({ enum: KINDS })
  @IsOptional()
  @IsIn(KINDS, { message: `kind must be one of ${KINDS.join(', ')}` })
  kind?: string;
}

export class ListEventsQuery extends TimeWindowPageQuery {
  @ApiPropertyOptional()
  @IsOptional()
  @IsUUID('all', { message: 'agentId must be a UUID' })
  agentId?: string;

  @ApiPropertyOptional({ enum: KINDS })
  @IsOptional()
  @IsIn(KINDS, { message: `kind must be one of ${KINDS.join(', ')}` })
  kind?: string;
}
