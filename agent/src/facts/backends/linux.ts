import { readFile } from 'node:fs/promises';
import type { CommandRunner } from '../command-runner';
import type { PlatformFacts } from '../platform-facts';
import { parseWhoOutput } from '../parsers/who.parser';

const WHO_TIMEOUT_MS = 3_000;

/** Linux: sessions from `who` (utmp), the machine id from systemd's /etc/machine-id (dbus's copy as fallback). */
export function linuxFacts(runner: CommandRunner, machineIdFiles = ['/etc/machine-id', '/var/lib/dbus/machine-id']): PlatformFacts {
  return {
    name: 'linux',
    async loggedInUsers() {
      try {
        return { users: parseWhoOutput((await runner.run('who', [], { timeoutMs: WHO_TIMEOUT_MS })).stdout) };
      } catch (error) {
        return { users: [], problem: (error as Error).message };
      }
    },
    async machineId() {
      for (const file of machineIdFiles) {
        try {
          const id = (await readFile(file, 'utf8')).trim();
          if (/^[0-9a-f]{32}$/i.test(id)) return { id: id.toLowerCase() };
        } catch {
          // Try the next location.
        }
      }
      return { id: '', problem: `no machine id in ${machineIdFiles.join(' or ')}` };
    },
  };
}
