import { SerialQuality, type UsbDevice } from '../../../generated/mamori/v1/common';
import { parseUsbId } from '../usb.source';

/** One instruction of the fake USB script (JSON lines). */
export type FakeScriptOp =
  | { op: 'attach'; device: UsbDevice }
  | { op: 'detach'; busPath: string }
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

/**
 * Parses one script line (without its newline). Returns null for a blank line. Throws
 * FakeScriptLineError naming the line and what is wrong. Pure.
 *   {"op":"attach","device":{"vendorId":"0781","productId":"5567","serial":"…","manufacturer":"…","product":"…","interfaceClasses":[8],"busPath":"1-2"}}
 *   {"op":"detach","busPath":"1-2"}
 *   {"op":"sleep","ms":250}
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
    case 'sleep': {
      const ms = record.ms;
      if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || ms > 3_600_000) {
        throw new FakeScriptLineError(lineNumber, 'sleep needs "ms" between 0 and 3600000');
      }
      return { op: 'sleep', ms };
    }
    default:
      throw new FakeScriptLineError(lineNumber, `unknown op ${JSON.stringify(record.op)} (expected attach, detach or sleep)`);
  }
}
