import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiConflictResponse, ApiCreatedResponse, ApiNoContentResponse, ApiNotFoundResponse, ApiOkResponse, ApiProperty, ApiTags } from '@nestjs/swagger';
import { toUsbHex } from '../../common/usb-hex';
import { uuidParam } from '../../common/uuid-param';
import { CreateUsbRegisterEntryDto } from './dto/create-usb-register-entry.dto';
import { UpdateUsbRegisterEntryDto } from './dto/update-usb-register-entry.dto';
import { UsbRegisterEntryEntity } from './usb-register-entry.entity';
import { UsbRegisterService } from './usb-register.service';
import { ApiRoleForbiddenResponse } from '../../common/api-role-forbidden-response';
import { Roles } from '../auth/roles.decorator';
import { READERS } from '../auth/roles';

export class UsbRegisterEntryView {
  @ApiProperty() id!: string;
  @ApiProperty({ example: '0781', description: '4 hex digits, or * for any vendor' }) vendorId!: string;
  @ApiProperty({ example: '5567', description: '4 hex digits, or * for any product' }) productId!: string;
  @ApiProperty() serial!: string;
  @ApiProperty({ nullable: true, type: String, description: 'SHA-256 of the descriptors the device must have, null when not pinned' }) descriptorHash!: string | null;
  @ApiProperty() label!: string;
  @ApiProperty() holder!: string;
  @ApiProperty({ nullable: true, type: String, description: 'null only on entries made before departments were required' }) department!: string | null;
  @ApiProperty() createdAt!: string;
  @ApiProperty() updatedAt!: string;
}

class UsbRegisterListView {
  @ApiProperty({ type: [UsbRegisterEntryView] }) items!: UsbRegisterEntryView[];
}

export function usbRegisterEntryView(entry: UsbRegisterEntryEntity): UsbRegisterEntryView {
  return {
    id: entry.id,
    vendorId: entry.anyVendor ? '*' : toUsbHex(entry.vendorId),
    productId: entry.anyProduct ? '*' : toUsbHex(entry.productId),
    serial: entry.serial,
    descriptorHash: entry.descriptorHash === '' ? null : entry.descriptorHash,
    label: entry.label,
    holder: entry.holder,
    department: entry.department,
    createdAt: entry.createdAt.toISOString(),
    updatedAt: entry.updatedAt.toISOString(),
  };
}

/** REST: the register of issued sticks. */
@ApiTags('usb-register')
@ApiBearerAuth()
@ApiRoleForbiddenResponse()
@Controller('api/v1/usb-register')
export class UsbRegisterController {
  constructor(private readonly register: UsbRegisterService) {}

  @Post()
  @Roles('admin')
  @ApiCreatedResponse({ type: UsbRegisterEntryView })
  @ApiConflictResponse({ description: 'the same vendor:product (wildcards included) and serial is already registered' })
  async create(@Body() body: CreateUsbRegisterEntryDto): Promise<UsbRegisterEntryView> {
    return usbRegisterEntryView(await this.register.create(body));
  }

  @Get()
  @Roles(...READERS, 'it', 'approver')
  @ApiOkResponse({ type: UsbRegisterListView })
  async list(): Promise<UsbRegisterListView> {
    return { items: (await this.register.list()).map(usbRegisterEntryView) };
  }

  @Patch(':id')
  @Roles('admin')
  @ApiOkResponse({ type: UsbRegisterEntryView })
  @ApiNotFoundResponse()
  async update(@Param('id', uuidParam('id')) id: string, @Body() body: UpdateUsbRegisterEntryDto): Promise<UsbRegisterEntryView> {
    return usbRegisterEntryView(await this.register.update(id, body));
  }

  @Delete(':id')
  @Roles('admin')
  @HttpCode(204)
  @ApiNoContentResponse()
  async remove(@Param('id', uuidParam('id')) id: string): Promise<void> {
    await this.register.remove(id);
  }
}
