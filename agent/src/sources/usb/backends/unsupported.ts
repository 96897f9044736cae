import type { UsbDevice } from '../../../generated/mamori/v1/common';
import type { AgentCapability } from '../../../generated/mamori/v1/telemetry';
import type { UsbObservationSink, UsbSource } from '../usb.source';

/**
 * The explicit backend for hosts without a USB backend in this build: it reports
 * AGENT_STATE_SOURCE_UNAVAILABLE once (through the sink) and then idles, so the rest of the
 * agent (heartbeats, policy, other sources) keeps running.
 */
export class UnsupportedUsbBackend implements UsbSource {
  readonly name = 'usb:unsupported';

  constructor(private readonly platform: string = process.platform) {}

  async start(sink: UsbObservationSink): Promise<void> {
    await sink.unavailable(`no USB backend for platform "${this.platform}" in this build; USB devices are not observed on this host`);
  }

  async stop(): Promise<void> {}

  attached(): UsbDevice[] {
    return [];
  }

  capabilities(): AgentCapability[] {
    const reason = `no USB backend for platform "${this.platform}" in this build`;
    return ['usb.detect', 'usb.block', 'usb.read_only'].map((name) => ({ name, available: false, reason }));
  }
}
