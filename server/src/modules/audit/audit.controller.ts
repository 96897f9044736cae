import { BadRequestException, Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiBadRequestResponse, ApiOkResponse, ApiProperty, ApiQuery, ApiTags } from '@nestjs/swagger';
import { cursorOf, DEFAULT_PAGE_SIZE, timeWindowOf } from '../../common/list-query.dto';
import { AuditChainResult, parseAuditAnchor } from './audit-chain';
import { AuditRecordView, AuditService } from './audit.service';
import { ListAuditQuery } from './dto/list-audit.query';
import { ApiRoleForbiddenResponse } from '../../common/api-role-forbidden-response';
import { Roles } from '../auth/roles.decorator';
import { READERS } from '../auth/roles';

class AuditActorView {
  @ApiProperty({ enum: ['admin-token', 'user', 'api-token', 'system'] }) kind!: string;
  @ApiProperty({ description: 'admin-token: a fingerprint of the token; system: "cli" or "collector"' }) id!: string;
  @ApiProperty() name!: string;
}

class AuditSubjectView {
  @ApiProperty({ example: 'whitelist_entry' }) type!: string;
  @ApiProperty() id!: string;
}

class AuditRecordApiView {
  @ApiProperty({ description: 'position in the chain, from 1 without gaps' }) sequence!: number;
  @ApiProperty() id!: string;
  @ApiProperty() at!: string;
  @ApiProperty({ type: AuditActorView }) actor!: AuditActorView;
  @ApiProperty({ nullable: true, type: String, description: 'the person the request named (approvedBy, changedBy, …)' }) onBehalfOf!: string | null;
  @ApiProperty({ description: "the client's IP address; 'local' for the command line; '' for the collector's own changes" }) sourceAddress!: string;
  @ApiProperty({ example: 'whitelist.entry.created' }) action!: string;
  @ApiProperty({ type: AuditSubjectView }) subject!: AuditSubjectView;
  @ApiProperty({ nullable: true, type: 'object', additionalProperties: true }) before!: unknown;
  @ApiProperty({ nullable: true, type: 'object', additionalProperties: true }) after!: unknown;
  @ApiProperty() previousHash!: string;
  @ApiProperty() hash!: string;
}

class AuditPageView {
  @ApiProperty({ type: [AuditRecordApiView] }) items!: AuditRecordView[];
  @ApiProperty({ nullable: true, type: String }) nextCursor!: string | null;
}

class BrokenRecordView {
  @ApiProperty() sequence!: number;
  @ApiProperty() id!: string;
  @ApiProperty() reason!: string;
}

class ChainHeadView {
  @ApiProperty() sequence!: number;
  @ApiProperty() id!: string;
  @ApiProperty() hash!: string;
}

class AuditVerificationView {
  @ApiProperty() ok!: boolean;
  @ApiProperty({ description: 'records checked' }) records!: number;
  @ApiProperty({ type: BrokenRecordView, nullable: true }) firstBroken!: BrokenRecordView | null;
  @ApiProperty({ type: ChainHeadView, nullable: true, description: 'the newest record that verified; keep its hash elsewhere to anchor the chain' })
  last!: ChainHeadView | null;
}

/** REST: the audit log, read-only (there is no route that edits or deletes a record). */
@ApiTags('audit')
@ApiBearerAuth()
@ApiRoleForbiddenResponse()
@Controller('api/v1/audit')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  @Get()
  @Roles(...READERS)
  @ApiOkResponse({ type: AuditPageView })
  list(@Query() query: ListAuditQuery): Promise<AuditPageView> {
    return this.audit.list(
      { ...timeWindowOf(query), action: query.action, subjectType: query.subjectType, subjectId: query.subjectId, actor: query.actor },
      query.limit ?? DEFAULT_PAGE_SIZE,
      cursorOf(query, 'row-number'),
    );
  }

  @Get('verify')
  @Roles(...READERS)
  @ApiQuery({ name: 'anchor', required: false, description: '"<sequence>:<hash>" of a record as an earlier verification printed it; that record must still have that hash' })
  @ApiOkResponse({ type: AuditVerificationView })
  @ApiBadRequestResponse({ description: 'anchor is not "<sequence>:<64 hex digits>"' })
  verify(@Query('anchor') anchorText?: string): Promise<AuditChainResult> {
    if (anchorText === undefined) return this.audit.verify();
    const anchor = typeof anchorText === 'string' ? parseAuditAnchor(anchorText) : null;
    if (anchor === null) throw new BadRequestException('anchor must be "<sequence>:<hash>" as audit verify printed it, e.g. 1284:9f2c…(64 hex digits)');
    return this.audit.verify(anchor);
  }
}
