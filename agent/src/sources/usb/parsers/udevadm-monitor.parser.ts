/** One uevent as `udevadm monitor` prints it. */
export interface MonitorEvent {
  /** KERNEL for the kernel's own uevent (netlink), UDEV for udevd's re-broadcast after its rules. */
  origin: 'KERNEL' | 'UDEV';
  /** The timestamp udevadm printed (CLOCK_MONOTONIC seconds). */
  monotonicSeconds: number;
  /** add, remove, change, bind, unbind, move, online, offline. */
  action: string;
  /** The sysfs path without the /sys prefix, for example "/devices/pci0000:00/…/usb1/1-1/1-1.2". */
  devpath: string;
  subsystem: string;
  /** KEY=VALUE lines printed under the header with --property (ACTION, DEVTYPE, DEVNAME, MAJOR…); empty without it. */
  properties: Record<string, string>;
}

const HEADER = /^(KERNEL|UDEV)\s*\[\s*(\d+(?:\.\d+)?)\]\s+(\S+)\s+(\/\S+)\s+\(([^)]*)\)\s*$/;
const PROPERTY = /^([A-Za-z0-9_.]+)=(.*)$/;

/**
 * Incremental parser of `udevadm monitor` output (with or without --property), fed chunks as
 * they arrive from the child's stdout. Each event starts with a header line
 * `KERNEL[44093.027199] add      /devices/…/1-1.2 (usb)`; with --property its KEY=VALUE lines follow
 * and a blank line ends it. An event is complete at that blank line, at the next header (output
 * without --property has no blank lines), or at `end()`. The banner ("monitor will print…") and
 * anything else unrecognised is ignored, so a changed banner cannot stop monitoring. Pure apart
 * from its own buffer.
 */
export class UdevadmMonitorParser {
  private buffer = '';
  private pending: MonitorEvent | null = null;

  /** Takes the next chunk; returns the events it completed, in order. */
  push(chunk: string): MonitorEvent[] {
    this.buffer += chunk;
    const done: MonitorEvent[] = [];
    for (;;) {
      const newline = this.buffer.indexOf('\n');
      if (newline < 0) break;
      const line = this.buffer.slice(0, newline).replace(/\r$/, '');
      this.buffer = this.buffer.slice(newline + 1);
      this.line(line, done);
    }
    return done;
  }

  /** The output ended (the child exited): completes the last event, if any. */
  end(): MonitorEvent[] {
    const done: MonitorEvent[] = [];
    if (this.buffer !== '') this.line(this.buffer, done);
    this.buffer = '';
    this.flush(done);
    return done;
  }

  private line(line: string, done: MonitorEvent[]): void {
    if (line.trim() === '') {
      this.flush(done);
      return;
    }
    const header = HEADER.exec(line);
    if (header) {
      this.flush(done);
      this.pending = {
        origin: header[1] as 'KERNEL' | 'UDEV',
        monotonicSeconds: Number(header[2]),
        action: header[3]!,
        devpath: header[4]!,
        subsystem: header[5]!,
        properties: {},
      };
      return;
    }
    const property = PROPERTY.exec(line);
    if (property && this.pending) this.pending.properties[property[1]!] = property[2]!;
  }

  private flush(done: MonitorEvent[]): void {
    if (this.pending) done.push(this.pending);
    this.pending = null;
  }
}

/** The sysfs device name at the end of a devpath ("1-1.2", "1-1.2:1.0", "sdb1"). */
export function devpathName(devpath: string): string {
  return devpath.slice(devpath.lastIndexOf('/') + 1);
}
