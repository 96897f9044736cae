import type { HardwareFacts } from './parsers/hardware.parser';

/**
 * The platform-specific facts about a host. Contract: never throws; when the platform cannot
 * tell (missing command, timeout, no machine id), the answer is empty and `problems` says why,
 * so heartbeats keep flowing with what is known.
 */
export interface PlatformFacts {
  readonly name: string;
  loggedInUsers(): Promise<{ users: string[]; problem?: string }>;
  machineId(): Promise<{ id: string; problem?: string }>;
  /** Hardware serial, model and vendor (SMBIOS / IOPlatformExpertDevice); optional so that test doubles may omit it. */
  hardware?(): Promise<{ hardware: HardwareFacts; problems: string[] }>;
}
