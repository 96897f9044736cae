import { join } from 'node:path';
import type { AgentConfig } from '../config/agent-config';
import type { CommandRunner } from '../facts/command-runner';
import type { Logger } from '../logging/logger';
import { AuditOnlyUsbEnforcer } from './audit-only-usb-enforcer';
import { LinuxUsbEnforcer } from './linux-usb-enforcer';
import type { UsbEnforcer } from './usb-enforcer';

/** USB backends that watch the real kernel's devices, so that there is something to enforce on. */
const KERNEL_BACKENDS: readonly string[] = ['linux'];

/**
 * Picks the enforcer from configuration and capability (MAMORI_AGENT_USB_ENFORCEMENT): the kernel
 * enforcer on Linux when the USB backend watches the kernel's devices (or when forced), otherwise
 * audit-only, with the reason it reports in every decision and in the heartbeat.
 */
export function createUsbEnforcer(
  config: AgentConfig,
  input: { stateDir: string; runner: CommandRunner; logger: Logger; platform?: NodeJS.Platform },
): UsbEnforcer {
  const platform = input.platform ?? process.platform;
  const linux = () =>
    new LinuxUsbEnforcer({
      sysfsRoot: config.sysfsRoot,
      runner: input.runner,
      logger: input.logger.child({ component: 'enforce:linux' }),
      statePath: join(input.stateDir, 'usb-root-hubs.json'),
    });
  switch (config.usbEnforcement) {
    case 'audit-only':
      return new AuditOnlyUsbEnforcer('enforcement is switched off (MAMORI_AGENT_USB_ENFORCEMENT=audit-only)');
    case 'linux':
      return linux();
    case 'auto':
      if (platform !== 'linux') return new AuditOnlyUsbEnforcer(`USB enforcement is audit-only on platform "${platform}" in this build`);
      if (!KERNEL_BACKENDS.includes(config.usbBackend)) {
        return new AuditOnlyUsbEnforcer(`the "${config.usbBackend}" USB backend observes no kernel devices, so there is nothing to enforce on`);
      }
      return linux();
  }
}
