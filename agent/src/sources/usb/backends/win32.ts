import { processCommandRunner, type CommandRunner } from '../../../facts/command-runner';
import type { Logger } from '../../../logging/logger';
import {
  parseConvertToJsonList,
  windowsDiskDriveFromRecord,
  windowsPnpDeviceFromRecord,
  windowsUsbDevices,
} from '../parsers/windows.parser';
import { PollingUsbBackend } from './polling';

/**
 * Win32_DiskDrive on USB with its parent PnP device and its drive letters, as JSON.
 * - The console encoding is set to UTF-8 first: Windows PowerShell 5.1 writes piped output in the
 *   OEM code page, which would mangle non-ASCII labels and models.
 * - ParentInstanceId (DEVPKEY_Device_Parent) ties the disk to its USB device even when the stick
 *   has no serial; the parser falls back to the serial when it is missing.
 * - The script uses only single quotes, so Node's argument quoting for powershell.exe cannot break it.
 */
export const WIN32_DISKS_SCRIPT = [
  '[Console]::OutputEncoding = [Text.Encoding]::UTF8;',
  "Get-CimInstance -ClassName Win32_DiskDrive | Where-Object InterfaceType -eq 'USB' |",
  'Select-Object DeviceID, Model, InterfaceType, PNPDeviceID, SerialNumber, Size, Partitions,',
  "@{n='ParentInstanceId'; e={ (Get-PnpDeviceProperty -InstanceId $_.PNPDeviceID -KeyName 'DEVPKEY_Device_Parent' -ErrorAction SilentlyContinue).Data }},",
  "@{n='Volumes'; e={ @(Get-CimAssociatedInstance -InputObject $_ -ResultClassName Win32_DiskPartition | ForEach-Object { Get-CimAssociatedInstance -InputObject $_ -ResultClassName Win32_LogicalDisk } | Select-Object DeviceID, FileSystem, VolumeName, Size) }} |",
  'ConvertTo-Json -Depth 4',
].join(' ');

/** Present USB devices and HID functions (to see a keyboard inside a stick), as JSON. */
export const WIN32_PNP_SCRIPT = [
  '[Console]::OutputEncoding = [Text.Encoding]::UTF8;',
  'Get-PnpDevice -PresentOnly -Class USB, HIDClass -ErrorAction SilentlyContinue |',
  'Select-Object InstanceId, Class, FriendlyName |',
  'ConvertTo-Json -Depth 2',
].join(' ');

const POWERSHELL_ARGS = ['-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-Command'];

export interface Win32UsbOptions {
  logger: Logger;
  runner?: CommandRunner;
  /** Time between snapshots (default 5 s: each takes two PowerShell starts, about a second each). */
  pollMs?: number;
  /** Per command (default 30 s: the first CIM query after boot can be slow). */
  timeoutMs?: number;
  clock?: () => Date;
}

/**
 * The Windows USB backend: polls PowerShell/CIM (Win32_DiskDrive on USB, Get-PnpDevice) through
 * the CommandRunner and reports attach/detach and USB disks with their drive letters. Parsing
 * relies on property names and PnP id syntax only, never on translated text, so it works on any
 * display language. Audit-only: it does not block or make devices read-only.
 */
export class Win32UsbBackend extends PollingUsbBackend {
  constructor(options: Win32UsbOptions) {
    const runner = options.runner ?? processCommandRunner;
    const timeoutMs = options.timeoutMs ?? 30_000;
    const powershell = async (script: string) => (await runner.run('powershell.exe', [...POWERSHELL_ARGS, script], { timeoutMs })).stdout;
    super({
      name: 'usb:win32',
      platformLabel: 'Windows',
      logger: options.logger,
      pollMs: options.pollMs ?? 5_000,
      clock: options.clock,
      snapshot: async () => {
        // Both answers are needed: without the PnP list every non-storage device would read as detached.
        const disks = parseConvertToJsonList(await powershell(WIN32_DISKS_SCRIPT)).map(windowsDiskDriveFromRecord);
        const pnp = parseConvertToJsonList(await powershell(WIN32_PNP_SCRIPT)).map(windowsPnpDeviceFromRecord);
        return windowsUsbDevices(pnp, disks);
      },
    });
  }
}
