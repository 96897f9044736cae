import { ApiProperty } from '@nestjs/swagger';
import { WHITELIST_PROTOCOL_NAMES, WHITELIST_SERVICES, ZONE_MODE_NAMES } from '../policy/network-names';
import { WHITELIST_ENTRY_STATUSES, WHITELIST_REQUEST_STATUSES } from './dto/network-queries';
import { WHITELIST_HISTORY_KINDS } from './whitelist-history';

/** OpenAPI shapes of the network REST answers; the records are returned as they are. */
export class NetworkZoneView {
  @ApiProperty({ example: 'dev-lan' }) name!: string;
  @ApiProperty({ description: 'where the zone is tried: 0 first' }) position!: number;
  @ApiProperty({ type: [String], example: ['10.20.0.0/16'] }) cidrs!: string[];
  @ApiProperty({ type: [String], example: ['dev.example.co.jp'] }) dnsSuffixes!: string[];
  @ApiProperty({ enum: ZONE_MODE_NAMES }) mode!: string;
  @ApiProperty() createdAt!: string;
  @ApiProperty() updatedAt!: string;
}

export class NetworkZoneListView {
  @ApiProperty({ type: [NetworkZoneView] }) items!: NetworkZoneView[];
}

export class PortRangeView {
  @ApiProperty({ example: 443 }) first!: number;
  @ApiProperty({ example: 443 }) last!: number;
}

class DestinationView {
  @ApiProperty({ description: "'' when the entry names addresses", example: 'git.example.com' }) hostPattern!: string;
  @ApiProperty({ description: "'' when the entry names a host", example: '' }) cidr!: string;
  @ApiProperty({ type: [PortRangeView], description: 'empty: every port' }) ports!: PortRangeView[];
  @ApiProperty({ enum: WHITELIST_PROTOCOL_NAMES }) protocol!: string;
  @ApiProperty({ enum: WHITELIST_SERVICES }) service!: string;
  @ApiProperty({ description: "'' for every zone" }) zone!: string;
  @ApiProperty() justification!: string;
}

export class WhitelistEntryView extends DestinationView {
  @ApiProperty() id!: string;
  @ApiProperty() requestedBy!: string;
  @ApiProperty() approvedBy!: string;
  @ApiProperty({ nullable: true, type: String, description: 'null: no end' }) expiresAt!: string | null;
  @ApiProperty({ enum: WHITELIST_ENTRY_STATUSES, description: 'expired: its expiry passed; revoked: ended by a person' }) status!: string;
  @ApiProperty() createdAt!: string;
  @ApiProperty() updatedAt!: string;
  @ApiProperty({ nullable: true, type: String }) revokedBy!: string | null;
  @ApiProperty({ nullable: true, type: String }) revokedAt!: string | null;
  @ApiProperty({ nullable: true, type: String }) revocationReason!: string | null;
  @ApiProperty({ nullable: true, type: String }) expiredAt!: string | null;
  @ApiProperty({ nullable: true, type: String, description: 'the request it was approved from; null when added directly' }) requestId!: string | null;
}

export class WhitelistEntryPageView {
  @ApiProperty({ type: [WhitelistEntryView] }) items!: WhitelistEntryView[];
  @ApiProperty({ nullable: true, type: String }) nextCursor!: string | null;
}

export class WhitelistRequestView extends DestinationView {
  @ApiProperty() id!: string;
  @ApiProperty() requestedBy!: string;
  @ApiProperty() requestedAt!: string;
  @ApiProperty({ nullable: true, type: String, description: 'the end asked for; null: none' }) requestedExpiresAt!: string | null;
  @ApiProperty({ enum: WHITELIST_REQUEST_STATUSES }) status!: string;
  @ApiProperty({ nullable: true, type: String, description: 'who approved, rejected or withdrew it' }) decidedBy!: string | null;
  @ApiProperty({ nullable: true, type: String }) decidedAt!: string | null;
  @ApiProperty({ nullable: true, type: String, description: 'the rejection reason (or why it was withdrawn)' }) decisionReason!: string | null;
  @ApiProperty({ nullable: true, type: String, description: 'the end in force, possibly shortened by the approver' }) approvedExpiresAt!: string | null;
  @ApiProperty({ nullable: true, type: String, description: 'the entry approving it made' }) entryId!: string | null;
}

export class WhitelistRequestPageView {
  @ApiProperty({ type: [WhitelistRequestView] }) items!: WhitelistRequestView[];
  @ApiProperty({ nullable: true, type: String }) nextCursor!: string | null;
}

export class WhitelistHistoryView {
  @ApiProperty() id!: string;
  @ApiProperty() at!: string;
  @ApiProperty({ enum: WHITELIST_HISTORY_KINDS }) kind!: string;
  @ApiProperty({ description: 'the zone name, entry id, request id or agent id' }) subjectId!: string;
  @ApiProperty({ description: "who took the step ('collector' for an expiry)" }) actor!: string;
  @ApiProperty({ nullable: true, type: String }) reason!: string | null;
  @ApiProperty({ nullable: true, type: Object, description: 'the record before the step' }) before!: unknown;
  @ApiProperty({ nullable: true, type: Object, description: 'the record after the step' }) after!: unknown;
  @ApiProperty({ nullable: true, type: Number, description: 'the policy version the step published' }) policyVersion!: number | null;
}

export class WhitelistHistoryPageView {
  @ApiProperty({ type: [WhitelistHistoryView] }) items!: WhitelistHistoryView[];
  @ApiProperty({ nullable: true, type: String }) nextCursor!: string | null;
}

class CheckedEntryView extends DestinationView {
  @ApiProperty() entryId!: string;
  @ApiProperty() requestedBy!: string;
  @ApiProperty() approvedBy!: string;
  @ApiProperty({ nullable: true, type: String }) expiresAt!: string | null;
}

export class DestinationCheckView {
  @ApiProperty({ description: 'an entry of the current policy version allows the destination' }) allowed!: boolean;
  @ApiProperty({ nullable: true, type: String }) entryId!: string | null;
  @ApiProperty({ nullable: true, type: CheckedEntryView }) entry!: CheckedEntryView | null;
  @ApiProperty({ description: 'the version the answer is from' }) policyVersion!: number;
  @ApiProperty() zone!: string;
  @ApiProperty({ nullable: true, enum: ZONE_MODE_NAMES, description: "the zone's mode in that version; null when the zone is not defined" }) zoneMode!: string | null;
}
