import type { CommandRunner } from '../command-runner';
import type { PlatformFacts } from '../platform-facts';
import { parseIoregHardware } from '../parsers/hardware.parser';
import { parseIoregPlatformUuid, parseWhoOutput } from '../parsers/who.parser';

const TIMEOUT_MS = 3_000;

/** macOS: sessions from `who`, the hardware UUID from the IOPlatformExpertDevice registry entry. */
export function darwinFacts(runner: CommandRunner): PlatformFacts {
  return {
    name: 'darwin',
    async hardware() {
      try {
        const hardware = parseIoregHardware((await runner.run('ioreg', ['-rd1', '-c', 'IOPlatformExpertDevice'], { timeoutMs: TIMEOUT_MS })).stdout);
        return { hardware, problems: hardware.serial ? [] : ['ioreg printed no IOPlatformSerialNumber'] };
      } catch (error) {
        return { hardware: { serial: '', model: '', vendor: '' }, problems: [(error as Error).message] };
      }
    },
    async loggedInUsers() {
      try {
        return { users: parseWhoOutput((await runner.run('who', [], { timeoutMs: TIMEOUT_MS })).stdout) };
      } catch (error) {
        return { users: [], problem: (error as Error).message };
      }
    },
    async machineId() {
      try {
        const id = parseIoregPlatformUuid((await runner.run('ioreg', ['-rd1', '-c', 'IOPlatformExpertDevice'], { timeoutMs: TIMEOUT_MS })).stdout);
        return id ? { id } : { id: '', problem: 'ioreg printed no IOPlatformUUID' };
      } catch (error) {
        return { id: '', problem: (error as Error).message };
      }
    },
  };
}
