import { SerialQuality, type UsbDevice } from '../../../generated/mamori/v1/common';
import { USB_CLASS_MASS_STORAGE } from '../usb.source';
import { isPlistDict, parseXmlPlist, type PlistValue } from './macos-plist.parser';

/**
 * Pure reader for `system_profiler SPUSBDataType`, in both forms macOS has printed:
 * - `-json` (macOS 10.15+): plain keys (vendor_id, product_id, serial_num, manufacturer,
 *   location_id) and the storage under "Media": [{bsd_name, volumes: [...]}];
 * - `-xml` (older systems): a plist whose keys carry sort prefixes (b_vendor_id, a_product_id,
 *   d_serial_num, f_manufacturer, g_location_id) and the storage inline on the device
 *   (bsd_name, volumes).
 * Both are trees: buses (host controllers) hold devices in "_items", hubs hold more devices.
 *
 * What it cannot say: system_profiler lists no interface classes. A device is marked mass
 * storage (class 8) when it has media with a BSD disk; a card reader without a card, or an HID
 * interface next to the storage, is invisible here.
 */

export interface MacUsbVolume {
  /** "disk2s1". */
  bsdName: string;
  /** The volume name as shown in Finder ("_name"). */
  name: string;
  /** As system_profiler words it: "MS-DOS FAT32", "Journaled HFS+", absent for an unformatted partition. */
  fileSystem: string;
  /** Empty when not mounted or when system_profiler did not say. */
  mountPoint: string;
  /** Exact bytes where system_profiler gives size_in_bytes; null where it only gives a rounded, localized "465,76 GB". */
  sizeBytes: bigint | null;
}

export interface MacUsbMedia {
  /** The whole disk, "disk2". */
  bsdName: string;
  sizeBytes: bigint | null;
  /** removable_media "yes"/"no"; null when absent. */
  removable: boolean | null;
  volumes: MacUsbVolume[];
}

export interface MacUsbDevice {
  device: UsbDevice;
  media: MacUsbMedia[];
}

type Dict = { [key: string]: PlistValue };

/** Vendor ids system_profiler prints as a name instead of a number. */
const NAMED_VENDORS: Record<string, number> = { apple_vendor_id: 0x05ac };

/** Reads "0x0781  (SanDisk Corporation)", "0x0781" or "apple_vendor_id"; null when it is none of these. */
export function parseMacUsbId(value: string): number | null {
  const trimmed = value.trim();
  if (trimmed in NAMED_VENDORS) return NAMED_VENDORS[trimmed];
  const match = /^0x([0-9a-f]{1,4})\b/i.exec(trimmed);
  return match ? parseInt(match[1], 16) : null;
}

/**
 * Turns a location id ("0x02320000 / 8", "0xfd300000") into a Linux-style bus path: the top
 * byte is the bus, each following nibble one hub port from the root down, ending at the first
 * zero. 0x02320000 → "2-3.2" (bus 2, port 3, then port 2 of the hub there). The " / 8" after it
 * is the device address, which changes on every plug, so it is not part of the path.
 */
export function macLocationToBusPath(location: string): string {
  const match = /^0x([0-9a-f]{8})\b/i.exec(location.trim());
  if (!match) return '';
  const value = match[1].toLowerCase();
  const bus = parseInt(value.slice(0, 2), 16);
  const ports: number[] = [];
  for (const nibble of value.slice(2)) {
    if (nibble === '0') break;
    ports.push(parseInt(nibble, 16));
  }
  return ports.length === 0 ? `${bus}` : `${bus}-${ports.join('.')}`;
}

/** A key with or without system_profiler's sort prefix ("b_vendor_id" for "vendor_id"). */
function field(item: Dict, name: string): PlistValue | undefined {
  if (name in item) return item[name];
  const prefixed = Object.keys(item).find((key) => /^[a-z]_/.test(key) && key.slice(2) === name);
  return prefixed === undefined ? undefined : item[prefixed];
}

function str(value: PlistValue | undefined): string {
  if (typeof value === 'string') return value.trim();
  if (typeof value === 'number') return String(value);
  return '';
}

function sizeOf(item: Dict): bigint | null {
  const value = item.size_in_bytes;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  if (typeof value === 'string' && /^\d+$/.test(value.trim())) return BigInt(value.trim());
  return null;
}

function yesNo(value: PlistValue | undefined): boolean | null {
  const text = str(value).toLowerCase();
  return text === 'yes' ? true : text === 'no' ? false : null;
}

function list(value: PlistValue | undefined): Dict[] {
  return Array.isArray(value) ? value.filter(isPlistDict) : [];
}

function volumesOf(holder: Dict): MacUsbVolume[] {
  return list(holder.volumes).map((volume) => ({
    bsdName: str(volume.bsd_name),
    name: str(volume._name),
    fileSystem: str(volume.file_system),
    mountPoint: str(volume.mount_point),
    sizeBytes: sizeOf(volume),
  }));
}

function mediaOf(item: Dict): MacUsbMedia[] {
  const media = list(item.Media);
  // The older plist form puts the disk's keys on the device itself.
  const holders = media.length > 0 ? media : str(item.bsd_name) !== '' ? [item] : [];
  return holders
    .filter((holder) => str(holder.bsd_name) !== '')
    .map((holder) => ({ bsdName: str(holder.bsd_name), sizeBytes: sizeOf(holder), removable: yesNo(holder.removable_media), volumes: volumesOf(holder) }));
}

function walk(items: Dict[], into: MacUsbDevice[]): void {
  for (const item of items) {
    const vendor = parseMacUsbId(str(field(item, 'vendor_id')));
    const product = parseMacUsbId(str(field(item, 'product_id')));
    // Buses (host controllers) have no vendor/product id; only their children are devices.
    if (vendor !== null && product !== null) {
      const media = mediaOf(item);
      into.push({
        device: {
          vendorId: vendor,
          productId: product,
          serial: str(field(item, 'serial_num')),
          manufacturer: str(field(item, 'manufacturer')),
          product: str(item._name),
          interfaceClasses: media.length > 0 ? [USB_CLASS_MASS_STORAGE] : [],
          busPath: macLocationToBusPath(str(field(item, 'location_id'))),
          descriptorHash: '',
          serialQuality: SerialQuality.SERIAL_QUALITY_UNSPECIFIED,
        },
        media,
      });
    }
    walk(list(item._items), into);
  }
}

function fromRoot(root: PlistValue | unknown, form: string): MacUsbDevice[] {
  // JSON: {"SPUSBDataType": [bus, ...]}; XML: [{"_dataType": "SPUSBDataType", "_items": [bus, ...]}].
  let buses: Dict[];
  if (Array.isArray(root)) {
    const section = (root as PlistValue[]).filter(isPlistDict).find((entry) => entry._dataType === 'SPUSBDataType');
    if (section === undefined) throw new Error(`system_profiler ${form}: no SPUSBDataType section`);
    buses = list(section._items);
  } else if (isPlistDict(root as PlistValue) && Array.isArray((root as Dict).SPUSBDataType)) {
    buses = list((root as Dict).SPUSBDataType);
  } else {
    throw new Error(`system_profiler ${form}: no SPUSBDataType section`);
  }
  const devices: MacUsbDevice[] = [];
  walk(buses, devices);
  return devices;
}

/** `system_profiler SPUSBDataType -json`. Throws when the text is not that. */
export function parseSystemProfilerUsbJson(text: string): MacUsbDevice[] {
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (error) {
    throw new Error(`system_profiler -json: not JSON (${(error as Error).message})`);
  }
  return fromRoot(root, '-json');
}

/** `system_profiler -xml SPUSBDataType` (a plist). Throws when the text is not that. */
export function parseSystemProfilerUsbXml(text: string): MacUsbDevice[] {
  return fromRoot(parseXmlPlist(text), '-xml');
}
