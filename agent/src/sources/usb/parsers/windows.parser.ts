import { SerialQuality, type UsbDevice } from '../../../generated/mamori/v1/common';
import type { BlockDevice } from '../../../generated/mamori/v1/events';
import { USB_CLASS_MASS_STORAGE } from '../usb.source';

/**
 * Pure readers for what Windows says about USB devices and disks: PnP device instance ids,
 * Win32_DiskDrive / Win32_PnPEntity records (from ConvertTo-Json or from the list readers in
 * windows-list.parser.ts), and their combination into UsbDevice + BlockDevice views.
 * Only property names and device-id syntax are relied on; both are the same in every display
 * language, unlike Description, Manufacturer or FriendlyName, which Windows translates.
 */

export const USB_CLASS_HID = 3;

/** A PnP device instance id, split: "USB\VID_0781&PID_5567\4C530001…", "USBSTOR\DISK&VEN_…&PROD_…&REV_…\<serial>&0". */
export interface PnpDeviceId {
  /** The enumerator: "USB", "USBSTOR", "HID", "SCSI", … (upper case). */
  enumerator: string;
  /** The hardware part between the backslashes, as given ("VID_0781&PID_5567", "DISK&VEN_SANDISK&…"). */
  hardware: string;
  /** The instance part after the last backslash. */
  instance: string;
  vendorId: number | null;
  productId: number | null;
  /** The interface number of a composite device's function ("MI_00"), null for a whole device. */
  interfaceNumber: number | null;
  /** USBSTOR only: the SCSI INQUIRY vendor, product and revision (underscores for blanks, as Windows writes them). */
  scsiVendor: string;
  scsiProduct: string;
  scsiRevision: string;
  /**
   * The device's serial number when Windows built the instance id from it, '' when Windows
   * generated the instance id because the device has no usable serial (then its second character
   * is '&', e.g. "7&2a1b3c4d&0", documented for USB instance ids by Microsoft).
   */
  serial: string;
}

/** Splits a PnP device instance id; null when it is not "ENUMERATOR\HARDWARE\INSTANCE". */
export function parsePnpDeviceId(id: string): PnpDeviceId | null {
  const parts = id.trim().split('\\');
  if (parts.length !== 3 || parts.some((part) => part === '')) return null;
  const [enumerator, hardware, instance] = parts;
  const field = (name: string): string | null => {
    const match = new RegExp(`(?:^|&)${name}_([^&]*)`, 'i').exec(hardware);
    return match ? match[1] : null;
  };
  const hex = (value: string | null): number | null => (value !== null && /^[0-9a-f]{4}$/i.test(value) ? parseInt(value, 16) : null);
  const mi = field('MI');
  const upper = enumerator.toUpperCase();
  // A USBSTOR instance id is the USB serial followed by "&<LUN>"; the LUN is not part of the serial.
  const serialPart = upper === 'USBSTOR' ? instance.replace(/&\d+$/, '') : instance;
  const generated = serialPart.length >= 2 && serialPart[1] === '&';
  return {
    enumerator: upper,
    hardware,
    instance,
    vendorId: hex(field('VID')),
    productId: hex(field('PID')),
    interfaceNumber: mi !== null && /^[0-9a-f]{2}$/i.test(mi) ? parseInt(mi, 16) : null,
    scsiVendor: field('VEN') ?? '',
    scsiProduct: field('PROD') ?? '',
    scsiRevision: field('REV') ?? '',
    serial: generated || /[&\\]/.test(serialPart) ? '' : serialPart,
  };
}

/** A Win32_DiskDrive, from JSON (typed values) or a list capture (text values). */
export interface WindowsDiskDrive {
  /** "\\.\PHYSICALDRIVE1". */
  deviceId: string;
  model: string;
  /** "USB", "SCSI", "IDE", … — a CIM enumeration, not translated. */
  interfaceType: string;
  pnpDeviceId: string;
  /** As Win32_DiskDrive reports it; for USB disks often the USB serial, sometimes hex-encoded or blank. */
  serialNumber: string;
  sizeBytes: bigint | null;
  partitions: number | null;
  /** The PnP instance id of the disk's parent (the USB device), when the query asked for it. */
  parentInstanceId: string;
  volumes: WindowsVolume[];
}

/** A Win32_LogicalDisk reached through the disk's partitions. */
export interface WindowsVolume {
  /** "E:". */
  driveLetter: string;
  fileSystem: string;
  label: string;
  sizeBytes: bigint | null;
}

/** A present PnP device (Get-PnpDevice). */
export interface WindowsPnpDevice {
  instanceId: string;
  /** The setup class name ("USB", "HIDClass", "DiskDrive"): a fixed identifier, not translated. */
  className: string;
  friendlyName: string;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * Reads ConvertTo-Json output as a list: PowerShell prints nothing for no objects, one object
 * bare (not in an array) and several in an array. Throws when the text is not JSON.
 */
export function parseConvertToJsonList(text: string): Record<string, Json>[] {
  const trimmed = text.replace(/^\uFEFF/, '').trim();
  if (trimmed === '') return [];
  const parsed = JSON.parse(trimmed) as Json;
  const list = Array.isArray(parsed) ? parsed : [parsed];
  return list.filter((item): item is Record<string, Json> => item !== null && typeof item === 'object' && !Array.isArray(item));
}

function text(value: Json | undefined): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value.trim();
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return '';
}

function bytes(value: Json | undefined): bigint | null {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  if (typeof value === 'string' && /^\d+$/.test(value.trim())) return BigInt(value.trim());
  return null;
}

function count(value: Json | undefined): number | null {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value.trim()) : NaN;
  return Number.isSafeInteger(n) ? n : null;
}

/** ConvertTo-Json writes a one-element collection as a bare object and an empty one as null. */
function asList(value: Json | undefined): Record<string, Json>[] {
  if (value === undefined || value === null) return [];
  const list = Array.isArray(value) ? value : [value];
  return list.filter((item): item is Record<string, Json> => item !== null && typeof item === 'object' && !Array.isArray(item));
}

/** One Win32_DiskDrive record, whether from JSON or from a Format-List/wmic capture. */
export function windowsDiskDriveFromRecord(record: Record<string, Json>): WindowsDiskDrive {
  return {
    deviceId: text(record.DeviceID),
    model: text(record.Model),
    interfaceType: text(record.InterfaceType).toUpperCase(),
    pnpDeviceId: text(record.PNPDeviceID),
    serialNumber: text(record.SerialNumber),
    sizeBytes: bytes(record.Size),
    partitions: count(record.Partitions),
    parentInstanceId: text(record.ParentInstanceId),
    volumes: asList(record.Volumes).map((v) => ({
      driveLetter: text(v.DeviceID),
      fileSystem: text(v.FileSystem),
      label: text(v.VolumeName),
      sizeBytes: bytes(v.Size),
    })),
  };
}

/** One Get-PnpDevice / Win32_PnPEntity record (InstanceId from Get-PnpDevice, PNPDeviceID from WMI). */
export function windowsPnpDeviceFromRecord(record: Record<string, Json>): WindowsPnpDevice {
  return {
    instanceId: text(record.InstanceId) || text(record.PNPDeviceID) || text(record.DeviceID),
    className: text(record.Class) || text(record.PNPClass),
    friendlyName: text(record.FriendlyName) || text(record.Name),
  };
}

/** A USB device as Windows shows it, with the block devices of its disks. */
export interface WindowsUsbDevice {
  device: UsbDevice;
  blockDevices: BlockDevice[];
}

function emptyUsbDevice(): UsbDevice {
  return { vendorId: 0, productId: 0, serial: '', manufacturer: '', product: '', interfaceClasses: [], busPath: '', descriptorHash: '', serialQuality: SerialQuality.SERIAL_QUALITY_UNSPECIFIED };
}

/** "SanDisk Cruzer Blade USB Device" → "SanDisk Cruzer Blade": Windows appends the suffix to USB disk models. */
function modelWithoutSuffix(model: string): string {
  return model.replace(/\s+USB Device$/i, '').trim();
}

function blockDevicesOf(disk: WindowsDiskDrive): BlockDevice[] {
  const whole: BlockDevice = {
    deviceNode: disk.deviceId,
    parentNode: '',
    sizeBytes: (disk.sizeBytes ?? 0n).toString(),
    filesystemType: '',
    label: '',
    mountPoints: [],
    // Not judged here: BitLocker state needs Get-BitLockerVolume (administrator), which this backend does not run.
    encryption: undefined,
    readOnly: false,
  };
  const volumes = disk.volumes
    .filter((v) => /^[A-Z]:$/i.test(v.driveLetter))
    .map(
      (v): BlockDevice => ({
        deviceNode: `\\\\.\\${v.driveLetter.toUpperCase()}`,
        parentNode: disk.deviceId,
        sizeBytes: (v.sizeBytes ?? 0n).toString(),
        filesystemType: v.fileSystem,
        label: v.label,
        mountPoints: [`${v.driveLetter.toUpperCase()}\\`],
        encryption: undefined,
        readOnly: false,
      }),
    );
  return [whole, ...volumes];
}

/**
 * Combines the present USB/HID PnP devices with the USB disks into the USB devices of the host.
 *
 * - A device is a "USB\VID_xxxx&PID_xxxx\<instance>" entry that is not one function of a
 *   composite device (no "&MI_xx"); root hubs and host controllers have no VID and are left out.
 * - Its bus path is its PnP instance id: Windows has no bus/port path in these classes, and the
 *   instance id is what Windows itself uses to tell attachments apart (serial-based ids survive
 *   a re-plug, generated ones include the port).
 * - A disk belongs to the USB device named by its parent instance id; without one (a query that
 *   could not read DEVPKEY_Device_Parent), to the USB device whose serial equals the USBSTOR
 *   instance serial. Such a device gets interface class 8 (mass storage), its model as product,
 *   and the disk and its drive letters as block devices. A disk with no USB device found is
 *   still reported, from its USBSTOR id alone (vendor and product ids 0), so storage is never
 *   missed because a PnP query failed.
 * - The product of a device without a disk is its PnP friendly name: Windows does not show the
 *   USB product string descriptor in these classes, and generic drivers' names are translated
 *   ("USB Mass Storage Device" / "USB 大容量存储设备"). Matching never uses it.
 * - A HID device with the same VID/PID as a storage device (a composite "BadUSB" stick) adds
 *   interface class 3; HID functions are listed under HIDClass with the parent's VID/PID.
 */
export function windowsUsbDevices(pnp: readonly WindowsPnpDevice[], disks: readonly WindowsDiskDrive[]): WindowsUsbDevice[] {
  const devices = new Map<string, WindowsUsbDevice>();
  const hidModels = new Set<string>();
  for (const entry of pnp) {
    const id = parsePnpDeviceId(entry.instanceId);
    if (id === null || id.vendorId === null || id.productId === null) continue;
    if (id.enumerator === 'HID' || entry.className.toUpperCase() === 'HIDCLASS') {
      hidModels.add(`${id.vendorId}:${id.productId}`);
      continue;
    }
    if (id.enumerator !== 'USB' || id.interfaceNumber !== null) continue;
    const device = emptyUsbDevice();
    device.vendorId = id.vendorId;
    device.productId = id.productId;
    device.serial = id.serial;
    device.product = entry.friendlyName;
    device.busPath = entry.instanceId;
    devices.set(entry.instanceId.toUpperCase(), { device, blockDevices: [] });
  }
  for (const disk of disks) {
    if (disk.interfaceType !== 'USB') continue;
    const storId = parsePnpDeviceId(disk.pnpDeviceId);
    let owner = disk.parentInstanceId ? devices.get(disk.parentInstanceId.toUpperCase()) : undefined;
    if (owner === undefined && storId !== null && storId.serial !== '') {
      owner = [...devices.values()].find((candidate) => candidate.device.serial.toUpperCase() === storId.serial.toUpperCase());
    }
    if (owner === undefined) {
      const device = emptyUsbDevice();
      device.serial = storId?.serial ?? '';
      device.busPath = disk.parentInstanceId || disk.pnpDeviceId || disk.deviceId;
      owner = { device, blockDevices: [] };
      devices.set(device.busPath.toUpperCase(), owner);
    }
    const d = owner.device;
    if (!d.interfaceClasses.includes(USB_CLASS_MASS_STORAGE)) d.interfaceClasses.push(USB_CLASS_MASS_STORAGE);
    const model = modelWithoutSuffix(disk.model);
    if (model !== '') d.product = model;
    if (d.manufacturer === '' && storId !== null) d.manufacturer = storId.scsiVendor.replace(/_+/g, ' ').trim();
    owner.blockDevices.push(...blockDevicesOf(disk));
  }
  for (const { device } of devices.values()) {
    if (device.interfaceClasses.includes(USB_CLASS_MASS_STORAGE) && hidModels.has(`${device.vendorId}:${device.productId}`)) {
      device.interfaceClasses.push(USB_CLASS_HID);
    }
    device.interfaceClasses.sort((a, b) => a - b);
  }
  return [...devices.values()];
}
