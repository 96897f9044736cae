import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Length } from 'class-validator';

/**
 * PATCH /api/v1/usb-register/:id body: who holds the stick and what it is called may change;
 * what it matches may not (delete the entry and register the device anew instead).
 */
export class UpdateUsbRegisterEntryDto {
  @ApiPropertyOptional({ example: 'Sales stick 12' })
  @IsOptional()
  @IsString({ message: 'label must be a string' })
  @Length(1, 256, { message: 'label must be 1 to 256 characters' })
  label?: string;

  @ApiPropertyOptional({ example: 'Taro Suzuki' })
  @IsOptional()
  @IsString({ message: 'holder must be a string' })
  @Length(1, 256, { message: 'holder must be 1 to 256 characters' })
  holder?: string;

  @ApiPropertyOptional({ example: 'Accounting' })
  @IsOptional()
  @IsString({ message: 'department must be a string' })
  @Length(1, 256, { message: 'department must be 1 to 256 characters' })
  department?: string;
}
