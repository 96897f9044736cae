import type { TransportProtocol } from '../../generated/mamori/v1/common';
import type { ZoneEnforcementMode } from '../../generated/mamori/v1/policy';
import type { CompiledWhitelist } from '../../core/destinations/whitelist-matcher';

/** One destination the host must always reach, whatever the whitelist says (the collector, the DNS servers). */
export interface AlwaysAllowedEndpoint {
  ip: string;
  port: number;
  protocol: TransportProtocol;
}

/** What the host's firewall should do now: the zone the host is in, its mode and the whitelist that applies there. */
export interface EgressPlan {
  zone: string;
  /** OFF (and UNSPECIFIED) remove the agent's table; AUDIT lets everything through and reports; ENFORCE refuses. */
  mode: ZoneEnforcementMode;
  whitelist: CompiledWhitelist;
  alwaysAllowed: AlwaysAllowedEndpoint[];
  policyVersion: string;
  policyLineageId: string;
}

/** One refused (enforce) or audited (audit) attempt to reach a destination that is not on the whitelist, folded over a window. */
export interface EgressAttempt {
  ip: string;
  port: number;
  protocol: TransportProtocol;
  /** A whitelisted name that resolved to `ip` (from the DNS refresher's answers); '' when none did. */
  host: string;
  decision: 'blocked' | 'audited';
  /** '' and 0 when the socket's owner could not be found (see the backend for what is visible). */
  processName: string;
  processId: number;
  /** '' when the packet carried no socket owner. */
  userName: string;
  /** How many attempts this report stands for (new connections or UDP flows). */
  attempts: number;
  firstSeenAt: Date;
  /** The local address the packet left from. */
  sourceAddress: string;
}

/** Whether the backend can program this host, and why not. */
export interface EgressCapability {
  available: boolean;
  reason: string;
}

/**
 * The egress enforcement port (after USBGuard's device manager: a backend chosen by configuration).
 * Contract:
 * - `apply(plan)` makes the host's firewall match the plan in one transaction: either the whole new
 *   state is in place or the previous one stays (it rejects then, saying why). Applying the same plan
 *   twice changes nothing. A plan whose mode is OFF or UNSPECIFIED removes what the agent installed.
 * - `remove()` removes only what the agent installed; it never touches another program's rules.
 * - Listeners given to `onAttempt` hear every refused (enforce) or audited (audit) attempt, folded.
 * - `close()` stops background work (monitors, DNS refresh) and then removes.
 * - `capability()` never throws; when unavailable, `apply` rejects with the same reason.
 */
export interface EgressEnforcer {
  readonly backend: string;
  capability(): EgressCapability;
  apply(plan: EgressPlan): Promise<void>;
  remove(): Promise<void>;
  onAttempt(listener: (attempt: EgressAttempt) => void): void;
  close(): Promise<void>;
}

/** The backends MAMORI_AGENT_EGRESS_BACKEND can name. */
export const EGRESS_BACKENDS = ['nftables', 'fake', 'unsupported'] as const;
export type EgressBackendName = (typeof EGRESS_BACKENDS)[number];
