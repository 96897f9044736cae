import { SerialQuality, type UsbDevice } from '../../../generated/mamori/v1/common';
import { EncryptionScheme, type BlockDevice } from '../../../generated/mamori/v1/events';
import { parseUsbId } from '../usb.source';

/** One instruction of the fake USB script (JSON lines). */
export type FakeScriptOp =
  | { op: 'attach'; device: UsbDevice }
  | { op: 'detach'; busPath: string }
  | { op: 'storage'; busPath: string; blockDevices: BlockDevice[] }
  | { op: 'sleep'; ms: number };

/** A script line that cannot be understood; `lineNumber` is 1-based, as an editor shows it. */
export class FakeScriptLineError extends Error {
  constructor(
    readonly lineNumber: number,
    readonly reason: string,
  ) {
    super(`fake USB script line ${lineNumber}: ${reason}`);
  }
}

function str(value: unknown, field: string, lineNumber: number, required = false): string {
  if (value === undefined || value === null) {
    if (required) throw new FakeScriptLineError(lineNumber, `${field} is required`);
    return '';
  }
  if (typeof value !== 'string') throw new FakeScriptLineError(lineNumber, `${field} must be a string`);
  return value;
}

function blockDevice(value: unknown, index: number, lineNumber: number): BlockDevice {
  const at = `blockDevices[${index}]`;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new FakeScriptLineError(lineNumber, `${at} must be an object`);
  const b = value as Record<string, unknown>;
  const mountPoints = b.mountPoints ?? [];
  if (!Array.isArray(mountPoints) || !mountPoints.every((m) => typeof m === 'string' && m.startsWith('/'))) {
    throw new FakeScriptLineError(lineNumber, `${at}.mountPoints must be a list of absolute paths`);
  }
  const size = b.sizeBytes ?? 0;
  if (!Number.isSafeInteger(size) || (size as number) < 0) throw new FakeScriptLineError(lineNumber, `${at}.sizeBytes must be a whole number of bytes`);
  const scheme = b.encryption ?? 'ENCRYPTION_SCHEME_NONE';
  if (typeof scheme !== 'string' || !(Object.values(EncryptionScheme) as string[]).includes(scheme)) {
    throw new FakeScriptLineError(lineNumber, `${at}.encryption must be one of ${Object.values(EncryptionScheme).join(', ')}`);
  }
  const encrypted = scheme !== EncryptionScheme.ENCRYPTION_SCHEME_NONE && scheme !== EncryptionScheme.ENCRYPTION_SCHEME_UNSPECIFIED;
  return {
    deviceNode: str(b.deviceNode, `${at}.deviceNode`, lineNumber, true),
    parentNode: str(b.parentNode, `${at}.parentNode`, lineNumber),
    sizeBytes: String(size),
    filesystemType: str(b.filesystemType, `${at}.filesystemType`, lineNumber),
    label: str(b.label, `${at}.label`, lineNumber),
    mountPoints: mountPoints as string[],
    // A scripted encrypted volume is fully encrypted with protection on: the state a stick in use has.
    encryption: { scheme: scheme as EncryptionScheme, fullyEncrypted: encrypted, percentEncrypted: encrypted ? 100 : 0, protectionOn: encrypted },
    readOnly: b.readOnly === true,
  };
}

/**
 * Parses one script line (without its newline). Returns null for a blank line. Throws
 * FakeScriptLineError naming the line and what is wrong. Pure.
 *   {"op":"attach","device":{"vendorId":"0781","productId":"5567","serial":"…","manufacturer":"…","product":"…","interfaceClasses":[8],"busPath":"1-2"}}
 *   {"op":"detach","busPath":"1-2"}
 *   {"op":"sleep","ms":250}
 *   {"op":"storage","busPath":"1-2","blockDevices":[{"deviceNode":"/dev/sdb1","parentNode":"/dev/sdb","filesystemType":"vfat",
 *     "mountPoints":["/media/stick"],"encryption":"ENCRYPTION_SCHEME_NONE"}]}   (the attached device's volumes, as the
 *     real backends report them once known and again when a mount point changes; encryption defaults to NONE)
 */
export function parseFakeScriptLine(line: string, lineNumber: number): FakeScriptOp | null {
  if (line.trim() === '') return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (error) {
    throw new FakeScriptLineError(lineNumber, `not JSON (${(error as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new FakeScriptLineError(lineNumber, 'not a JSON object');
  const record = parsed as Record<string, unknown>;
  switch (record.op) {
    case 'attach': {
      const device = record.device;
      if (typeof device !== 'object' || device === null) throw new FakeScriptLineError(lineNumber, 'attach needs a "device" object');
      const d = device as Record<string, unknown>;
      const vendorId = parseUsbId(d.vendorId);
      if (vendorId === null) throw new FakeScriptLineError(lineNumber, `device.vendorId must be hex 0000..ffff, got ${JSON.stringify(d.vendorId)}`);
      const productId = parseUsbId(d.productId);
      if (productId === null) throw new FakeScriptLineError(lineNumber, `device.productId must be hex 0000..ffff, got ${JSON.stringify(d.productId)}`);
      const classes = d.interfaceClasses ?? [];
      if (!Array.isArray(classes) || !classes.every((c) => Number.isInteger(c) && c >= 0 && c <= 255)) {
        throw new FakeScriptLineError(lineNumber, 'device.interfaceClasses must be a list of integers 0..255');
      }
      return {
        op: 'attach',
        device: {
          vendorId,
          productId,
          serial: str(d.serial, 'device.serial', lineNumber),
          manufacturer: str(d.manufacturer, 'device.manufacturer', lineNumber),
          product: str(d.product, 'device.product', lineNumber),
          interfaceClasses: classes as number[],
          busPath: str(d.busPath, 'device.busPath', lineNumber, true),
          descriptorHash: str(d.descriptorHash, 'device.descriptorHash', lineNumber),
          // Judged by the USB source across all attached devices, not per script line.
          serialQuality: SerialQuality.SERIAL_QUALITY_UNSPECIFIED,
        },
      };
    }
    case 'detach':
      return { op: 'detach', busPath: str(record.busPath, 'busPath', lineNumber, true) };
    case 'storage': {
      const devices = record.blockDevices;
      if (!Array.isArray(devices)) throw new FakeScriptLineError(lineNumber, 'storage needs a "blockDevices" list');
      return { op: 'storage', busPath: str(record.busPath, 'busPath', lineNumber, true), blockDevices: devices.map((d, i) => blockDevice(d, i, lineNumber)) };
    }
    case 'sleep': {
      const ms = record.ms;
      if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || ms > 3_600_000) {
        throw new FakeScriptLineError(lineNumber, 'sleep needs "ms" between 0 and 3600000');
      }
      return { op: 'sleep', ms };
    }
    default:
      throw new FakeScriptLineError(lineNumber, `unknown op ${JSON.stringify(record.op)} (expected attach, detach, storage or sleep)`);
  }
}
