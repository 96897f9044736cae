import { BadRequestException, Controller, Get, Param, Query, StreamableFile } from '@nestjs/common';
import { ApiBadRequestResponse, ApiBearerAuth, ApiNotFoundResponse, ApiOkResponse, ApiProduces, ApiProperty, ApiTags } from '@nestjs/swagger';
import { Readable } from 'node:stream';
import { cursorOf, DEFAULT_PAGE_SIZE, timeWindowOf } from '../../common/list-query.dto';
import { toUsbHex } from '../../common/usb-hex';
import { uuidParam } from '../../common/uuid-param';
import { locatedView, ViolationView } from '../violations/violations.controller';
import { ViolationsService } from '../violations/violations.service';
import { ExportTransfersQuery, ListTransfersQuery } from './dto/list-transfers.query';
import type { TransferRecord } from './transfer.record';
import { csvLine, TRANSFER_CSV_COLUMNS, transferCsvRow } from './transfers-csv';
import { PERSONAL_DATA_KINDS, TRANSFER_CHANNELS, TRANSFER_OPERATIONS } from './transfers.rules';
import { TransfersService } from './transfers.service';
import { ApiRoleForbiddenResponse } from '../../common/api-role-forbidden-response';
import { Roles } from '../auth/roles.decorator';
import { READERS } from '../auth/roles';

class TransferDeviceView {
  @ApiProperty({ example: '0781' }) vendorId!: string;
  @ApiProperty({ example: '5567' }) productId!: string;
  @ApiProperty() serial!: string;
  @ApiProperty() manufacturer!: string;
  @ApiProperty() product!: string;
  @ApiProperty({ type: [Number] }) interfaceClasses!: number[];
  @ApiProperty() busPath!: string;
}

export class TransferView {
  @ApiProperty() id!: string;
  @ApiProperty({ description: 'the FileTransfer event this row was stored from' }) eventId!: string;
  @ApiProperty() agentId!: string;
  @ApiProperty() hostname!: string;
  @ApiProperty({ description: 'when the file was written, by the agent clock' }) occurredAt!: string;
  @ApiProperty({ description: 'when the collector stored it' }) receivedAt!: string;
  @ApiProperty({ example: '2026-11-27', description: "the collector's calendar day (TZ) of occurredAt; transfer.daily_volume counts by it" }) localDay!: string;
  @ApiProperty({ description: 'the user logged in when the file was written, empty when none' }) userName!: string;
  @ApiProperty({ enum: TRANSFER_CHANNELS }) channel!: string;
  @ApiProperty({ enum: TRANSFER_OPERATIONS }) operation!: string;
  @ApiProperty({ description: "the file's path on the destination (relative to a removable volume's mount point)" }) path!: string;
  @ApiProperty({ description: 'for a rename, the earlier path; empty otherwise' }) previousPath!: string;
  @ApiProperty() sizeBytes!: number;
  @ApiProperty({ description: 'lower-case hex; empty when the file could not be read' }) sha256!: string;
  @ApiProperty({ description: 'the mount point or folder the file went to' }) destination!: string;
  @ApiProperty({ type: TransferDeviceView, nullable: true, description: 'the USB device written to, null for other channels' }) device!: TransferDeviceView | null;
  @ApiProperty({ nullable: true, type: String, description: "the plug: the event id of the device's UsbDeviceAttached, null when the agent did not name it" }) attachedEventId!: string | null;
  @ApiProperty({ example: '/dev/sdb1' }) deviceNode!: string;
  @ApiProperty() destinationEncrypted!: boolean;
  @ApiProperty() hasPersonalData!: boolean;
  @ApiProperty({ type: Object, example: { my_number: 3, email_address: 12 }, description: `counts per kind (${PERSONAL_DATA_KINDS.join(', ')}); never the values` })
  findings!: Record<string, number>;
  @ApiProperty({ description: 'false when a byte or time budget stopped the inspection early' }) inspectionComplete!: boolean;
  @ApiProperty() inspectionNote!: string;
  @ApiProperty({ example: 'xlsx' }) format!: string;
  @ApiProperty({ description: 'password-protected archive entries, not opened' }) encryptedEntries!: number;
  @ApiProperty({ description: 'what went wrong with the file (e.g. the stick was pulled mid-copy), empty when nothing' }) problem!: string;
  @ApiProperty() processName!: string;
  @ApiProperty({ description: '0 where the platform does not tell' }) processId!: number;
}

class TransferPageView {
  @ApiProperty({ type: [TransferView] }) items!: TransferView[];
  @ApiProperty({ nullable: true, type: String }) nextCursor!: string | null;
}

class RegisterEntryLinkView {
  @ApiProperty() entryId!: string;
  @ApiProperty({ example: '0781', description: '4 hex digits, or * for any vendor' }) vendorId!: string;
  @ApiProperty({ example: '5567', description: '4 hex digits, or * for any product' }) productId!: string;
  @ApiProperty() serial!: string;
  @ApiProperty() label!: string;
  @ApiProperty() holder!: string;
  @ApiProperty() department!: string;
}

class TransferDeviceLinkView {
  @ApiProperty({ type: TransferDeviceView }) usb!: TransferDeviceView;
  @ApiProperty({ type: RegisterEntryLinkView, nullable: true, description: 'the register entry the device matches in the current register, null when none' })
  registerEntry!: RegisterEntryLinkView | null;
  @ApiProperty({ nullable: true, type: String, description: "the plug's attach event id (GET /api/v1/events?kind=usb_device_attached lists it)" }) attachedEventId!: string | null;
  @ApiProperty({ description: 'whether that attach event is stored here' }) attachEventStored!: boolean;
}

class TransferDetailView extends TransferView {
  @ApiProperty({ type: TransferDeviceLinkView, nullable: true, description: 'null for transfers without a USB device' }) deviceLink!: TransferDeviceLinkView | null;
  @ApiProperty({
    type: [ViolationView],
    description: 'the violations this transfer raised (transfer.personal_data_unencrypted), its plug raised (transfer.to_unregistered_media) and its user and day raised (transfer.daily_volume)',
  })
  violations!: ViolationView[];
}

function deviceView(transfer: TransferRecord): TransferDeviceView | null {
  const device = transfer.device;
  if (device === null) return null;
  return {
    vendorId: toUsbHex(device.vendorId),
    productId: toUsbHex(device.productId),
    serial: device.serial,
    manufacturer: device.manufacturer,
    product: device.product,
    interfaceClasses: [...device.interfaceClasses],
    busPath: device.busPath,
  };
}

export function transferView(transfer: TransferRecord): TransferView {
  return {
    id: transfer.id,
    eventId: transfer.eventId,
    agentId: transfer.agentId,
    hostname: transfer.hostname,
    occurredAt: transfer.occurredAt.toISOString(),
    receivedAt: transfer.receivedAt.toISOString(),
    localDay: transfer.localDay,
    userName: transfer.userName,
    channel: transfer.channel,
    operation: transfer.operation,
    path: transfer.path,
    previousPath: transfer.previousPath,
    sizeBytes: transfer.sizeBytes,
    sha256: transfer.sha256,
    destination: transfer.destination,
    device: deviceView(transfer),
    attachedEventId: transfer.attachedEventId,
    deviceNode: transfer.deviceNode,
    destinationEncrypted: transfer.destinationEncrypted,
    hasPersonalData: transfer.hasPersonalData,
    findings: transfer.findings,
    inspectionComplete: transfer.inspectionComplete,
    inspectionNote: transfer.inspectionNote,
    format: transfer.format,
    encryptedEntries: transfer.encryptedEntries,
    problem: transfer.problem,
    processName: transfer.processName,
    processId: transfer.processId,
  };
}

/** REST: the outbound file transfer log for reviewers and auditors. */
@ApiTags('transfers')
@ApiBearerAuth()
@ApiRoleForbiddenResponse()
@Controller('api/v1/transfers')
export class TransfersController {
  constructor(
    private readonly transfers: TransfersService,
    private readonly violations: ViolationsService,
  ) {}

  @Get()
  @Roles(...READERS)
  @ApiOkResponse({ type: TransferPageView })
  @ApiBadRequestResponse({ description: 'a filter that is not valid (the message names it)' })
  async list(@Query() query: ListTransfersQuery): Promise<TransferPageView> {
    const page = await this.transfers.list(
      {
        userName: query.userName,
        deviceSerial: query.deviceSerial,
        agentId: query.agentId,
        sha256: query.sha256,
        hasPersonalData: query.hasPersonalData === undefined ? undefined : query.hasPersonalData === 'true',
        channel: query.channel,
        operation: query.operation,
        ...timeWindowOf(query),
      },
      query.limit ?? DEFAULT_PAGE_SIZE,
      cursorOf(query, 'uuid'),
    );
    return { items: page.items.map(transferView), nextCursor: page.nextCursor };
  }

  // Declared before :id, so "export.csv" is not taken for an id.
  @Get('export.csv')
  @Roles(...READERS)
  @ApiProduces('text/csv')
  @ApiOkResponse({
    description: `the transfers of [since, until) oldest first, as CSV: UTF-8 with BOM, CRLF, formula-like cells prefixed with an apostrophe. Columns: ${TRANSFER_CSV_COLUMNS.join(', ')}`,
    schema: { type: 'string' },
  })
  @ApiBadRequestResponse({ description: 'since or until missing or not ISO-8601, or until not after since' })
  exportCsv(@Query() query: ExportTransfersQuery): StreamableFile {
    const since = new Date(query.since);
    const until = new Date(query.until);
    if (until.getTime() <= since.getTime()) {
      throw new BadRequestException('until must be after since');
    }
    const transfers = this.transfers;
    async function* lines(): AsyncGenerator<string> {
      yield '\uFEFF' + csvLine(TRANSFER_CSV_COLUMNS);
      for await (const page of transfers.period(since, until)) {
        const violations = await transfers.violationsOf(page);
        yield page.map((transfer) => csvLine(transferCsvRow(transfer, violations.get(transfer.id) ?? []))).join('');
      }
    }
    const name = `transfers-${since.toISOString().slice(0, 10)}-${until.toISOString().slice(0, 10)}.csv`;
    return new StreamableFile(Readable.from(lines(), { objectMode: false }), { type: 'text/csv; charset=utf-8', disposition: `attachment; filename="${name}"` });
  }

  @Get(':id')
  @Roles(...READERS)
  @ApiOkResponse({ type: TransferDetailView })
  @ApiNotFoundResponse()
  async get(@Param('id', uuidParam('id')) id: string): Promise<TransferDetailView> {
    const detail = await this.transfers.get(id);
    const usb = deviceView(detail.transfer);
    const entry = detail.registerEntry;
    // Read back through the violations module so each carries its machine's ledger department, as the feed shows it.
    const violations = await this.violations.byIds(detail.violations.map((violation) => violation.id));
    return {
      ...transferView(detail.transfer),
      deviceLink:
        usb === null
          ? null
          : {
              usb,
              registerEntry:
                entry === null
                  ? null
                  : {
                      entryId: entry.entryId,
                      vendorId: entry.anyVendor ? '*' : toUsbHex(entry.vendorId),
                      productId: entry.anyProduct ? '*' : toUsbHex(entry.productId),
                      serial: entry.serial,
                      label: entry.label,
                      holder: entry.holder,
                      department: entry.department,
                    },
              attachedEventId: detail.transfer.attachedEventId,
              attachEventStored: detail.attachEventStored,
            },
      violations: violations.map(locatedView),
    };
  }
}
