import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Length, Matches, MaxLength } from 'class-validator';

/** POST /api/v1/usb-register body. */
export class CreateUsbRegisterEntryDto {
  @ApiProperty({ example: '0781', description: 'USB vendor id, 4 hex digits' })
  @IsString({ message: 'vendorId must be a string of 4 hex digits' })
  @Matches(/^[0-9a-fA-F]{4}$/, { message: 'vendorId must be 4 hex digits, e.g. "0781"' })
  vendorId!: string;

  @ApiProperty({ example: '5567', description: 'USB product id, 4 hex digits' })
  @IsString({ message: 'productId must be a string of 4 hex digits' })
  @Matches(/^[0-9a-fA-F]{4}$/, { message: 'productId must be 4 hex digits, e.g. "5567"' })
  productId!: string;

  @ApiProperty({ example: '4C530001', description: 'serial number, compared exactly' })
  @IsString({ message: 'serial must be a string' })
  @Length(1, 256, { message: 'serial must be 1 to 256 characters (a stick without a serial cannot be registered)' })
  serial!: string;

  @ApiProperty({ example: 'Sales stick 12' })
  @IsString({ message: 'label must be a string' })
  @Length(1, 256, { message: 'label must be 1 to 256 characters' })
  label!: string;

  @ApiProperty({ example: 'Hanako Yamada' })
  @IsString({ message: 'holder must be a string' })
  @Length(1, 256, { message: 'holder must be 1 to 256 characters' })
  holder!: string;

  @ApiPropertyOptional({ example: 'Sales' })
  @IsOptional()
  @IsString({ message: 'department must be a string' })
  @MaxLength(256, { message: 'department must be at most 256 characters' })
  department?: string;
}
