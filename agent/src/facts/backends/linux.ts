import { readFile } from 'node:fs/promises';
import type { CommandRunner } from '../command-runner';
import type { PlatformFacts } from '../platform-facts';
import { cleanHardwareValue } from '../parsers/hardware.parser';
import { parseWhoOutput } from '../parsers/who.parser';

const WHO_TIMEOUT_MS = 3_000;

/**
 * Linux: sessions from `who` (utmp), the machine id from systemd's /etc/machine-id (dbus's copy as
 * fallback), hardware from SMBIOS as the kernel exposes it in /sys/class/dmi/id (product_serial is
 * readable by root only), or the device tree's serial-number and model on boards without SMBIOS.
 */
export function linuxFacts(runner: CommandRunner, machineIdFiles = ['/etc/machine-id', '/var/lib/dbus/machine-id'], sysRoot = '/sys'): PlatformFacts {
  return {
    name: 'linux',
    async hardware() {
      const problems: string[] = [];
      const read = async (path: string) => {
        try {
          return cleanHardwareValue(await readFile(path, 'utf8'));
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code === 'EACCES' || code === 'EPERM') problems.push(`${path} is readable by root only`);
          return '';
        }
      };
      const dmi = `${sysRoot}/class/dmi/id`;
      const tree = `${sysRoot}/firmware/devicetree/base`;
      const hardware = {
        serial: (await read(`${dmi}/product_serial`)) || (await read(`${dmi}/board_serial`)) || (await read(`${tree}/serial-number`)),
        model: (await read(`${dmi}/product_name`)) || (await read(`${tree}/model`)),
        vendor: (await read(`${dmi}/sys_vendor`)) || (await read(`${dmi}/board_vendor`)),
      };
      if (!hardware.serial && !hardware.model && !hardware.vendor && problems.length === 0) problems.push(`no SMBIOS (${dmi}) or device-tree hardware identity on this host`);
      return { hardware, problems };
    },
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
