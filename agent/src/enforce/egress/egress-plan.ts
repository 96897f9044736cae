import { ZoneEnforcementMode } from '../../generated/mamori/v1/policy';
import { disjointAllowElements, type AllowElements, type AllowRule } from './allowed-elements';
import type { EgressPlan } from './egress-enforcer';

/** What the firewall does under a plan; OFF and UNSPECIFIED both mean "install nothing". */
export function planMode(plan: Pick<EgressPlan, 'mode'>): 'off' | 'audit' | 'enforce' {
  if (plan.mode === ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_ENFORCE) return 'enforce';
  if (plan.mode === ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_AUDIT) return 'audit';
  return 'off';
}

/** The host names whose addresses the firewall must follow (exact names, and the base name of ".example.com"). */
export function planHostNames(plan: EgressPlan): string[] {
  return plan.whitelist.exactHostNames(plan.zone).map((entry) => entry.name);
}

/**
 * The whitelist's destinations for the plan's zone as firewall elements: its address entries, and
 * each followed name's current addresses with the ports and protocol of the entries naming it.
 */
export function planAllowedElements(plan: EgressPlan, addressesOf: (name: string) => readonly string[]): AllowElements {
  const rules: AllowRule[] = plan.whitelist.addressRules(plan.zone).map((rule) => ({ cidr: rule.cidr, ports: rule.ports, protocol: rule.protocol }));
  const entries = new Map(plan.whitelist.entriesForZone(plan.zone).map((entry) => [entry.entryId, entry]));
  for (const { name, entryIds } of plan.whitelist.exactHostNames(plan.zone)) {
    const addresses = addressesOf(name);
    if (addresses.length === 0) continue;
    for (const entryId of entryIds) {
      const entry = entries.get(entryId);
      if (entry === undefined) continue;
      for (const address of addresses) rules.push({ cidr: address, ports: entry.ports, protocol: entry.protocol });
    }
  }
  return disjointAllowElements(rules);
}

/** The collector and DNS servers as firewall elements. */
export function planAlwaysAllowedElements(plan: EgressPlan): AllowElements {
  return disjointAllowElements(plan.alwaysAllowed.map((endpoint) => ({ cidr: endpoint.ip, ports: [{ first: endpoint.port, last: endpoint.port }], protocol: endpoint.protocol })));
}

/** The words after the marker in the table's comment: enough for an operator who lists the ruleset. */
export function planDescription(plan: EgressPlan): string {
  return `zone ${plan.zone}; ${planMode(plan)}; policy ${plan.policyLineageId || '-'}/${plan.policyVersion || '-'}`;
}
