import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Length, Matches } from 'class-validator';

/** A register id: 4 hex digits, or `*` (USBGuard's wildcard, for vendor:product only). */
const USB_ID_OR_WILDCARD = /^(?:[0-9a-fA-F]{4}|\*)$/;

/** POST /api/v1/usb-register body. */
export class CreateUsbRegisterEntryDto {
  @ApiProperty({ example: '0781', description: 'USB vendor id, 4 hex digits, or * for any vendor (then productId must be * too, as in USBGuard)' })
  @IsString({ message: 'vendorId must be a string of 4 hex digits or *' })
  @Matches(USB_ID_OR_WILDCARD, { message: 'vendorId must be 4 hex digits, e.g. "0781", or *' })
  vendorId!: string;

  @ApiProperty({ example: '5567', description: 'USB product id, 4 hex digits, or * for any product of the vendor' })
  @IsString({ message: 'productId must be a string of 4 hex digits or *' })
  @Matches(USB_ID_OR_WILDCARD, { message: 'productId must be 4 hex digits, e.g. "5567", or *' })
  productId!: string;

  @ApiProperty({ example: '4C530001', description: 'serial number, compared exactly (no wildcards: a stick without a serial cannot be registered)' })
  @IsString({ message: 'serial must be a string' })
  @Length(1, 256, { message: 'serial must be 1 to 256 characters (a stick without a serial cannot be registered)' })
  serial!: string;

  @ApiPropertyOptional({ description: "SHA-256 of the device's descriptors (64 hex digits, like USBGuard's hash); when given the device must match it too" })
  @IsOptional()
  @IsString({ message: 'descriptorHash must be a string of 64 hex digits' })
  @Matches(/^[0-9a-fA-F]{64}$/, { message: 'descriptorHash must be 64 hex digits (a SHA-256)' })
  descriptorHash?: string;

  @ApiProperty({ example: 'Sales stick 12' })
  @IsString({ message: 'label must be a string' })
  @Length(1, 256, { message: 'label must be 1 to 256 characters' })
  label!: string;

  @ApiProperty({ example: 'Hanako Yamada' })
  @IsString({ message: 'holder must be a string' })
  @Length(1, 256, { message: 'holder must be 1 to 256 characters' })
  holder!: string;

  @ApiProperty({ example: 'Sales' })
  @IsString({ message: 'department must be a string' })
  @Length(1, 256, { message: 'department must be 1 to 256 characters' })
  department!: string;
}
