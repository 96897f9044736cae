import { Body, Controller, Get, Param, Patch, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiNotFoundResponse, ApiOkResponse, ApiProperty, ApiTags } from '@nestjs/swagger';
import { cursorOf, DEFAULT_PAGE_SIZE, timeWindowOf } from '../../common/list-query.dto';
import { uuidParam } from '../../common/uuid-param';
import { ListViolationsQuery } from './dto/list-violations.query';
import { TriageViolationDto } from './dto/triage-violation.dto';
import { VIOLATION_STATUSES, ViolationEntity } from './violation.entity';

import { ViolationsService } from './violations.service';

class ViolationDeviceView {
  @ApiProperty({ example: '0781' }) vendorId!: string;
  @ApiProperty({ example: '5567' }) productId!: string;
  @ApiProperty() serial!: string;
  @ApiProperty() manufacturer!: string;
  @ApiProperty() product!: string;
  @ApiProperty({ type: [Number] }) interfaceClasses!: number[];
  @ApiProperty() busPath!: string;
}

export class ViolationView {
  @ApiProperty() id!: string;
  @ApiProperty({ example: 'usb.unregistered_device' }) rule!: string;
  @ApiProperty({ example: 'high' }) severity!: string;
  @ApiProperty({ enum: VIOLATION_STATUSES }) status!: string;
  @ApiProperty() agentId!: string;
  @ApiProperty() hostname!: string;
  @ApiProperty() userName!: string;
  @ApiProperty({ type: ViolationDeviceView }) device!: ViolationDeviceView;
  @ApiProperty({ description: 'when it happened, by the agent clock' }) occurredAt!: string;
  @ApiProperty({ description: 'when the collector stored it' }) detectedAt!: string;
  @ApiProperty() eventId!: string;
  @ApiProperty() summary!: string;
  @ApiProperty({ nullable: true, type: String }) note!: string | null;
  @ApiProperty() updatedAt!: string;
}

class ViolationPageView {
  @ApiProperty({ type: [ViolationView] }) items!: ViolationView[];
  @ApiProperty({ nullable: true, type: String }) nextCursor!: string | null;
}

export function violationView(violation: ViolationEntity): ViolationView {
  return {
    id: violation.id,
    rule: violation.rule,
    severity: violation.severity,
    status: violation.status,
    agentId: violation.agentId,
    hostname: violation.hostname,
    userName: violation.userName,
    device: violation.device,
    occurredAt: violation.occurredAt.toISOString(),
    detectedAt: violation.detectedAt.toISOString(),
    eventId: violation.eventId,
    summary: violation.summary,
    note: violation.note,
    updatedAt: violation.updatedAt.toISOString(),
  };
}

/** REST: violations for reviewers. */
@ApiTags('violations')
@ApiBearerAuth()
@Controller('api/v1/violations')
export class ViolationsController {
  constructor(private readonly violations: ViolationsService) {}

  @Get()
  @ApiOkResponse({ type: ViolationPageView })
  async list(@Query() query: ListViolationsQuery): Promise<ViolationPageView> {
    const page = await this.violations.list(
      { agentId: query.agentId, rule: query.rule, status: query.status, ...timeWindowOf(query) },
      query.limit ?? DEFAULT_PAGE_SIZE,
      cursorOf(query, 'uuid'),
    );
    return { items: page.items.map(violationView), nextCursor: page.nextCursor };
  }

  @Get(':id')
  @ApiOkResponse({ type: ViolationView })
  @ApiNotFoundResponse()
  async get(@Param('id', uuidParam('id')) id: string): Promise<ViolationView> {
    return violationView(await this.violations.get(id));
  }

  @Patch(':id')
  @ApiOkResponse({ type: ViolationView })
  @ApiNotFoundResponse()
  async triage(@Param('id', uuidParam('id')) id: string, @Body() body: TriageViolationDto): Promise<ViolationView> {
    return violationView(await this.violations.triage(id, body.status, body.note));
  }
}
