import { BadRequestException, Body, Controller, Get, Param, Patch, Query, Req, Res } from '@nestjs/common';
import { ApiBadRequestResponse, ApiBearerAuth, ApiExtraModels, ApiHeader, ApiNotFoundResponse, ApiOkResponse, ApiProduces, ApiProperty, ApiPropertyOptional, ApiTags, getSchemaPath } from '@nestjs/swagger';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { cursorOf, DEFAULT_PAGE_SIZE, timeWindowOf } from '../../common/list-query.dto';
import { cursorIdFits, decodeCursor, type CursorPosition } from '../../common/pagination-cursor';
import { uuidParam } from '../../common/uuid-param';
import { ListViolationsQuery } from './dto/list-violations.query';
import { TriageViolationDto } from './dto/triage-violation.dto';
import { isDestinationSubject, isMachineSubject, isUserDaySubject, VIOLATION_STATUSES, ViolationEntity, type ViolationMachine } from './violation.entity';

import { LocatedViolation, ViolationsService } from './violations.service';
import { RESUME_LIMIT, ViolationChange, ViolationFeed } from './violation-feed.service';
import { ApiRoleForbiddenResponse } from '../../common/api-role-forbidden-response';
import { Roles } from '../auth/roles.decorator';
import { AuthGuard, type GuardedRequest } from '../auth/auth.guard';
import { READERS } from '../auth/roles';

/** The USB device of a usb.* violation. */
class ViolationDeviceView {
  @ApiProperty({ example: '0781' }) vendorId!: string;
  @ApiProperty({ example: '5567' }) productId!: string;
  @ApiProperty() serial!: string;
  @ApiProperty() manufacturer!: string;
  @ApiProperty() product!: string;
  @ApiProperty({ type: [Number] }) interfaceClasses!: number[];
  @ApiProperty() busPath!: string;
  @ApiProperty({ enum: ['present', 'empty', 'duplicated', 'unspecified'], description: 'whether the serial tells the device apart from others of its model' })
  serialQuality!: string;
}

/** The machine of a condition violation (disk.unencrypted, agent.silent, ledger.unknown_device, ledger.overdue). */
class ViolationMachineView {
  @ApiProperty({ enum: ['machine'], description: 'tells a machine from a USB device (which has no kind)' }) kind!: 'machine';
  @ApiProperty({ nullable: true, type: String, description: 'its ledger row, null when the machine is not in the ledger' }) ledgerDeviceId!: string | null;
  @ApiProperty({ nullable: true, type: String }) assetTag!: string | null;
  @ApiProperty({ description: "the agent's host name, else the ledger's; empty when neither knows it" }) hostname!: string;
  @ApiProperty({ description: "the agent's hardware serial, else the ledger's; empty when neither knows it" }) hardwareSerial!: string;
  @ApiProperty({ description: 'from the ledger, empty when not in it' }) department!: string;
  @ApiProperty({ description: 'from the ledger, empty when not in it' }) holder!: string;
  @ApiProperty({ nullable: true, enum: ['in_stock', 'on_loan', 'lost', 'retired'], description: 'the ledger status when the violation was raised, null when not in the ledger' })
  ledgerStatus!: string | null;
  @ApiPropertyOptional({ type: [String], description: 'disk.unencrypted: why the disks are not compliant' }) findings?: string[];
  @ApiPropertyOptional({ type: 'array', items: { type: 'object' }, description: "disk.unencrypted: the machine's fixed volumes as the agent reported them" })
  volumes?: Record<string, unknown>[];
  @ApiPropertyOptional({ description: 'ledger.unknown_device: as the agent reported it' }) hardwareModel?: string;
  @ApiPropertyOptional({ description: 'ledger.unknown_device: as the agent reported it' }) hardwareVendor?: string;
  @ApiPropertyOptional({ nullable: true, type: String, description: 'ledger.overdue: yyyy-mm-dd' }) loanedSince?: string | null;
  @ApiPropertyOptional({ nullable: true, type: String, description: 'ledger.overdue: yyyy-mm-dd' }) dueBack?: string | null;
  @ApiPropertyOptional({ description: 'agent.silent: when the collector last heard from the agent (ISO 8601)' }) lastHeardAt?: string;
  @ApiPropertyOptional({ description: 'network.wrong_zone: the zone the device must be in' }) requiredZone?: string;
  @ApiPropertyOptional({ description: 'network.wrong_zone: the zone its heartbeat reported' }) reportedZone?: string;
}

/** The subject of destination.not_whitelisted: one destination one agent tried to reach, attempts folded. */
class ViolationDestinationView {
  @ApiProperty({ enum: ['destination'], description: 'tells a destination from the other subjects' }) kind!: 'destination';
  @ApiProperty({ description: "the host name asked for, '' when only the address was known" }) host!: string;
  @ApiProperty({ description: 'the newest address seen' }) ipAddress!: string;
  @ApiProperty({ type: [String], description: 'every address seen (at most 16)' }) ipAddresses!: string[];
  @ApiProperty() port!: number;
  @ApiProperty({ enum: ['any', 'tcp', 'udp'] }) protocol!: string;
  @ApiProperty({ description: 'the zone the host was in' }) zone!: string;
  @ApiProperty({ enum: ['blocked', 'audited'], description: "the newest attempt's decision" }) decision!: string;
  @ApiProperty({ description: 'attempts folded into this violation so far' }) attempts!: number;
  @ApiProperty() blockedAttempts!: number;
  @ApiProperty({ description: 'let through in audit mode (these raise the severity to high)' }) auditedAttempts!: number;
  @ApiProperty() processName!: string;
  @ApiProperty() processId!: number;
  @ApiProperty({ type: [String] }) processNames!: string[];
  @ApiProperty({ enum: ['firewall', 'proxy', 'unspecified'] }) observer!: string;
  @ApiProperty() sourceAddress!: string;
  @ApiProperty() firstSeenAt!: string;
  @ApiProperty() lastSeenAt!: string;
  @ApiProperty({ description: 'the newest DestinationAccess event folded in' }) lastEventId!: string;
}

/** The subject of transfer.daily_volume: one user's writes to removable media on one day. */
class ViolationUserDayView {
  @ApiProperty({ enum: ['user_day'], description: "tells a user's day from a USB device or a machine" }) kind!: 'user_day';
  @ApiProperty({ description: 'the user the files were written by' }) userName!: string;
  @ApiProperty({ description: "the collector's local day, yyyy-mm-dd" }) day!: string;
  @ApiProperty({ description: 'files written to removable media that day so far' }) files!: number;
  @ApiProperty({ description: 'bytes written to removable media that day so far' }) bytes!: number;
  @ApiProperty({ description: 'the file limit in force, 0 when off' }) dailyFileLimit!: number;
  @ApiProperty({ description: 'the byte limit in force, 0 when off' }) dailyByteLimit!: number;
}

class ViolationEnforcementView {
  @ApiProperty({ enum: ['allow', 'audit', 'read_only', 'block', 'unspecified'] }) requestedMode!: string;
  @ApiProperty({ enum: ['allow', 'audit', 'read_only', 'block', 'unspecified'], description: 'lower than requested when the agent could not enforce' }) appliedMode!: string;
  @ApiProperty({ enum: ['none', 'authorized', 'deauthorized', 'set_read_only', 'set_read_write', 'not_possible', 'unspecified'] }) action!: string;
  @ApiProperty() reason!: string;
  @ApiProperty({ nullable: true, type: String }) registerEntryId!: string | null;
  @ApiProperty({ nullable: true, type: String }) exceptionId!: string | null;
  @ApiProperty({ description: 'the policy version the agent decided under' }) policyVersion!: string;
  @ApiProperty() latencyMicros!: string;
  @ApiProperty({ description: "that version's lineage as the agent reported it, empty when it did not" }) policyLineageId!: string;
}

class ViolationJudgementView {
  @ApiProperty({ description: 'the policy version the collector judged the event by' }) policyVersion!: number;
  @ApiProperty({ enum: ['decision', 'newest'], description: "decision: the version the agent decided under; newest: that version was unknown here (see note)" }) source!: string;
  @ApiProperty({ description: 'why the newest version judged, empty otherwise' }) note!: string;
}

export class ViolationView {
  @ApiProperty() id!: string;
  @ApiProperty({ example: 'usb.unregistered_device' }) rule!: string;
  @ApiProperty({ example: 'high' }) severity!: string;
  @ApiProperty({ enum: VIOLATION_STATUSES }) status!: string;
  @ApiProperty({ nullable: true, type: String, description: 'null for a condition about a machine no agent was ever enrolled on (an overdue loan)' }) agentId!: string | null;
  @ApiProperty() hostname!: string;
  @ApiProperty() userName!: string;
  @ApiProperty({
    oneOf: [
      { $ref: getSchemaPath(ViolationDeviceView) },
      { $ref: getSchemaPath(ViolationMachineView) },
      { $ref: getSchemaPath(ViolationUserDayView) },
      { $ref: getSchemaPath(ViolationDestinationView) },
    ],
    description:
      "what the violation is about: the USB device for the usb.* rules and the per-file transfer.* rules; the machine (kind 'machine') for disk.unencrypted, agent.silent, ledger.* and network.wrong_zone; the user's day (kind 'user_day') for transfer.daily_volume; the destination (kind 'destination') for destination.not_whitelisted",
  })
  device!: ViolationDeviceView | ViolationMachineView | ViolationUserDayView | ViolationDestinationView;
  @ApiProperty({ type: ViolationEnforcementView, nullable: true, description: 'what the agent decided and did, null when it reported nothing' })
  enforcement!: ViolationEnforcementView | null;
  @ApiProperty({ description: 'when it happened, by the agent clock' }) occurredAt!: string;
  @ApiProperty({ description: 'when the collector stored it' }) detectedAt!: string;
  @ApiProperty() eventId!: string;
  @ApiProperty({ nullable: true, type: String, description: "the plug: the event id of the device's attach; one unresolved violation per rule and plug" }) plugId!: string | null;
  @ApiProperty({ type: ViolationJudgementView, nullable: true, description: 'which policy version judged the event; null for violations stored before this was recorded' })
  judgedUnder!: ViolationJudgementView | null;
  @ApiProperty() summary!: string;
  @ApiProperty({ nullable: true, type: String }) note!: string | null;
  @ApiProperty({ nullable: true, type: String, description: 'the username of the security reviewer it is assigned to, null when nobody is' }) assignee!: string | null;
  @ApiProperty({ description: "the ledger department of the machine, '' when the ledger does not know the machine" }) department!: string;
  @ApiProperty() updatedAt!: string;
}

class ViolationPageView {
  @ApiProperty({ type: [ViolationView] }) items!: ViolationView[];
  @ApiProperty({ nullable: true, type: String }) nextCursor!: string | null;
}

class TrailEventView {
  @ApiProperty() eventId!: string;
  @ApiProperty() agentId!: string;
  @ApiProperty() sequence!: string;
  @ApiProperty({ example: 'usb_device_attached' }) kind!: string;
  @ApiProperty() occurredAt!: string;
  @ApiProperty() receivedAt!: string;
  @ApiProperty() userName!: string;
  @ApiProperty({
    enum: ['trigger', 'plug', 'plug_event', 'last_attempt', 'attempt', 'day_event'],
    description: "why the event is in the trail: the event the rule fired on, the plug's attach, a later event naming the plug, the destination's newest or a folded attempt, the user's writes that day",
  })
  role!: string;
  @ApiProperty({ type: 'object', additionalProperties: true, description: 'the event as the agent sent it' }) payload!: Record<string, unknown>;
}

class AssigneeView {
  @ApiProperty() username!: string;
  @ApiProperty() displayName!: string;
}

class AssigneeListView {
  @ApiProperty({ type: [AssigneeView] }) items!: AssigneeView[];
}

class ViolationTrailView {
  @ApiProperty({ type: [TrailEventView], description: 'the stored events behind the violation, oldest first (at most 200)' }) events!: TrailEventView[];
  @ApiProperty({ type: 'array', items: { type: 'object' }, description: 'its audit records (as GET /api/v1/audit shows them), newest first' })
  audit!: Record<string, unknown>[];
}

/** The view of a violation with its ledger department (see ViolationsService.locate). */
export function locatedView({ violation, department }: LocatedViolation): ViolationView {
  return viewOf(violation, department);
}

function viewOf(violation: ViolationEntity, department: string): ViolationView {
  return {
    id: violation.id,
    rule: violation.rule,
    severity: violation.severity,
    status: violation.status,
    agentId: violation.agentId,
    hostname: violation.hostname,
    userName: violation.userName,
    device: deviceView(violation),
    enforcement: violation.enforcement === null ? null : { ...violation.enforcement, policyLineageId: violation.enforcement.policyLineageId ?? '' },
    occurredAt: violation.occurredAt.toISOString(),
    detectedAt: violation.detectedAt.toISOString(),
    eventId: violation.eventId,
    plugId: violation.plugId,
    judgedUnder: violation.judgedUnder,
    summary: violation.summary,
    note: violation.note,
    assignee: violation.assignee ?? null,
    department,
    updatedAt: violation.updatedAt.toISOString(),
  };
}

function deviceView(violation: ViolationEntity): ViolationDeviceView | ViolationMachineView | ViolationUserDayView | ViolationDestinationView {
  const subject = violation.device;
  if (isDestinationSubject(subject)) return { ...subject, ipAddresses: [...subject.ipAddresses], processNames: [...subject.processNames] };
  if (isMachineSubject(subject)) return { ...(subject as ViolationMachine) } as ViolationMachineView;
  if (isUserDaySubject(subject)) return { ...subject };
  // Violations stored before serial quality was reported have none.
  return { ...subject, serialQuality: subject.serialQuality ?? 'unspecified' };
}

/** REST: violations for reviewers. */
@ApiExtraModels(ViolationDeviceView, ViolationMachineView, ViolationUserDayView, ViolationDestinationView)
@ApiTags('violations')
@ApiBearerAuth()
@ApiRoleForbiddenResponse()
@Controller('api/v1/violations')
export class ViolationsController {
  constructor(
    private readonly violations: ViolationsService,
    private readonly feed: ViolationFeed,
    private readonly guard: AuthGuard,
  ) {}

  @Get()
  @Roles(...READERS)
  @ApiOkResponse({ type: ViolationPageView })
  async list(@Query() query: ListViolationsQuery): Promise<ViolationPageView> {
    const page = await this.violations.list(
      {
        agentId: query.agentId,
        rule: query.rule,
        status: query.status,
        severity: query.severity,
        department: query.department,
        assignee: query.assignee,
        unassigned: query.unassigned,
        ...timeWindowOf(query),
      },
      query.limit ?? DEFAULT_PAGE_SIZE,
      cursorOf(query, 'uuid'),
    );
    return { items: page.items.map(locatedView), nextCursor: page.nextCursor };
  }

  /** Who violations can be assigned to (enabled users holding the role security), for the console's picker. */
  @Get('assignees')
  @Roles(...READERS)
  @ApiOkResponse({ type: AssigneeListView })
  async assignees(): Promise<AssigneeListView> {
    return { items: await this.violations.assignees() };
  }

  /**
   * Server-Sent Events: `event: violation` with the violation's view for every violation created
   * or changed after connecting, `id:` its cursor; `Last-Event-ID` resumes after that cursor
   * (replaying at most RESUME_LIMIT changes, then `event: resync` tells the client to reload the
   * list); a `: keepalive` comment every 15 s. At each keepalive the caller's credential and role
   * are checked again: a session that ended, a disabled user, a revoked token or a role taken away
   * ends the stream with `event: ended` `{statusCode, message}` (a stream would otherwise outlive
   * them). Declared before `:id` so the UUID pipe never sees it.
   */
  @Get('stream')
  @Roles(...READERS)
  @ApiProduces('text/event-stream')
  @ApiHeader({ name: 'Last-Event-ID', required: false, description: 'the id of the last event received; the stream resumes after it' })
  @ApiOkResponse({ description: 'text/event-stream of `event: violation` messages whose data is a ViolationView' })
  @ApiBadRequestResponse({ description: 'Last-Event-ID is not an id this stream sent' })
  async stream(@Req() request: IncomingMessage, @Res() response: ServerResponse): Promise<void> {
    const header = request.headers['last-event-id'];
    const resumeFrom = resumePositionOf(Array.isArray(header) ? header[0] : header);
    let closed = false;
    let live = false;
    const pending: ViolationChange[] = [];
    const delivered = new Set<string>();
    let keepalive: NodeJS.Timeout | null = null;
    let unsubscribe: (() => void) | null = null;
    const untrack = this.feed.track(() => {
      if (!response.writableEnded) response.end();
      cleanUp();
    });
    const cleanUp = () => {
      if (closed) return;
      closed = true;
      if (keepalive !== null) clearInterval(keepalive);
      keepalive = null;
      unsubscribe?.();
      unsubscribe = null;
      untrack();
    };
    request.on('close', cleanUp);
    response.on('close', cleanUp);
    const send = (changes: ViolationChange[]) => {
      for (const change of changes) {
        const key = change.cursor;
        if (delivered.has(key)) continue;
        // The live feed sends only changes made after this stream subscribed (the poller never
        // repeats itself), so it is not filtered by the resume cursor: a change stamped before the
        // cursor but committed later is new to the client. Only the replay can overlap it, so only
        // the replay's keys are kept.
        if (!live) delivered.add(key);
        response.write(`event: violation\nid: ${change.cursor}\ndata: ${JSON.stringify(locatedView(change.located))}\n\n`);
      }
    };

    const stop = await this.feed.subscribe((changes) => {
      if (closed) return;
      if (live) send(changes);
      else pending.push(...changes);
    });
    if (closed) {
      stop();
      return;
    }
    unsubscribe = stop;
    response.statusCode = 200;
    response.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    response.setHeader('Cache-Control', 'no-cache, no-transform');
    response.setHeader('Connection', 'keep-alive');
    response.setHeader('X-Accel-Buffering', 'no');
    response.flushHeaders();
    response.write(': connected\nretry: 2000\n\n');
    if (resumeFrom !== null) {
      let replay: ViolationChange[];
      try {
        replay = await this.feed.changesAfter(resumeFrom, RESUME_LIMIT + 1);
      } catch (error) {
        // The headers are out, so no error status can follow: say what failed and end the stream;
        // the client reconnects with the same Last-Event-ID.
        response.end(`event: resync\ndata: ${JSON.stringify({ reason: `could not read the changes since Last-Event-ID (${String(error)}); reload the list` })}\n\n`);
        cleanUp();
        return;
      }
      if (closed) return;
      send(replay.slice(0, RESUME_LIMIT));
      if (replay.length > RESUME_LIMIT) {
        response.write(`event: resync\ndata: ${JSON.stringify({ reason: `more than ${RESUME_LIMIT} violations changed since Last-Event-ID; reload the list` })}\n\n`);
      }
    }
    send(pending.splice(0));
    live = true;
    let checking = false;
    const keepAliveIfStillAllowed = async () => {
      if (closed || checking) return;
      checking = true;
      try {
        // A database that cannot answer the check does not end the stream; the next tick tries again.
        const ended = await this.guard.recheck(request as unknown as GuardedRequest, READERS).catch(() => null);
        if (closed) return;
        if (ended !== null) {
          response.end(`event: ended\ndata: ${JSON.stringify(ended)}\n\n`);
          cleanUp();
          return;
        }
        response.write(': keepalive\n\n');
      } finally {
        checking = false;
      }
    };
    keepalive = setInterval(() => void keepAliveIfStillAllowed(), this.feed.timing.keepaliveMs);
    keepalive.unref();
  }

  @Get(':id/trail')
  @Roles(...READERS)
  @ApiOkResponse({ type: ViolationTrailView })
  @ApiNotFoundResponse()
  async trail(@Param('id', uuidParam('id')) id: string): Promise<ViolationTrailView> {
    const trail = await this.violations.trail(id);
    return { events: trail.events, audit: trail.audit as unknown as Record<string, unknown>[] };
  }

  @Get(':id')
  @Roles(...READERS)
  @ApiOkResponse({ type: ViolationView })
  @ApiNotFoundResponse()
  async get(@Param('id', uuidParam('id')) id: string): Promise<ViolationView> {
    return locatedView(await this.violations.get(id));
  }

  @Patch(':id')
  @Roles('security')
  @ApiOkResponse({ type: ViolationView })
  @ApiNotFoundResponse()
  @ApiBadRequestResponse({ description: 'no field given, a bad status, or an assignee that is not an enabled user holding the role security' })
  async triage(@Param('id', uuidParam('id')) id: string, @Body() body: TriageViolationDto): Promise<ViolationView> {
    return locatedView(await this.violations.triage(id, { status: body.status, note: body.note, assignee: body.assignee }));
  }
}

/** The cursor of a Last-Event-ID header, null without one; 400 naming it for anything this stream did not send. */
function resumePositionOf(header: string | undefined): CursorPosition | null {
  if (header === undefined || header.trim() === '') return null;
  const position = decodeCursor(header.trim());
  if (position === null || !cursorIdFits(position.id, 'uuid')) throw new BadRequestException('Last-Event-ID is not an event id this stream sent');
  return position;
}
