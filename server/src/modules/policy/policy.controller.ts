import { Body, Controller, Get, Put } from '@nestjs/common';
import { ApiBadRequestResponse, ApiBearerAuth, ApiOkResponse, ApiProperty, ApiTags } from '@nestjs/swagger';
import { toUsbHex } from '../../common/usb-hex';
import { UpdateTransferPolicyDto } from './dto/update-transfer-policy.dto';
import { UpdateUsbPolicyDto } from './dto/update-usb-policy.dto';
import type { PublishedPolicy } from './policy-document';
import { PolicyService } from './policy.service';
import { USB_EXCEPTION_MODE_NAMES, USB_MODE_NAMES, usbModeName } from './usb-modes';
import { protocolName, WHITELIST_PROTOCOL_NAMES, WHITELIST_SERVICES, ZONE_MODE_NAMES, zoneModeName } from './network-names';
import { UsbPolicySettings, UsbPolicySettingsService } from './usb-policy-settings.service';
import { TransferPolicySettingsService } from './transfer-policy-settings.service';
import type { TransferPolicySettings } from './transfer-settings';
import { ApiRoleForbiddenResponse } from '../../common/api-role-forbidden-response';
import { Roles } from '../auth/roles.decorator';
import { READERS } from '../auth/roles';

class RegisteredDeviceView {
  @ApiProperty() entryId!: string;
  @ApiProperty({ example: '0781', description: '4 hex digits, or * for any vendor' }) vendorId!: string;
  @ApiProperty({ example: '5567', description: '4 hex digits, or * for any product' }) productId!: string;
  @ApiProperty() serial!: string;
  @ApiProperty({ nullable: true, type: String, description: 'SHA-256 of the descriptors, null when the entry does not pin it' }) descriptorHash!: string | null;
  @ApiProperty() label!: string;
  @ApiProperty() holder!: string;
  @ApiProperty() department!: string;
}

class PolicyExceptionView {
  @ApiProperty() exceptionId!: string;
  @ApiProperty({ example: '0781' }) vendorId!: string;
  @ApiProperty({ example: '5567' }) productId!: string;
  @ApiProperty() serial!: string;
  @ApiProperty() agentId!: string;
  @ApiProperty({ nullable: true, type: String, description: 'null: any user of the agent' }) userName!: string | null;
  @ApiProperty() notBefore!: string;
  @ApiProperty() notAfter!: string;
  @ApiProperty() justification!: string;
  @ApiProperty() approvedBy!: string;
  @ApiProperty({ enum: USB_EXCEPTION_MODE_NAMES }) mode!: string;
}

class UsbPolicyView {
  @ApiProperty({ enum: USB_MODE_NAMES }) unregisteredDeviceMode!: string;
  @ApiProperty({ enum: USB_MODE_NAMES }) registeredDeviceMode!: string;
  @ApiProperty() requireEncryptedMedia!: boolean;
  @ApiProperty({ enum: USB_MODE_NAMES }) unencryptedMediaMode!: string;
  @ApiProperty({ enum: USB_MODE_NAMES }) storageWithHidMode!: string;
  @ApiProperty({ type: [RegisteredDeviceView] }) registeredDevices!: RegisteredDeviceView[];
  @ApiProperty({ type: [PolicyExceptionView], description: 'approved exceptions that have not ended yet' }) exceptions!: PolicyExceptionView[];
}

class TransferPolicyView {
  @ApiProperty({ type: [String], description: 'folders agents watch besides removable volumes' }) watchedFolders!: string[];
  @ApiProperty({ description: "bytes of one file the inspection reads at most; 0: the agent's default" }) inspectionByteBudget!: number;
  @ApiProperty({ description: "milliseconds the inspection of one file may take; 0: the agent's default" }) inspectionTimeBudgetMillis!: number;
}

class PolicyPortRangeView {
  @ApiProperty({ example: 443 }) first!: number;
  @ApiProperty({ example: 443, description: 'equal to first for a single port' }) last!: number;
}

export class PolicyNetworkZoneView {
  @ApiProperty({ example: 'dev-lan' }) name!: string;
  @ApiProperty({ type: [String], example: ['10.20.0.0/16'] }) cidrs!: string[];
  @ApiProperty({ type: [String], example: ['dev.example.co.jp'] }) dnsSuffixes!: string[];
  @ApiProperty({ enum: ZONE_MODE_NAMES, description: 'what agents do there about destinations that are not whitelisted' }) mode!: string;
}

class PolicyWhitelistEntryView {
  @ApiProperty() entryId!: string;
  @ApiProperty({ description: "'' when the entry names addresses", example: 'git.example.com' }) hostPattern!: string;
  @ApiProperty({ description: "'' when the entry names a host", example: '10.30.0.0/16' }) cidr!: string;
  @ApiProperty({ type: [PolicyPortRangeView], description: 'empty: every port' }) ports!: PolicyPortRangeView[];
  @ApiProperty({ enum: WHITELIST_PROTOCOL_NAMES }) protocol!: string;
  @ApiProperty({ enum: WHITELIST_SERVICES }) service!: string;
  @ApiProperty({ description: "'' for every zone" }) zone!: string;
  @ApiProperty() justification!: string;
  @ApiProperty() requestedBy!: string;
  @ApiProperty() approvedBy!: string;
  @ApiProperty({ nullable: true, type: String, description: 'ISO-8601; null for no end' }) expiresAt!: string | null;
}

class NetworkPolicyView {
  @ApiProperty({ type: [PolicyNetworkZoneView], description: 'in the order agents try them' }) zones!: PolicyNetworkZoneView[];
  @ApiProperty({ type: [PolicyWhitelistEntryView], description: 'approved entries that had not expired when the version was published' })
  whitelist!: PolicyWhitelistEntryView[];
}

export class PolicyView {
  @ApiProperty() version!: number;
  @ApiProperty({ description: "UUID of this database's version numbering; versions compare only within one lineage" }) lineageId!: string;
  @ApiProperty() publishedAt!: string;
  @ApiProperty({ type: UsbPolicyView }) usb!: UsbPolicyView;
  @ApiProperty({ type: TransferPolicyView }) transfer!: TransferPolicyView;
  @ApiProperty({ type: NetworkPolicyView }) network!: NetworkPolicyView;
}

class TransferPolicySettingsView extends TransferPolicyView {
  @ApiProperty({ description: 'transfer.daily_volume: more files than this to removable media by one user in one day; 0: not counted' }) dailyFileLimit!: number;
  @ApiProperty({ description: 'transfer.daily_volume: more bytes than this; 0: not counted' }) dailyByteLimit!: number;
  @ApiProperty({ nullable: true, type: String, description: 'null until first changed' }) updatedAt!: string | null;
  @ApiProperty({ description: 'the policy version that carries the published part (watched folders, budgets)' }) policyVersion!: number;
}

class UsbPolicySettingsView {
  @ApiProperty({ enum: USB_MODE_NAMES }) unregisteredDeviceMode!: string;
  @ApiProperty({ enum: USB_MODE_NAMES }) registeredDeviceMode!: string;
  @ApiProperty() requireEncryptedMedia!: boolean;
  @ApiProperty({ enum: USB_MODE_NAMES }) unencryptedMediaMode!: string;
  @ApiProperty({ enum: USB_MODE_NAMES }) storageWithHidMode!: string;
  @ApiProperty() updatedAt!: string;
  @ApiProperty({ description: 'the policy version that carries these settings' }) policyVersion!: number;
}

const hex = (id: number, any: boolean) => (any ? '*' : toUsbHex(id));

export function policyView(policy: PublishedPolicy, lineageId: string): PolicyView {
  const usb = policy.document.usb;
  return {
    version: policy.version,
    lineageId,
    publishedAt: policy.publishedAt.toISOString(),
    transfer: { ...policy.document.transfer, watchedFolders: [...policy.document.transfer.watchedFolders] },
    network: {
      zones: policy.document.network.zones.map((zone) => ({ name: zone.name, cidrs: [...zone.cidrs], dnsSuffixes: [...zone.dnsSuffixes], mode: zoneModeName(zone.mode) })),
      whitelist: policy.document.network.whitelist.map((entry) => ({
        ...entry,
        ports: entry.ports.map((range) => ({ ...range })),
        protocol: protocolName(entry.protocol),
        expiresAt: entry.expiresAt === null ? null : new Date(entry.expiresAt).toISOString(),
      })),
    },
    usb: {
      unregisteredDeviceMode: usbModeName(usb.unregisteredDeviceMode),
      registeredDeviceMode: usbModeName(usb.registeredDeviceMode),
      requireEncryptedMedia: usb.requireEncryptedMedia,
      unencryptedMediaMode: usbModeName(usb.unencryptedMediaMode),
      storageWithHidMode: usbModeName(usb.storageWithHidMode),
      registeredDevices: usb.registeredDevices.map((entry) => ({
        entryId: entry.entryId,
        vendorId: hex(entry.vendorId, entry.anyVendor),
        productId: hex(entry.productId, entry.anyProduct),
        serial: entry.serial,
        descriptorHash: entry.descriptorHash === '' ? null : entry.descriptorHash,
        label: entry.label,
        holder: entry.holder,
        department: entry.department,
      })),
      exceptions: usb.exceptions.map((exception) => ({
        exceptionId: exception.exceptionId,
        vendorId: toUsbHex(exception.vendorId),
        productId: toUsbHex(exception.productId),
        serial: exception.serial,
        agentId: exception.agentId,
        userName: exception.userName === '' ? null : exception.userName,
        notBefore: new Date(exception.notBefore).toISOString(),
        notAfter: new Date(exception.notAfter).toISOString(),
        justification: exception.justification,
        approvedBy: exception.approvedBy,
        mode: usbModeName(exception.mode),
      })),
    },
  };
}

function transferSettingsView(settings: TransferPolicySettings, policyVersion: number): TransferPolicySettingsView {
  return {
    watchedFolders: settings.watchedFolders,
    inspectionByteBudget: settings.inspectionByteBudget,
    inspectionTimeBudgetMillis: settings.inspectionTimeBudgetMillis,
    dailyFileLimit: settings.dailyFileLimit,
    dailyByteLimit: settings.dailyByteLimit,
    updatedAt: settings.updatedAt?.toISOString() ?? null,
    policyVersion,
  };
}

function settingsView(settings: UsbPolicySettings, policyVersion: number): UsbPolicySettingsView {
  return { ...settings, updatedAt: settings.updatedAt.toISOString(), policyVersion };
}

/** REST: the policy version agents currently receive, and the USB modes that go into it. */
@ApiTags('policy')
@ApiBearerAuth()
@ApiRoleForbiddenResponse()
@Controller('api/v1/policy')
export class PolicyController {
  constructor(
    private readonly policy: PolicyService,
    private readonly usbSettings: UsbPolicySettingsService,
    private readonly transferSettings: TransferPolicySettingsService,
  ) {}

  @Get()
  @Roles(...READERS, 'it', 'approver')
  @ApiOkResponse({ type: PolicyView })
  current(): PolicyView {
    return policyView(this.policy.current(), this.policy.lineageId);
  }

  @Get('usb')
  @Roles(...READERS, 'it', 'approver')
  @ApiOkResponse({ type: UsbPolicySettingsView })
  async usb(): Promise<UsbPolicySettingsView> {
    return settingsView(await this.usbSettings.get(), this.policy.current().version);
  }

  @Put('usb')
  @Roles('admin')
  @ApiOkResponse({ type: UsbPolicySettingsView, description: 'the settings as stored, and the policy version published for them' })
  @ApiBadRequestResponse({ description: 'a mode that is not allow, audit, read_only or block (the message names the field)' })
  async updateUsb(@Body() body: UpdateUsbPolicyDto): Promise<UsbPolicySettingsView> {
    const { settings, policyVersion } = await this.usbSettings.update(body);
    return settingsView(settings, policyVersion);
  }

  @Get('transfers')
  @Roles(...READERS, 'it', 'approver')
  @ApiOkResponse({ type: TransferPolicySettingsView })
  async transfers(): Promise<TransferPolicySettingsView> {
    return transferSettingsView(await this.transferSettings.get(), this.policy.current().version);
  }

  @Put('transfers')
  @Roles('admin')
  @ApiOkResponse({
    type: TransferPolicySettingsView,
    description: 'the settings as stored; a change to the watched folders or budgets publishes a new policy version (the daily limits stay on the collector)',
  })
  @ApiBadRequestResponse({ description: 'a folder that is not an absolute path (or is a root, or has . or .. segments), a budget or limit out of range (the message names the field)' })
  async updateTransfers(@Body() body: UpdateTransferPolicyDto): Promise<TransferPolicySettingsView> {
    const { settings, policyVersion } = await this.transferSettings.update(body);
    return transferSettingsView(settings, policyVersion);
  }
}
