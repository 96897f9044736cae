import type { UsbDevice } from '../generated/mamori/v1/common';
import type { UsbEnforcementDecision } from '../generated/mamori/v1/events';
import type { AgentCapability } from '../generated/mamori/v1/telemetry';
import {
  CAPABILITY_BLOCK,
  CAPABILITY_READ_ONLY,
  isEnforcingMode,
  noActionDecision,
  notPossibleDecision,
  type UsbEnforcementRequest,
  type UsbEnforcer,
  type UsbStorageEnforcementRequest,
} from './usb-enforcer';

/**
 * The enforcer for hosts where the agent cannot act on devices (fake or unsupported USB backend,
 * another platform, enforcement switched off). It changes nothing, and says so: a verdict asking
 * to block or make read-only becomes applied_mode AUDIT with action NOT_POSSIBLE and `reason`.
 */
export class AuditOnlyUsbEnforcer implements UsbEnforcer {
  readonly name = 'audit-only';

  constructor(private readonly reason: string) {}

  async reveal(device: UsbDevice): Promise<UsbDevice> {
    return device;
  }

  async configure(): Promise<void> {}

  async enforceDevice(request: UsbEnforcementRequest): Promise<UsbEnforcementDecision> {
    return isEnforcingMode(request.verdict.mode) ? notPossibleDecision(request, this.reason) : noActionDecision(request);
  }

  async enforceStorage(request: UsbStorageEnforcementRequest): Promise<UsbEnforcementDecision> {
    return this.enforceDevice(request);
  }

  async released(): Promise<void> {}

  async stop(): Promise<void> {}

  capabilities(): AgentCapability[] {
    return [CAPABILITY_BLOCK, CAPABILITY_READ_ONLY].map((name) => ({ name, available: false, reason: this.reason }));
  }
}
