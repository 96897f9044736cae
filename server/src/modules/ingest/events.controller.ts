import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiProperty, ApiTags } from '@nestjs/swagger';
import { cursorOf, DEFAULT_PAGE_SIZE, timeWindowOf } from '../../common/list-query.dto';
import { EventCountQuery, ListEventsQuery } from './dto/list-events.query';
import { EventsService } from './events.service';
import { ApiRoleForbiddenResponse } from '../../common/api-role-forbidden-response';
import { Roles } from '../auth/roles.decorator';
import { READERS } from '../auth/roles';

class EventView {
  @ApiProperty() eventId!: string;
  @ApiProperty() agentId!: string;
  @ApiProperty() sequence!: string;
  @ApiProperty({ example: 'usb_device_attached' }) kind!: string;
  @ApiProperty() occurredAt!: string;
  @ApiProperty() receivedAt!: string;
  @ApiProperty() userName!: string;
  @ApiProperty({ type: Object }) payload!: Record<string, unknown>;
}

class EventPageView {
  @ApiProperty({ type: [EventView] }) items!: EventView[];
  @ApiProperty({ nullable: true, type: String }) nextCursor!: string | null;
}

class EventCountView {
  @ApiProperty() count!: number;
}

/** REST: stored events, newest first. */
@ApiTags('events')
@ApiBearerAuth()
@ApiRoleForbiddenResponse()
@Controller('api/v1/events')
export class EventsController {
  constructor(private readonly events: EventsService) {}

  @Get()
  @Roles(...READERS)
  @ApiOkResponse({ type: EventPageView })
  list(@Query() query: ListEventsQuery): Promise<EventPageView> {
    return this.events.list({ agentId: query.agentId, kind: query.kind, ...timeWindowOf(query) }, query.limit ?? DEFAULT_PAGE_SIZE, cursorOf(query, 'row-number'));
  }

  @Get('count')
  @Roles(...READERS)
  @ApiOkResponse({ type: EventCountView })
  async count(@Query() query: EventCountQuery): Promise<EventCountView> {
    return { count: await this.events.count({ agentId: query.agentId, kind: query.kind }) };
  }
}
