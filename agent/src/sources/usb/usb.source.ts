import type { UsbDevice } from '../../generated/mamori/v1/common';
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
  | { kind: 'detached'; device: UsbDevice; occurredAt: Date; eventId?: string };

/**
 * Where a source hands its observations. Contract: `accept` resolves once the observations are
 * durably taken (in the outbox, or dropped-and-counted when the spool is full); it rejects when
 * they were not taken (disk failure), and the source must then offer them again later.
 * `unavailable` reports, once, that the source cannot run here.
 */
export interface UsbObservationSink {
  accept(observations: UsbObservation[]): Promise<void>;
  unavailable(reason: string): Promise<void>;
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
