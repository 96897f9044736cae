import type { CommandRunner } from '../command-runner';
import type { PlatformFacts } from '../platform-facts';
import { parseWindowsHardwareJson, type HardwareFacts } from '../parsers/hardware.parser';
import { unsupportedFacts } from './unsupported';

const TIMEOUT_MS = 20_000;

/** Product and BIOS identity through CIM, numbers and names only; the JSON keys are fixed (not translated). */
export const WINDOWS_HARDWARE_SCRIPT = [
  "$ErrorActionPreference='Stop'",
  '$p = Get-CimInstance -ClassName Win32_ComputerSystemProduct',
  '$b = Get-CimInstance -ClassName Win32_BIOS',
  'ConvertTo-Json -InputObject ([pscustomobject]@{ Vendor = $p.Vendor; Name = $p.Name; IdentifyingNumber = $p.IdentifyingNumber; BiosSerial = $b.SerialNumber })',
].join('\n');

/**
 * Windows: hardware serial, model and vendor from CIM (Win32_ComputerSystemProduct, Win32_BIOS).
 * Sessions and the machine id have no Windows backend yet and say so, as the unsupported
 * backend does.
 */
export function win32Facts(runner: CommandRunner): PlatformFacts {
  const rest = unsupportedFacts('win32');
  // Starting PowerShell costs about a second of CPU and the hardware does not change: read it once it answered.
  let known: HardwareFacts | null = null;
  return {
    ...rest,
    name: 'win32',
    async hardware() {
      if (known !== null) return { hardware: known, problems: [] };
      try {
        const { stdout } = await runner.run('powershell.exe', ['-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-Command', WINDOWS_HARDWARE_SCRIPT], { timeoutMs: TIMEOUT_MS });
        known = parseWindowsHardwareJson(stdout);
        return { hardware: known, problems: [] };
      } catch (error) {
        return { hardware: { serial: '', model: '', vendor: '' }, problems: [`hardware identity: ${(error as Error).message}`] };
      }
    },
  };
}
