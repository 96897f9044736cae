import { TransportProtocol } from '../../generated/mamori/v1/common';
import { ZoneEnforcementMode } from '../../generated/mamori/v1/policy';

/** Zone modes as stored and shown on REST. */
export const ZONE_MODE_NAMES = ['off', 'audit', 'enforce'] as const;
export type ZoneModeName = (typeof ZONE_MODE_NAMES)[number];

const ZONE_MODES: Record<ZoneModeName, ZoneEnforcementMode> = {
  off: ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_OFF,
  audit: ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_AUDIT,
  enforce: ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_ENFORCE,
};

export function zoneModeToProto(name: ZoneModeName): ZoneEnforcementMode {
  return ZONE_MODES[name];
}

/** An unspecified mode is off, as agents read it. */
export function zoneModeName(mode: ZoneEnforcementMode): ZoneModeName {
  if (mode === ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_AUDIT) return 'audit';
  if (mode === ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_ENFORCE) return 'enforce';
  return 'off';
}

/** Whitelist protocols as stored and shown on REST; `any` is TCP and UDP (TRANSPORT_PROTOCOL_UNSPECIFIED in the policy). */
export const WHITELIST_PROTOCOL_NAMES = ['any', 'tcp', 'udp'] as const;
export type WhitelistProtocolName = (typeof WHITELIST_PROTOCOL_NAMES)[number];

export function protocolToProto(name: WhitelistProtocolName): TransportProtocol {
  if (name === 'tcp') return TransportProtocol.TRANSPORT_PROTOCOL_TCP;
  if (name === 'udp') return TransportProtocol.TRANSPORT_PROTOCOL_UDP;
  return TransportProtocol.TRANSPORT_PROTOCOL_UNSPECIFIED;
}

export function protocolName(protocol: TransportProtocol | string): WhitelistProtocolName {
  if (protocol === TransportProtocol.TRANSPORT_PROTOCOL_TCP) return 'tcp';
  if (protocol === TransportProtocol.TRANSPORT_PROTOCOL_UDP) return 'udp';
  return 'any';
}

/** What a destination is for (WhitelistEntry.service). */
export const WHITELIST_SERVICES = ['mail', 'web', 'git', 'any'] as const;
export type WhitelistServiceName = (typeof WHITELIST_SERVICES)[number];
