import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsIn, IsOptional } from 'class-validator';
import { USB_MODE_NAMES, type UsbModeName } from '../usb-modes';

const modeMessage = (field: string) => `${field} must be one of ${USB_MODE_NAMES.join(', ')}`;

/** PUT /api/v1/policy/usb body; fields left out keep their current value. */
export class UpdateUsbPolicyDto {
  @ApiPropertyOptional({ enum: USB_MODE_NAMES, description: 'a mass-storage device neither registered nor under an exception' })
  @IsOptional()
  @IsIn(USB_MODE_NAMES, { message: modeMessage('unregisteredDeviceMode') })
  unregisteredDeviceMode?: UsbModeName;

  @ApiPropertyOptional({ enum: USB_MODE_NAMES, description: 'a registered stick (allow, or read_only to allow reading only)' })
  @IsOptional()
  @IsIn(USB_MODE_NAMES, { message: modeMessage('registeredDeviceMode') })
  registeredDeviceMode?: UsbModeName;

  @ApiPropertyOptional({ description: 'the data volumes of a stick that is not blocked must be encrypted (LUKS, BitLocker To Go, APFS)' })
  @IsOptional()
  @IsBoolean({ message: 'requireEncryptedMedia must be true or false' })
  requireEncryptedMedia?: boolean;

  @ApiPropertyOptional({ enum: USB_MODE_NAMES, description: 'a stick with an unencrypted data volume while encryption is required' })
  @IsOptional()
  @IsIn(USB_MODE_NAMES, { message: modeMessage('unencryptedMediaMode') })
  unencryptedMediaMode?: UsbModeName;

  @ApiPropertyOptional({ enum: USB_MODE_NAMES, description: 'mass storage together with a keyboard or other HID interface (BadUSB), whatever the register says' })
  @IsOptional()
  @IsIn(USB_MODE_NAMES, { message: modeMessage('storageWithHidMode') })
  storageWithHidMode?: UsbModeName;
}
