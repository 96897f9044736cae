import { Body, Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiConflictResponse, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiProperty, ApiTags } from '@nestjs/swagger';
import { toUsbHex } from '../../common/usb-hex';
import { uuidParam } from '../../common/uuid-param';
import { CreateUsbRegisterEntryDto } from './dto/create-usb-register-entry.dto';
import { UsbRegisterEntryEntity } from './usb-register-entry.entity';
import { UsbRegisterService } from './usb-register.service';

export class UsbRegisterEntryView {
  @ApiProperty() id!: string;
  @ApiProperty({ example: '0781' }) vendorId!: string;
  @ApiProperty({ example: '5567' }) productId!: string;
  @ApiProperty() serial!: string;
  @ApiProperty() label!: string;
  @ApiProperty() holder!: string;
  @ApiProperty({ nullable: true, type: String }) department!: string | null;
  @ApiProperty() createdAt!: string;
}

class UsbRegisterListView {
  @ApiProperty({ type: [UsbRegisterEntryView] }) items!: UsbRegisterEntryView[];
}

export function usbRegisterEntryView(entry: UsbRegisterEntryEntity): UsbRegisterEntryView {
  return {
    id: entry.id,
    vendorId: toUsbHex(entry.vendorId),
    productId: toUsbHex(entry.productId),
    serial: entry.serial,
    label: entry.label,
    holder: entry.holder,
    department: entry.department,
    createdAt: entry.createdAt.toISOString(),
  };
}

/** REST: the register of issued sticks. */
@ApiTags('usb-register')
@ApiBearerAuth()
@Controller('api/v1/usb-register')
export class UsbRegisterController {
  constructor(private readonly register: UsbRegisterService) {}

  @Post()
  @ApiCreatedResponse({ type: UsbRegisterEntryView })
  @ApiConflictResponse({ description: 'the same vendor id, product id and serial is already registered' })
  async create(@Body() body: CreateUsbRegisterEntryDto): Promise<UsbRegisterEntryView> {
    return usbRegisterEntryView(await this.register.create(body));
  }

  @Get()
  @ApiOkResponse({ type: UsbRegisterListView })
  async list(): Promise<UsbRegisterListView> {
    return { items: (await this.register.list()).map(usbRegisterEntryView) };
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiNoContentResponse()
  async remove(@Param('id', uuidParam('id')) id: string): Promise<void> {
    await this.register.remove(id);
  }
}
