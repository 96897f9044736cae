import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, IsUUID, Length, Matches, Max, MaxLength, Min } from 'class-validator';
import { DISK_ENCRYPTION_STATES, LEDGER_STATUSES } from '../ledger.rules';

const DATE = /^\d{4}[-/]\d{1,2}[-/]\d{1,2}$/;
const DATE_MESSAGE = (field: string) => `${field} must be a date written yyyy-mm-dd or yyyy/mm/dd, e.g. 2025-04-01`;

/** POST /api/v1/ledger/devices: a machine of the ledger, enrolled or not yet. */
export class CreateLedgerDeviceDto {
  @ApiProperty({ example: 'PC-SALES-0012', description: 'the asset tag on the machine; unique' })
  @IsString({ message: 'assetTag must be a string' })
  @Length(1, 64, { message: 'assetTag must be 1 to 64 characters' })
  assetTag!: string;

  @ApiProperty({ example: 'Sales' })
  @IsString({ message: 'department must be a string' })
  @Length(1, 256, { message: 'department must be 1 to 256 characters' })
  department!: string;

  @ApiProperty({ enum: LEDGER_STATUSES })
  @IsIn(LEDGER_STATUSES, { message: `status must be one of ${LEDGER_STATUSES.join(', ')}` })
  status!: string;

  @ApiPropertyOptional({ example: 'PF3ABCDE', description: "the machine's hardware serial (SMBIOS system serial, Mac serial); matches the enrolled agent" })
  @IsOptional()
  @IsString({ message: 'hardwareSerial must be a string' })
  @MaxLength(128, { message: 'hardwareSerial must be at most 128 characters' })
  hardwareSerial?: string;

  @ApiPropertyOptional({ example: 'sales-pc-12', description: 'matches the enrolled agent when no serial decides' })
  @IsOptional()
  @IsString({ message: 'hostname must be a string' })
  @MaxLength(253, { message: 'hostname must be at most 253 characters' })
  hostname?: string;

  @ApiPropertyOptional({ example: 'Hanako Yamada', description: 'who has the machine; required when status is on_loan' })
  @IsOptional()
  @IsString({ message: 'holder must be a string' })
  @MaxLength(256, { message: 'holder must be at most 256 characters' })
  holder?: string;

  @ApiPropertyOptional({ example: '2025-04-01' })
  @IsOptional()
  @IsString({ message: DATE_MESSAGE('loanedSince') })
  @Matches(DATE, { message: DATE_MESSAGE('loanedSince') })
  loanedSince?: string | null;

  @ApiPropertyOptional({ example: '2026-03-31' })
  @IsOptional()
  @IsString({ message: DATE_MESSAGE('dueBack') })
  @Matches(DATE, { message: DATE_MESSAGE('dueBack') })
  dueBack?: string | null;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString({ message: 'note must be a string' })
  @MaxLength(4096, { message: 'note must be at most 4096 characters' })
  note?: string;
}

/**
 * PATCH /api/v1/ledger/devices/:id: any subset of the loan fields; null clears a date. A machine
 * discovered outside the ledger joins it when given a status (with assetTag and department).
 */
export class UpdateLedgerDeviceDto {
  @ApiPropertyOptional()
  @IsOptional()
  @IsString({ message: 'assetTag must be a string' })
  @Length(1, 64, { message: 'assetTag must be 1 to 64 characters' })
  assetTag?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString({ message: 'department must be a string' })
  @Length(1, 256, { message: 'department must be 1 to 256 characters' })
  department?: string;

  @ApiPropertyOptional({ enum: LEDGER_STATUSES })
  @IsOptional()
  @IsIn(LEDGER_STATUSES, { message: `status must be one of ${LEDGER_STATUSES.join(', ')}` })
  status?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString({ message: 'hardwareSerial must be a string' })
  @MaxLength(128, { message: 'hardwareSerial must be at most 128 characters' })
  hardwareSerial?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString({ message: 'hostname must be a string' })
  @MaxLength(253, { message: 'hostname must be at most 253 characters' })
  hostname?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString({ message: 'holder must be a string' })
  @MaxLength(256, { message: 'holder must be at most 256 characters' })
  holder?: string;

  @ApiPropertyOptional({ nullable: true, type: String, example: '2025-04-01' })
  @IsOptional()
  @IsString({ message: DATE_MESSAGE('loanedSince') })
  @Matches(DATE, { message: DATE_MESSAGE('loanedSince') })
  loanedSince?: string | null;

  @ApiPropertyOptional({ nullable: true, type: String, example: '2026-03-31' })
  @IsOptional()
  @IsString({ message: DATE_MESSAGE('dueBack') })
  @Matches(DATE, { message: DATE_MESSAGE('dueBack') })
  dueBack?: string | null;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString({ message: 'note must be a string' })
  @MaxLength(4096, { message: 'note must be at most 4096 characters' })
  note?: string;

  @ApiPropertyOptional({
    nullable: true,
    type: String,
    description: 'match this row to an enrolled agent by hand (its discovered row, if any, is merged here); null unlinks (automatic matching may link it again at the next heartbeat)',
  })
  @IsOptional()
  @IsUUID('all', { message: 'agentId must be a UUID or null' })
  agentId?: string | null;
}

const BOOLEAN_TEXT = ['true', 'false'];

/** GET /api/v1/ledger/devices filters; all combine with AND. */
export class ListLedgerDevicesQuery {
  @ApiPropertyOptional({ example: 'Sales' })
  @IsOptional()
  @IsString({ message: 'department must be a string' })
  @MaxLength(256, { message: 'department must be at most 256 characters' })
  department?: string;

  @ApiPropertyOptional({ example: 'Hanako Yamada' })
  @IsOptional()
  @IsString({ message: 'holder must be a string' })
  @MaxLength(256, { message: 'holder must be at most 256 characters' })
  holder?: string;

  @ApiPropertyOptional({ enum: [...LEDGER_STATUSES, 'not_in_ledger'], description: 'not_in_ledger: enrolled machines the ledger does not list' })
  @IsOptional()
  @IsIn([...LEDGER_STATUSES, 'not_in_ledger'], { message: `status must be one of ${[...LEDGER_STATUSES, 'not_in_ledger'].join(', ')}` })
  status?: string;

  @ApiPropertyOptional({ enum: ['yes', 'no', 'unknown'], description: 'disk encryption: yes (encrypted), no (a check found a disk not encrypted), unknown (no check ran, or not enrolled)' })
  @IsOptional()
  @IsIn(['yes', 'no', 'unknown'], { message: 'encrypted must be one of yes, no, unknown' })
  encrypted?: 'yes' | 'no' | 'unknown';

  @ApiPropertyOptional({ enum: BOOLEAN_TEXT, description: 'enrolled agents unheard for MAMORI_AGENT_SILENT_AFTER_SECONDS' })
  @IsOptional()
  @IsIn(BOOLEAN_TEXT, { message: 'silent must be true or false' })
  silent?: string;

  @ApiPropertyOptional({ enum: BOOLEAN_TEXT, description: 'on loan and past the due-back date' })
  @IsOptional()
  @IsIn(BOOLEAN_TEXT, { message: 'overdue must be true or false' })
  overdue?: string;

  @ApiPropertyOptional({ enum: BOOLEAN_TEXT, description: 'matched to an enrolled (not revoked) agent' })
  @IsOptional()
  @IsIn(BOOLEAN_TEXT, { message: 'enrolled must be true or false' })
  enrolled?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 500, default: 50 })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'limit must be a whole number from 1 to 500' })
  @Min(1, { message: 'limit must be a whole number from 1 to 500' })
  @Max(500, { message: 'limit must be a whole number from 1 to 500' })
  limit?: number;

  @ApiPropertyOptional({ description: 'nextCursor of the previous page' })
  @IsOptional()
  @IsString({ message: 'cursor must be a string' })
  cursor?: string;
}

/** GET /api/v1/ledger/export and /summary. */
export class LedgerDepartmentQuery {
  @ApiPropertyOptional({ example: 'Sales', description: 'only this department' })
  @IsOptional()
  @IsString({ message: 'department must be a string' })
  @MaxLength(256, { message: 'department must be at most 256 characters' })
  @Transform(({ value }) => (typeof value === 'string' ? value.trim() : value))
  department?: string;
}

export const ENCRYPTED_FILTER_STATES = { yes: 'encrypted', no: 'not_encrypted', unknown: 'unknown' } as const satisfies Record<string, (typeof DISK_ENCRYPTION_STATES)[number]>;
