import type { AgentConfig } from '../../config/agent-config';
import type { Logger } from '../../logging/logger';
import { DarwinUsbBackend } from './backends/darwin';
import { FakeUsbBackend } from './backends/fake';
import { LinuxUsbBackend } from './backends/linux';
import { UnsupportedUsbBackend } from './backends/unsupported';
import { Win32UsbBackend } from './backends/win32';
import type { UsbSource } from './usb.source';

/** The backend to run when MAMORI_AGENT_USB_BACKEND is not set: the real one where this build has it. */
export function defaultUsbBackend(platform: NodeJS.Platform = process.platform): 'linux' | 'win32' | 'darwin' | 'unsupported' {
  return platform === 'linux' || platform === 'win32' || platform === 'darwin' ? platform : 'unsupported';
}

/**
 * Picks the USB backend named by configuration (MAMORI_AGENT_USB_BACKEND). The name is matched as
 * a string so that 'linux' is recognised as soon as the configuration admits it (agent-config.ts
 * belongs to another owner); an unknown name is a programming error, not a host condition.
 */
export function createUsbSource(config: AgentConfig, sourcesStateDir: string, logger: Logger): UsbSource {
  const name: string = config.usbBackend;
  switch (name) {
    case 'fake':
      return new FakeUsbBackend({ scriptPath: config.fakeUsbScript!, stateDir: sourcesStateDir, logger: logger.child({ source: 'usb:fake' }) });
    case 'linux':
      return new LinuxUsbBackend({ logger: logger.child({ source: 'usb:linux' }), sysRoot: (config as { sysfsRoot?: string }).sysfsRoot });
    case 'win32':
      return new Win32UsbBackend({ logger: logger.child({ source: 'usb:win32' }) });
    case 'darwin':
      return new DarwinUsbBackend({ logger: logger.child({ source: 'usb:darwin' }) });
    case 'unsupported':
      return new UnsupportedUsbBackend();
    default:
      throw new Error(`no USB backend named "${name}" in this build`);
  }
}
