import { Controller, Get } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiProperty, ApiTags } from '@nestjs/swagger';
import { toUsbHex } from '../../common/usb-hex';
import { PolicyService } from './policy.service';

class RegisteredDeviceView {
  @ApiProperty() entryId!: string;
  @ApiProperty({ example: '0781' }) vendorId!: string;
  @ApiProperty({ example: '5567' }) productId!: string;
  @ApiProperty() serial!: string;
  @ApiProperty() label!: string;
  @ApiProperty() holder!: string;
}

class UsbPolicyView {
  @ApiProperty({ enum: ['unspecified', 'audit', 'read_only', 'block'] }) unregisteredDeviceMode!: string;
  @ApiProperty({ type: [RegisteredDeviceView] }) registeredDevices!: RegisteredDeviceView[];
}

export class PolicyView {
  @ApiProperty() version!: number;
  @ApiProperty({ description: "UUID of this database's version numbering; versions compare only within one lineage" }) lineageId!: string;
  @ApiProperty() publishedAt!: string;
  @ApiProperty({ type: UsbPolicyView }) usb!: UsbPolicyView;
}

/** REST: the policy version agents currently receive. */
@ApiTags('policy')
@ApiBearerAuth()
@Controller('api/v1/policy')
export class PolicyController {
  constructor(private readonly policy: PolicyService) {}

  @Get()
  @ApiOkResponse({ type: PolicyView })
  current(): PolicyView {
    const policy = this.policy.current();
    return {
      version: policy.version,
      lineageId: this.policy.lineageId,
      publishedAt: policy.publishedAt.toISOString(),
      usb: {
        unregisteredDeviceMode: policy.document.usb.unregisteredDeviceMode.replace('USB_ENFORCEMENT_MODE_', '').toLowerCase(),
        registeredDevices: policy.document.usb.registeredDevices.map((entry) => ({
          entryId: entry.entryId,
          vendorId: toUsbHex(entry.vendorId),
          productId: toUsbHex(entry.productId),
          serial: entry.serial,
          label: entry.label,
          holder: entry.holder,
        })),
      },
    };
  }
}
