/**
 * The interface classes named in a USB device's raw descriptors (sysfs `descriptors`: the device
 * descriptor followed by every configuration descriptor with its interface and endpoint
 * descriptors). The kernel keeps this file readable for a device that arrived unauthorized, which
 * has no active configuration and therefore no interface folders in sysfs. Walks the
 * length-prefixed descriptors and collects bInterfaceClass (offset 5) of every interface
 * descriptor (type 4), in order, without duplicates. A truncated or malformed chain stops the walk
 * and returns what was read before it.
 */
export function interfaceClassesFromDescriptors(raw: Uint8Array): number[] {
  const classes: number[] = [];
  let offset = 0;
  while (offset + 2 <= raw.length) {
    const length = raw[offset]!;
    const type = raw[offset + 1]!;
    if (length < 2 || offset + length > raw.length) break;
    if (type === 4 && length >= 9) {
      const cls = raw[offset + 5]!;
      if (!classes.includes(cls)) classes.push(cls);
    }
    offset += length;
  }
  return classes;
}
