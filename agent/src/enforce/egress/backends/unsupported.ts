import type { EgressAttempt, EgressCapability, EgressEnforcer, EgressPlan } from '../egress-enforcer';
import { planMode } from '../egress-plan';

/**
 * The backend for hosts where the agent does not program the firewall (Windows, macOS, Linux
 * without root or nft): it says why, accepts plans that ask for nothing (mode off), and rejects
 * the others with that reason so the caller can report the zone as not enforced. The egress proxy
 * is the portable path there.
 */
export class UnsupportedEgressEnforcer implements EgressEnforcer {
  readonly backend = 'unsupported';

  constructor(private readonly reason: string) {}

  capability(): EgressCapability {
    return { available: false, reason: this.reason };
  }

  async apply(plan: EgressPlan): Promise<void> {
    if (planMode(plan) === 'off') return;
    throw new Error(this.reason);
  }

  async remove(): Promise<void> {}

  onAttempt(_listener: (attempt: EgressAttempt) => void): void {
    // Nothing is observed, so nothing is ever reported.
  }

  async close(): Promise<void> {}
}
