import { SerialQuality, type UsbDevice } from '../../generated/mamori/v1/common';
import type { BlockDevice } from '../../generated/mamori/v1/events';
import type { AgentCapability } from '../../generated/mamori/v1/telemetry';

/** One normalised USB observation, as every backend reports it. */
export type UsbObservation =
  | {
      kind: 'attached';
      device: UsbDevice;
      presentAtStart: boolean;
      occurredAt: Date;
      /** Set by backends that replay (fake): a deterministic id so a replay is de-duplicated. */
      eventId?: string;
    }
  | { kind: 'detached'; device: UsbDevice; occurredAt: Date; eventId?: string }
  | {
      /**
       * The block devices (whole disk and partitions) of a USB mass-storage device, reported once
       * they appear after the device's 'attached' and again whenever the set, a file system or a
       * mount point changes. Encryption is judged from each device's own bytes.
       */
      kind: 'storage';
      device: UsbDevice;
      blockDevices: BlockDevice[];
      occurredAt: Date;
      eventId?: string;
    };

/**
 * Where a source hands its observations. Contract: `accept` resolves once the observations are
 * durably taken (in the outbox, or dropped-and-counted when the spool is full); it rejects when
 * they were not taken (disk failure), and the source must then offer them again later.
 * `unavailable` reports, once, that the source cannot run here.
 */
export interface UsbObservationSink {
  accept(observations: UsbObservation[]): Promise<void>;
  unavailable(reason: string): Promise<void>;
  /**
   * Called once, after `accept` took every device present at start (an empty bus counts): a
   * device the agent knew from its previous run that was not among them left while it was
   * stopped. Backends that cannot enumerate (unavailable) never call it.
   */
  presentAtStartReported?(): Promise<void>;
}

/**
 * The USB source port (after USBGuard's DeviceManager): a backend watches the bus and reports
 * attach/detach. Contract: `start` returns once watching has begun (a backend that cannot run
 * calls `sink.unavailable` and keeps "running" idle rather than failing the agent); `stop`
 * stops watching and resolves when no more `accept` calls will be made. `attached()` is the
 * backend's current view of the bus, for the posture summary.
 */
export interface UsbSource {
  /** "usb:<backend>", reported in heartbeats. */
  readonly name: string;
  start(sink: UsbObservationSink): Promise<void>;
  stop(): Promise<void>;
  attached(): UsbDevice[];
  /** What this backend can do on this host (detect, block, read-only), with the reason when it cannot. */
  capabilities(): AgentCapability[];
}

/** Mass storage, the interface class the register and the first rule care about. */
export const USB_CLASS_MASS_STORAGE = 8;

/** Reads a USB id given as 4-digit hex ("0781") or a number; null if it is neither or out of 0..0xFFFF. */
export function parseUsbId(value: unknown): number | null {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 && value <= 0xffff ? value : null;
  if (typeof value === 'string' && /^(0x)?[0-9a-fA-F]{1,4}$/.test(value.trim())) return parseInt(value.trim().replace(/^0x/, ''), 16);
  return null;
}

export function formatUsbId(value: number): string {
  return value.toString(16).padStart(4, '0');
}

/**
 * Judges the serial number of every device in `devices` (the backend's whole current view of the
 * bus) and returns copies with serialQuality set: EMPTY when it is blank or only whitespace,
 * DUPLICATED when another device in the view has the same vendor, product and serial (two sticks
 * that cannot be told apart, so a register entry naming the serial would match both), else PRESENT.
 * Pure; every backend calls it on its view before reporting, so the judgement is the same everywhere.
 */
export function judgeSerialQuality(devices: readonly UsbDevice[]): UsbDevice[] {
  const counts = new Map<string, number>();
  const key = (d: UsbDevice) => `${d.vendorId}:${d.productId}:${d.serial}`;
  for (const device of devices) {
    if (device.serial.trim() !== '') counts.set(key(device), (counts.get(key(device)) ?? 0) + 1);
  }
  return devices.map((device) => ({
    ...device,
    serialQuality:
      device.serial.trim() === ''
        ? SerialQuality.SERIAL_QUALITY_EMPTY
        : (counts.get(key(device)) ?? 0) > 1
          ? SerialQuality.SERIAL_QUALITY_DUPLICATED
          : SerialQuality.SERIAL_QUALITY_PRESENT,
  }));
}

/** The serial quality of `device` were it attached beside `others` (which must not include it). */
export function serialQualityAmong(device: UsbDevice, others: readonly UsbDevice[]): SerialQuality {
  return judgeSerialQuality([device, ...others])[0]!.serialQuality;
}
