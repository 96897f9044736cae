import { ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsInt, IsOptional, IsString, Max, Min } from 'class-validator';
import { MAX_INSPECTION_BYTE_BUDGET, MAX_INSPECTION_TIME_BUDGET_MILLIS, MAX_WATCHED_FOLDERS } from '../transfer-settings';

const MAX_DAILY_FILES = 1_000_000_000;
const whole = (field: string, max: number) => `${field} must be a whole number from 0 to ${max}`;

/** PUT /api/v1/policy/transfers body; fields left out keep their current value. */
export class UpdateTransferPolicyDto {
  @ApiPropertyOptional({
    type: [String],
    example: ['/srv/outbox', 'C:\\Users\\Public\\OneDrive'],
    description: `folders agents watch besides removable volumes (sync folders, an outbox share): absolute paths on the agents' hosts, at most ${MAX_WATCHED_FOLDERS}; a folder missing on a host is skipped there. The whole list is replaced.`,
  })
  @IsOptional()
  @IsArray({ message: 'watchedFolders must be a list of absolute paths' })
  @ArrayMaxSize(MAX_WATCHED_FOLDERS, { message: `watchedFolders must hold at most ${MAX_WATCHED_FOLDERS} folders` })
  @IsString({ each: true, message: 'watchedFolders must hold only strings' })
  watchedFolders?: string[];

  @ApiPropertyOptional({ minimum: 0, maximum: MAX_INSPECTION_BYTE_BUDGET, description: "bytes of one file the personal-data inspection reads at most; 0: the agent's default" })
  @IsOptional()
  @IsInt({ message: whole('inspectionByteBudget', MAX_INSPECTION_BYTE_BUDGET) })
  @Min(0, { message: whole('inspectionByteBudget', MAX_INSPECTION_BYTE_BUDGET) })
  @Max(MAX_INSPECTION_BYTE_BUDGET, { message: whole('inspectionByteBudget', MAX_INSPECTION_BYTE_BUDGET) })
  inspectionByteBudget?: number;

  @ApiPropertyOptional({ minimum: 0, maximum: MAX_INSPECTION_TIME_BUDGET_MILLIS, description: "milliseconds the inspection of one file may take at most; 0: the agent's default" })
  @IsOptional()
  @IsInt({ message: whole('inspectionTimeBudgetMillis', MAX_INSPECTION_TIME_BUDGET_MILLIS) })
  @Min(0, { message: whole('inspectionTimeBudgetMillis', MAX_INSPECTION_TIME_BUDGET_MILLIS) })
  @Max(MAX_INSPECTION_TIME_BUDGET_MILLIS, { message: whole('inspectionTimeBudgetMillis', MAX_INSPECTION_TIME_BUDGET_MILLIS) })
  inspectionTimeBudgetMillis?: number;

  @ApiPropertyOptional({ minimum: 0, description: 'transfer.daily_volume: more files than this written to removable media by one user in one day; 0 turns the file count off (collector only, not published)' })
  @IsOptional()
  @IsInt({ message: whole('dailyFileLimit', MAX_DAILY_FILES) })
  @Min(0, { message: whole('dailyFileLimit', MAX_DAILY_FILES) })
  @Max(MAX_DAILY_FILES, { message: whole('dailyFileLimit', MAX_DAILY_FILES) })
  dailyFileLimit?: number;

  @ApiPropertyOptional({ minimum: 0, description: 'transfer.daily_volume: more bytes than this, likewise; 0 turns the byte count off (collector only, not published)' })
  @IsOptional()
  @IsInt({ message: whole('dailyByteLimit', Number.MAX_SAFE_INTEGER) })
  @Min(0, { message: whole('dailyByteLimit', Number.MAX_SAFE_INTEGER) })
  @Max(Number.MAX_SAFE_INTEGER, { message: whole('dailyByteLimit', Number.MAX_SAFE_INTEGER) })
  dailyByteLimit?: number;
}
