import { BadRequestException } from '@nestjs/common';
import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsISO8601, IsOptional, IsString, Max, Min } from 'class-validator';
import { CursorIdShape, cursorIdFits, CursorPosition, decodeCursor } from './pagination-cursor';

/** Query parameters every time-ordered, cursor-paginated list shares. */
export class TimeWindowPageQuery {
  @ApiPropertyOptional({ description: 'ISO-8601; items at or after this time' })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'since must be an ISO-8601 date-time, e.g. 2025-01-31T09:00:00Z' })
  since?: string;

  @ApiPropertyOptional({ description: 'ISO-8601; items before this time' })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'until must be an ISO-8601 date-time, e.g. 2025-01-31T18:00:00Z' })
  until?: string;

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

export const DEFAULT_PAGE_SIZE = 50;

/** The decoded cursor of a list whose ids have `shape`; 400 naming `cursor` for anything this list did not return. */
export function cursorOf(query: TimeWindowPageQuery, shape: CursorIdShape): CursorPosition | null {
  if (query.cursor === undefined) return null;
  const position = decodeCursor(query.cursor);
  if (position === null || !cursorIdFits(position.id, shape)) throw new BadRequestException('cursor is not a cursor this list returned');
  return position;
}

export function timeWindowOf(query: TimeWindowPageQuery): { since?: Date; until?: Date } {
  return {
    since: query.since === undefined ? undefined : new Date(query.since),
    until: query.until === undefined ? undefined : new Date(query.until),
  };
}
