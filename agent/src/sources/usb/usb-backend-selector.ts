import type { AgentConfig } from '../../config/agent-config';
import type { Logger } from '../../logging/logger';
import { FakeUsbBackend } from './backends/fake';
import { UnsupportedUsbBackend } from './backends/unsupported';
import type { UsbSource } from './usb.source';

/** Picks the USB backend named by configuration (MAMORI_AGENT_USB_BACKEND). */
export function createUsbSource(config: AgentConfig, sourcesStateDir: string, logger: Logger): UsbSource {
  switch (config.usbBackend) {
    case 'fake':
      return new FakeUsbBackend({ scriptPath: config.fakeUsbScript!, stateDir: sourcesStateDir, logger: logger.child({ source: 'usb:fake' }) });
    case 'unsupported':
      return new UnsupportedUsbBackend();
  }
}
