import { BadRequestException, Controller, Get, Param, ParseIntPipe, Query } from '@nestjs/common';
import { ApiBadRequestResponse, ApiBearerAuth, ApiNotFoundResponse, ApiOkResponse, ApiProperty, ApiPropertyOptional, ApiQuery, ApiTags } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { ApiRoleForbiddenResponse } from '../../common/api-role-forbidden-response';
import { Roles } from '../auth/roles.decorator';
import { READERS } from '../auth/roles';
import { PolicyVersionsService } from './policy-versions.service';

export class ListPolicyVersionsQuery {
  @ApiPropertyOptional({ minimum: 1, maximum: 200, default: 50 })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'limit must be a whole number from 1 to 200' })
  @Min(1, { message: 'limit must be a whole number from 1 to 200' })
  @Max(200, { message: 'limit must be a whole number from 1 to 200' })
  limit?: number;

  @ApiPropertyOptional({ description: 'nextBefore of the previous page: versions older than this one' })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'before must be a policy version number' })
  @Min(1, { message: 'before must be a policy version number' })
  before?: number;
}

class PolicyVersionSummaryView {
  @ApiProperty() version!: number;
  @ApiProperty({ description: 'when it was published' }) createdAt!: string;
  @ApiProperty({ example: 'network.whitelist: 1 added; usb.unregisteredDeviceMode: changed', description: 'what changed against the version before it' }) summary!: string;
  @ApiProperty({ description: 'how many changes the diff against the version before holds' }) changeCount!: number;
}

class PolicyVersionPageView {
  @ApiProperty({ type: [PolicyVersionSummaryView] }) items!: PolicyVersionSummaryView[];
  @ApiProperty({ nullable: true, type: Number, description: 'pass as before= for the next (older) page; null on the last' }) nextBefore!: number | null;
}

class PolicyVersionView {
  @ApiProperty() version!: number;
  @ApiProperty() createdAt!: string;
  @ApiProperty({ type: 'object', additionalProperties: true, description: 'the stored document (usb, transfer, network; enum values as their protobuf numbers)' })
  document!: Record<string, unknown>;
}

class PolicyChangeView {
  @ApiProperty({ example: 'network.whitelist[entryId=0c3e…].ports', description: 'dotted path; list items matched by their id as [key=value]; [order] for a reordering' })
  path!: string;
  @ApiProperty({ enum: ['added', 'removed', 'changed'] }) kind!: string;
  @ApiPropertyOptional({ description: 'absent for an addition' }) before?: unknown;
  @ApiPropertyOptional({ description: 'absent for a removal' }) after?: unknown;
}

class PolicyDiffView {
  @ApiProperty({ description: 'the older side (against)' }) from!: number;
  @ApiProperty({ description: 'the version asked for' }) to!: number;
  @ApiProperty({ type: [PolicyChangeView] }) changes!: PolicyChangeView[];
}

const versionParam = (name: string) => new ParseIntPipe({ exceptionFactory: () => new BadRequestException(`${name} must be a policy version number`) });

/** REST: the history of published policy versions and the differences between them. */
@ApiTags('policy')
@ApiBearerAuth()
@ApiRoleForbiddenResponse()
@Controller('api/v1/policy/versions')
export class PolicyVersionsController {
  constructor(private readonly versions: PolicyVersionsService) {}

  @Get()
  @Roles(...READERS, 'it', 'approver')
  @ApiOkResponse({ type: PolicyVersionPageView })
  async list(@Query() query: ListPolicyVersionsQuery): Promise<PolicyVersionPageView> {
    const page = await this.versions.list(query.limit ?? 50, query.before ?? null);
    return { items: page.items.map((item) => ({ ...item, createdAt: item.createdAt.toISOString() })), nextBefore: page.nextBefore };
  }

  @Get(':version')
  @Roles(...READERS, 'it', 'approver')
  @ApiOkResponse({ type: PolicyVersionView })
  @ApiNotFoundResponse()
  async get(@Param('version', versionParam('version')) version: number): Promise<PolicyVersionView> {
    const stored = await this.versions.get(version);
    return { version: stored.version, createdAt: stored.createdAt.toISOString(), document: stored.document as unknown as Record<string, unknown> };
  }

  @Get(':version/diff')
  @Roles(...READERS, 'it', 'approver')
  @ApiQuery({ name: 'against', required: false, type: Number, description: 'the version to compare with; default the one before' })
  @ApiOkResponse({ type: PolicyDiffView })
  @ApiNotFoundResponse({ description: 'either version does not exist' })
  @ApiBadRequestResponse()
  async diff(@Param('version', versionParam('version')) version: number, @Query('against') against?: string): Promise<PolicyDiffView> {
    let other: number | undefined;
    if (against !== undefined) {
      if (!/^[1-9][0-9]{0,15}$/.test(against)) throw new BadRequestException('against must be a policy version number');
      other = Number(against);
    }
    return this.versions.diff(version, other);
  }
}
