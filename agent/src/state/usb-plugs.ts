import { readFile } from 'node:fs/promises';
import { SerialQuality, type UsbDevice } from '../generated/mamori/v1/common';
import { writeFileAtomic } from './atomic-file';

/** One plug the agent recorded: the device on a bus path and the attach event that began it. */
export interface SavedUsbPlug {
  /** The device as it was reported at its attach (kept whole, to report its detach if it leaves while the agent is stopped). */
  device: UsbDevice;
  /** The event_id of the UsbDeviceAttached that began the plug. */
  attachedEventId: string;
}

/**
 * The same device in the same port: bus path and identity (vendor, product, serial, descriptor
 * hash) all agree. A stick swapped for another while the agent was down, even one of the same
 * model, differs in serial or descriptors and is a new plug. Two sticks that cannot be told apart
 * (same model, same or no serial, same descriptors) swapped in the same port read as the same
 * plug: nothing on the bus tells them apart.
 */
export function samePluggedDevice(a: UsbDevice, b: UsbDevice): boolean {
  return a.busPath === b.busPath && a.vendorId === b.vendorId && a.productId === b.productId && a.serial === b.serial && a.descriptorHash === b.descriptorHash;
}

/**
 * The plugs of the devices attached when the agent last recorded them, by bus path, in
 * usb-plugs.json of the state folder, so that a restarted agent names a device that stayed
 * attached by its original attach event instead of starting a new plug (the collector counts
 * each rule once per plug).
 *
 * Contract: `load` never fails the agent: a missing file is an empty store, an unreadable or
 * malformed one is reported through `onProblem` and read as empty (the devices then start new
 * plugs, as before this store existed). `save` writes atomically and rejects with the fs error;
 * the caller saves only after the events naming the plugs are in the outbox, so the file never
 * names an attach that was not recorded.
 */
export class UsbPlugStore {
  /** True when the plugs differ from the file. */
  private dirty = false;

  private constructor(
    private readonly path: string,
    private plugs: Map<string, SavedUsbPlug>,
  ) {}

  static async load(path: string, onProblem: (message: string) => void = () => undefined): Promise<UsbPlugStore> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') onProblem(`cannot read the saved USB plugs ${path}: ${(error as Error).message}; devices still attached start new plugs`);
      return new UsbPlugStore(path, new Map());
    }
    const plugs = new Map<string, SavedUsbPlug>();
    try {
      const parsed = JSON.parse(text) as { plugs?: unknown };
      if (!Array.isArray(parsed.plugs)) throw new Error('no "plugs" list');
      for (const raw of parsed.plugs) {
        const plug = raw as Partial<SavedUsbPlug>;
        const device = plug.device as Partial<UsbDevice> | undefined;
        if (
          typeof plug.attachedEventId !== 'string' ||
          plug.attachedEventId === '' ||
          typeof device !== 'object' ||
          device === null ||
          typeof device.busPath !== 'string' ||
          typeof device.vendorId !== 'number' ||
          typeof device.productId !== 'number' ||
          typeof device.serial !== 'string' ||
          typeof device.descriptorHash !== 'string'
        ) {
          throw new Error(`a plug entry is malformed: ${JSON.stringify(raw).slice(0, 200)}`);
        }
        plugs.set(device.busPath, {
          device: {
            vendorId: device.vendorId,
            productId: device.productId,
            serial: device.serial,
            manufacturer: typeof device.manufacturer === 'string' ? device.manufacturer : '',
            product: typeof device.product === 'string' ? device.product : '',
            interfaceClasses: Array.isArray(device.interfaceClasses) ? device.interfaceClasses.filter((c) => Number.isInteger(c)) : [],
            busPath: device.busPath,
            descriptorHash: device.descriptorHash,
            serialQuality: Object.values(SerialQuality).includes(device.serialQuality as SerialQuality) ? (device.serialQuality as SerialQuality) : SerialQuality.SERIAL_QUALITY_UNSPECIFIED,
          },
          attachedEventId: plug.attachedEventId,
        });
      }
    } catch (error) {
      onProblem(`the saved USB plugs ${path} are unreadable (${(error as Error).message}); devices still attached start new plugs`);
      return new UsbPlugStore(path, new Map());
    }
    return new UsbPlugStore(path, plugs);
  }

  get(busPath: string): SavedUsbPlug | undefined {
    return this.plugs.get(busPath);
  }

  /** The saved plug that `device` continues (same bus path and identity), or undefined. */
  continuedBy(device: UsbDevice): SavedUsbPlug | undefined {
    const saved = this.plugs.get(device.busPath);
    return saved !== undefined && samePluggedDevice(saved.device, device) ? saved : undefined;
  }

  set(device: UsbDevice, attachedEventId: string): void {
    const before = this.plugs.get(device.busPath);
    if (before !== undefined && before.attachedEventId === attachedEventId && JSON.stringify(before.device) === JSON.stringify(device)) return;
    this.plugs.set(device.busPath, { device, attachedEventId });
    this.dirty = true;
  }

  delete(busPath: string): void {
    if (this.plugs.delete(busPath)) this.dirty = true;
  }

  all(): SavedUsbPlug[] {
    return [...this.plugs.values()];
  }

  /** Puts back an earlier `all()` (the events that changed the plugs were not taken). */
  replaceAll(plugs: readonly SavedUsbPlug[]): void {
    this.plugs = new Map(plugs.map((plug) => [plug.device.busPath, plug]));
    this.dirty = true;
  }

  /** Writes the plugs when they changed since the last save. */
  async save(): Promise<void> {
    if (!this.dirty) return;
    await writeFileAtomic(this.path, JSON.stringify({ plugs: this.all() }));
    this.dirty = false;
  }
}
