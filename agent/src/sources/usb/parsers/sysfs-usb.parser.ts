/**
 * Pure readers of the kernel's USB files under /sys/bus/usb/devices (Documentation/ABI/stable/sysfs-bus-usb).
 */

/** A USB device entry (root hub "usb1", or a port path "1-2", "1-2.4"), not an interface ("1-2:1.0"). */
export function isUsbDeviceName(name: string): boolean {
  return /^usb\d+$/.test(name) || /^\d+-\d+(\.\d+)*$/.test(name);
}

/** An interface entry of `device` in configuration `configuration` ("1-2:1.0" for "1-2", configuration 1). */
export function isInterfaceOf(device: string, configuration: number, name: string): boolean {
  return name.startsWith(`${device}:${configuration}.`) && /^\d+$/.test(name.slice(`${device}:${configuration}.`.length));
}

/** A sysfs string attribute: the kernel appends one newline; anything else is the device's. */
export function sysfsText(raw: string): string {
  return raw.endsWith('\n') ? raw.slice(0, -1) : raw;
}

/** A hex attribute such as idVendor ("0781\n") or bInterfaceClass ("08\n"); null if it is not hex. */
export function sysfsHex(raw: string): number | null {
  const text = raw.trim();
  return /^[0-9a-fA-F]{1,8}$/.test(text) ? parseInt(text, 16) : null;
}

/** A decimal attribute such as bConfigurationValue ("1\n", empty when unconfigured); null if absent or not a number. */
export function sysfsDecimal(raw: string): number | null {
  const text = raw.trim();
  return /^\d+$/.test(text) ? Number(text) : null;
}

export interface UsbConfigurationDescriptor {
  value: number;
  /** bInterfaceClass per interface number, from the interface's first (alternate 0) descriptor. */
  interfaceClasses: Map<number, number>;
}

/**
 * Parses the sysfs `descriptors` file: the 18-byte device descriptor followed by the raw
 * descriptors of every configuration. USBGuard reads the same file. It is there even for a
 * device that is not authorized (blocked at birth) and so has no interface entries in sysfs,
 * which is why interface classes are taken from here first. Stops at the first malformed
 * descriptor (bLength < 2 or past the end) and returns what it read before it.
 */
export function parseUsbDescriptors(data: Uint8Array): UsbConfigurationDescriptor[] {
  const configs: UsbConfigurationDescriptor[] = [];
  if (data.length < 18 || data[1] !== 0x01) return configs;
  let position = data[0]!;
  let current: UsbConfigurationDescriptor | null = null;
  while (position + 2 <= data.length) {
    const length = data[position]!;
    const type = data[position + 1]!;
    if (length < 2 || position + length > data.length) break;
    if (type === 0x02 && length >= 9) {
      current = { value: data[position + 5]!, interfaceClasses: new Map() };
      configs.push(current);
    } else if (type === 0x04 && length >= 9 && current) {
      const number = data[position + 2]!;
      if (!current.interfaceClasses.has(number)) current.interfaceClasses.set(number, data[position + 5]!);
    }
    position += length;
  }
  return configs;
}

/**
 * The interface classes of the active configuration, in interface order. `active` is
 * bConfigurationValue (null when the device is unconfigured, e.g. not authorized: then the
 * first configuration, the one the kernel picks for ordinary devices, stands in).
 */
export function interfaceClassesOf(configs: readonly UsbConfigurationDescriptor[], active: number | null): number[] {
  const config = (active === null ? undefined : configs.find((c) => c.value === active)) ?? configs[0];
  if (!config) return [];
  return [...config.interfaceClasses.entries()].sort((a, b) => a[0] - b[0]).map(([, cls]) => cls);
}
