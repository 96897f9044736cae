import { BadRequestException, Body, Controller, Get, Header, HttpCode, Param, Patch, Post, Query, Req } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiBody,
  ApiConflictResponse,
  ApiConsumes,
  ApiCreatedResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiProduces,
  ApiProperty,
  ApiTags,
} from '@nestjs/swagger';
import type { IncomingMessage } from 'node:http';
import { readBody } from '../../common/read-body';
import { uuidParam } from '../../common/uuid-param';
import { decodeCsvBytes } from './csv';
import { CreateLedgerDeviceDto, LedgerDepartmentQuery, ListLedgerDevicesQuery, UpdateLedgerDeviceDto } from './dto/ledger-device.dto';
import { LEDGER_CSV_COLUMNS } from './ledger-csv';
import { LedgerDeviceRecord } from './ledger-device.record';
import { DISK_ENCRYPTION_STATES, LEDGER_STATUSES } from './ledger.rules';
import { DepartmentSummary, LedgerImportResult, LedgerService } from './ledger.service';
import { ApiRoleForbiddenResponse } from '../../common/api-role-forbidden-response';
import { Roles } from '../auth/roles.decorator';
import { READERS } from '../auth/roles';

/** Largest CSV upload: ~300 laptops take ~30 KB; 5 MB leaves room for notes and long ledgers. */
const MAX_CSV_BYTES = 5 * 1024 * 1024;

class LedgerAgentView {
  @ApiProperty() id!: string;
  @ApiProperty({ enum: ['enrolled', 'revoked'] }) status!: string;
  @ApiProperty() hostname!: string;
  @ApiProperty({ example: 'linux' }) osFamily!: string;
  @ApiProperty() osVersion!: string;
  @ApiProperty() architecture!: string;
  @ApiProperty() agentVersion!: string;
  @ApiProperty({ description: 'as the agent reported it' }) hardwareSerial!: string;
  @ApiProperty() hardwareModel!: string;
  @ApiProperty() hardwareVendor!: string;
  @ApiProperty({ nullable: true, type: String, description: 'the first user logged in at the last report' }) lastUser!: string | null;
  @ApiProperty({ type: [String] }) loggedInUsers!: string[];
  @ApiProperty({ type: [String], example: ['10.0.0.5/24'] }) networkAddresses!: string[];
  @ApiProperty({ type: Object, isArray: true }) networkInterfaces!: Array<{ name: string; macAddress: string; addresses: string[] }>;
  @ApiProperty() enrolledAt!: string;
  @ApiProperty({ nullable: true, type: String }) lastSeenAt!: string | null;
  @ApiProperty({ nullable: true, type: String, description: 'the network zone the device must be in (PATCH /agents/{id}/required-zone); null: none' }) requiredZone!: string | null;
}

class VolumeView {
  @ApiProperty({ example: '/dev/nvme0n1p3' }) device!: string;
  @ApiProperty({ example: '/' }) mountPoint!: string;
  @ApiProperty() systemVolume!: boolean;
  @ApiProperty() removable!: boolean;
  @ApiProperty({ enum: ['none', 'luks1', 'luks2', 'bitlocker', 'filevault', 'other', 'unspecified'] }) scheme!: string;
  @ApiProperty() fullyEncrypted!: boolean;
  @ApiProperty() percentEncrypted!: number;
  @ApiProperty() protectionOn!: boolean;
  @ApiProperty() locked!: boolean;
  @ApiProperty() method!: string;
  @ApiProperty({ description: 'bytes, as a decimal string' }) sizeBytes!: string;
  @ApiProperty() filesystemType!: string;
  @ApiProperty() encryptedBy!: string;
}

class EncryptionView {
  @ApiProperty({ enum: DISK_ENCRYPTION_STATES, description: 'unknown: no check ran (or the machine is not enrolled); never the same as not encrypted' }) state!: string;
  @ApiProperty({ enum: ['passed', 'failed', 'not_checked'] }) fixedDisksEncrypted!: string;
  @ApiProperty({ enum: ['passed', 'failed', 'not_checked'] }) systemVolumeEncrypted!: string;
  @ApiProperty({ type: [String], description: 'why the disks are not compliant' }) findings!: string[];
  @ApiProperty({ type: [VolumeView] }) volumes!: VolumeView[];
  @ApiProperty({ type: [String], description: 'checks the agent could not run' }) problems!: string[];
  @ApiProperty({ nullable: true, type: String, enum: ['heartbeat', 'event'] }) source!: string | null;
  @ApiProperty({ nullable: true, type: String }) reportedAt!: string | null;
}

export class LedgerDeviceView {
  @ApiProperty() id!: string;
  @ApiProperty({ description: 'false for an enrolled machine the ledger does not list (ledger.unknown_device)' }) inLedger!: boolean;
  @ApiProperty({ nullable: true, type: String }) assetTag!: string | null;
  @ApiProperty({ description: 'as the ledger records it' }) hardwareSerial!: string;
  @ApiProperty({ description: 'as the ledger records it' }) hostname!: string;
  @ApiProperty() department!: string;
  @ApiProperty() holder!: string;
  @ApiProperty({ nullable: true, type: String, example: '2025-04-01' }) loanedSince!: string | null;
  @ApiProperty({ nullable: true, type: String, example: '2026-03-31' }) dueBack!: string | null;
  @ApiProperty({ nullable: true, type: String, enum: LEDGER_STATUSES, description: 'null when not in the ledger' }) status!: string | null;
  @ApiProperty() note!: string;
  @ApiProperty({ nullable: true, type: String, enum: ['hardware_serial', 'hostname', 'manual', 'discovered'], description: 'how the agent was matched to this row' })
  matchedBy!: string | null;
  @ApiProperty({ type: LedgerAgentView, nullable: true, description: 'the enrolled agent, null when the machine is not enrolled' }) agent!: LedgerAgentView | null;
  @ApiProperty({ type: EncryptionView }) encryption!: EncryptionView;
  @ApiProperty({ description: 'enrolled and unheard for MAMORI_AGENT_SILENT_AFTER_SECONDS' }) silent!: boolean;
  @ApiProperty({ description: 'on loan and past its due-back date' }) overdue!: boolean;
  @ApiProperty() createdAt!: string;
  @ApiProperty() updatedAt!: string;
}

class LedgerDevicePageView {
  @ApiProperty({ type: [LedgerDeviceView] }) items!: LedgerDeviceView[];
  @ApiProperty({ nullable: true, type: String }) nextCursor!: string | null;
}

class LedgerImportView implements LedgerImportResult {
  @ApiProperty() rows!: number;
  @ApiProperty() created!: number;
  @ApiProperty() updated!: number;
  @ApiProperty() unchanged!: number;
  @ApiProperty({ description: 'machines of the file matched to an enrolled agent' }) enrolled!: number;
}

class DepartmentSummaryView implements DepartmentSummary {
  @ApiProperty({ nullable: true, type: String, description: 'null: enrolled machines not in the ledger' }) department!: string | null;
  @ApiProperty() machines!: number;
  @ApiProperty() enrolled!: number;
  @ApiProperty() encrypted!: number;
  @ApiProperty() notEncrypted!: number;
  @ApiProperty({ description: 'no encryption check ran, or not enrolled' }) encryptionUnknown!: number;
  @ApiProperty() silent!: number;
  @ApiProperty() overdue!: number;
  @ApiProperty({ type: Object, example: { in_stock: 3, on_loan: 40, lost: 0, retired: 2, not_in_ledger: 0 } }) byStatus!: DepartmentSummary['byStatus'];
}

class LedgerSummaryView {
  @ApiProperty({ type: [DepartmentSummaryView] }) departments!: DepartmentSummaryView[];
}

/** The view of one machine, with `silent` and `overdue` judged at `now`. */
export function ledgerDeviceView(record: LedgerDeviceRecord, flags: { silent: boolean; overdue: boolean }): LedgerDeviceView {
  const agent = record.agent;
  const disk = agent?.diskEncryption ?? null;
  return {
    id: record.id,
    inLedger: record.status !== null,
    assetTag: record.assetTag,
    hardwareSerial: record.hardwareSerial,
    hostname: record.hostname,
    department: record.department,
    holder: record.holder,
    loanedSince: record.loanedSince,
    dueBack: record.dueBack,
    status: record.status,
    note: record.note,
    matchedBy: record.matchedBy,
    agent:
      agent === null
        ? null
        : {
            id: agent.id,
            status: agent.status,
            hostname: agent.hostname,
            osFamily: agent.osFamily,
            osVersion: agent.osVersion,
            architecture: agent.architecture,
            agentVersion: agent.agentVersion,
            hardwareSerial: agent.hardwareSerial,
            hardwareModel: agent.hardwareModel,
            hardwareVendor: agent.hardwareVendor,
            lastUser: agent.loggedInUsers[0] ?? null,
            loggedInUsers: agent.loggedInUsers,
            networkAddresses: agent.networkInterfaces.flatMap((nic) => nic.addresses),
            networkInterfaces: agent.networkInterfaces,
            enrolledAt: agent.enrolledAt.toISOString(),
            lastSeenAt: agent.lastSeenAt?.toISOString() ?? null,
            requiredZone: agent.requiredZone,
          },
    encryption: {
      state: agent?.diskEncryptionState ?? 'unknown',
      fixedDisksEncrypted: disk?.fixedDisksEncrypted ?? 'not_checked',
      systemVolumeEncrypted: disk?.systemVolumeEncrypted ?? 'not_checked',
      findings: disk?.findings ?? [],
      volumes: disk?.volumes ?? [],
      problems: disk?.problems ?? [],
      source: disk?.source ?? null,
      reportedAt: agent?.diskEncryptionAt?.toISOString() ?? null,
    },
    silent: flags.silent,
    overdue: flags.overdue,
    createdAt: record.createdAt.toISOString(),
    updatedAt: record.updatedAt.toISOString(),
  };
}

/** REST: the laptop ledger, joined with what the agents report. */
@ApiTags('ledger')
@ApiBearerAuth()
@ApiRoleForbiddenResponse()
@Controller('api/v1/ledger')
export class LedgerController {
  constructor(private readonly ledger: LedgerService) {}

  private view(record: LedgerDeviceRecord, now = new Date()): LedgerDeviceView {
    return ledgerDeviceView(record, { silent: this.ledger.isSilent(record, now), overdue: this.ledger.isOverdue(record, now) });
  }

  @Get('devices')
  @Roles(...READERS, 'it')
  @ApiOkResponse({ type: LedgerDevicePageView })
  async list(@Query() query: ListLedgerDevicesQuery): Promise<LedgerDevicePageView> {
    const now = new Date();
    const page = await this.ledger.list(query, now);
    return { items: page.items.map((record) => this.view(record, now)), nextCursor: page.nextCursor };
  }

  @Post('devices')
  @Roles('it')
  @ApiCreatedResponse({ type: LedgerDeviceView, description: 'a machine of the ledger; an enrolled machine it matches is linked at once' })
  @ApiConflictResponse({ description: 'the asset tag or hardware serial is already in the ledger' })
  async create(@Body() body: CreateLedgerDeviceDto): Promise<LedgerDeviceView> {
    return this.view(await this.ledger.create(body));
  }

  @Get('devices/:id')
  @Roles(...READERS, 'it')
  @ApiOkResponse({ type: LedgerDeviceView })
  @ApiNotFoundResponse()
  async get(@Param('id', uuidParam('id')) id: string): Promise<LedgerDeviceView> {
    return this.view(await this.ledger.get(id));
  }

  @Patch('devices/:id')
  @Roles('it')
  @ApiOkResponse({ type: LedgerDeviceView })
  @ApiNotFoundResponse()
  @ApiConflictResponse({ description: 'the asset tag or hardware serial is already in the ledger, or the agent is matched to another machine' })
  async update(@Param('id', uuidParam('id')) id: string, @Body() body: UpdateLedgerDeviceDto): Promise<LedgerDeviceView> {
    return this.view(await this.ledger.update(id, body));
  }

  @Post('import')
  @Roles('it')
  @HttpCode(200)
  @ApiConsumes('text/csv')
  @ApiBody({
    description: `CSV, UTF-8 with or without BOM (Shift_JIS with charset=shift_jis), header row required. Columns: ${LEDGER_CSV_COLUMNS.join(', ')}; required: asset_tag, department, status. Dates yyyy-mm-dd or yyyy/mm/dd.`,
    schema: { type: 'string', example: 'asset_tag,hardware_serial,hostname,department,holder,loaned_since,due_back,status,note\r\nPC-0012,PF3ABCDE,sales-pc-12,Sales,Hanako Yamada,2025/04/01,2026/03/31,on_loan,\r\n' },
  })
  @ApiOkResponse({ type: LedgerImportView })
  @ApiBadRequestResponse({ description: '{statusCode, error, message, problems: [{line, column?, message}]}: every bad row; nothing was imported' })
  async import(@Req() request: IncomingMessage): Promise<LedgerImportView> {
    const type = request.headers['content-type'] ?? '';
    if (!/^(text\/csv|text\/plain|application\/csv)\b/i.test(type)) {
      throw new BadRequestException(`send the ledger as content-type text/csv, got ${type === '' ? 'none' : type}`);
    }
    const charset = /;\s*charset="?([^";\s]+)"?/i.exec(type)?.[1];
    const decoded = decodeCsvBytes(await readBody(request, MAX_CSV_BYTES), charset);
    if ('error' in decoded) throw new BadRequestException(decoded.error);
    return this.ledger.importCsv(decoded.text);
  }

  @Get('export')
  @Roles(...READERS, 'it')
  @Header('content-type', 'text/csv; charset=utf-8')
  @Header('content-disposition', 'attachment; filename="ledger.csv"')
  @ApiProduces('text/csv')
  @ApiOkResponse({ description: `the ledger as CSV (UTF-8 with BOM, CRLF, the import's columns: ${LEDGER_CSV_COLUMNS.join(', ')})`, schema: { type: 'string' } })
  exportCsv(@Query() query: LedgerDepartmentQuery): Promise<string> {
    return this.ledger.exportCsv(query.department);
  }

  @Get('summary')
  @Roles(...READERS, 'it')
  @ApiOkResponse({ type: LedgerSummaryView })
  async summary(@Query() query: LedgerDepartmentQuery): Promise<LedgerSummaryView> {
    return { departments: await this.ledger.summary(query.department) };
  }
}
