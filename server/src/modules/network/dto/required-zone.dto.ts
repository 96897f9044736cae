import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Length, ValidateIf } from 'class-validator';

/** PATCH /api/v1/agents/:id/required-zone body. */
export class SetRequiredZoneDto {
  @ApiProperty({ nullable: true, type: String, example: 'dev-lan', description: 'a defined zone the device must be in; null: none' })
  @ValidateIf((body: SetRequiredZoneDto) => body.zone !== null)
  @IsString({ message: 'zone must be a zone name or null' })
  @Length(1, 64, { message: 'zone must be 1 to 64 characters, or null' })
  zone!: string | null;

  @ApiPropertyOptional({ description: 'who makes the change, for the history (default: admin); signed-in users and API tokens: leave out or give their own username' })
  @IsOptional()
  @IsString({ message: 'changedBy must be a string' })
  @Length(1, 256, { message: 'changedBy must be 1 to 256 characters' })
  changedBy?: string;
}
