import { TransportProtocol } from '../../generated/mamori/v1/common';
import { UsbEnforcementMode, ZoneEnforcementMode } from '../../generated/mamori/v1/policy';
import type { PolicyAgentRelease } from '../releases/release-target';

/** One register entry as a policy version carries it; a wildcarded id is stored as 0. */
export interface PolicyRegisterEntry {
  entryId: string;
  vendorId: number;
  productId: number;
  anyVendor: boolean;
  anyProduct: boolean;
  serial: string;
  descriptorHash: string;
  label: string;
  holder: string;
  department: string;
}

/** One approved exception as a policy version carries it; times in epoch milliseconds. */
export interface PolicyException {
  exceptionId: string;
  vendorId: number;
  productId: number;
  serial: string;
  agentId: string;
  userName: string;
  notBefore: number;
  notAfter: number;
  justification: string;
  approvedBy: string;
  mode: UsbEnforcementMode;
}

/** The transfer part of a policy version: what agents watch besides removable volumes, and how deeply they inspect. */
export interface PolicyTransfer {
  /** Absolute paths on the agents' hosts. */
  watchedFolders: string[];
  /** 0: the agent's default. */
  inspectionByteBudget: number;
  /** 0: the agent's default. */
  inspectionTimeBudgetMillis: number;
}

/** One network zone as a policy version carries it, in the order zones are tried. */
export interface PolicyZone {
  name: string;
  cidrs: string[];
  dnsSuffixes: string[];
  mode: ZoneEnforcementMode;
}

/** One approved whitelist entry as a policy version carries it; expiresAt in epoch milliseconds, null for no end. */
export interface PolicyWhitelistEntry {
  entryId: string;
  hostPattern: string;
  cidr: string;
  ports: Array<{ first: number; last: number }>;
  protocol: TransportProtocol;
  service: string;
  zone: string;
  justification: string;
  requestedBy: string;
  approvedBy: string;
  expiresAt: number | null;
}

/** The network part of a policy version: the zones and the active, unexpired whitelist entries. */
export interface PolicyNetwork {
  zones: PolicyZone[];
  whitelist: PolicyWhitelistEntry[];
}

/** What a policy version holds, as stored; ids are numbers here and hex strings on REST. */
export interface PolicyDocument {
  /** The agent version the fleet should run, with its stored bundles; null: no upgrades. */
  agentRelease?: PolicyAgentRelease | null;
  network: PolicyNetwork;
  transfer: PolicyTransfer;
  usb: {
    unregisteredDeviceMode: UsbEnforcementMode;
    registeredDeviceMode: UsbEnforcementMode;
    requireEncryptedMedia: boolean;
    unencryptedMediaMode: UsbEnforcementMode;
    storageWithHidMode: UsbEnforcementMode;
    registeredDevices: PolicyRegisterEntry[];
    exceptions: PolicyException[];
  };
}

/** A published version with its document. */
export interface PublishedPolicy {
  version: number;
  publishedAt: Date;
  document: PolicyDocument;
}

/**
 * Reads a stored document of any age. Versions published before issue 3 hold only the
 * unregistered mode and exact register entries; they meant exactly what these defaults say.
 */
export function policyDocumentFrom(raw: unknown): PolicyDocument {
  const usb = ((raw as { usb?: Record<string, unknown> } | null)?.usb ?? {}) as Partial<PolicyDocument['usb']>;
  // Versions published before issue 5 carry no transfer part: agents watched removable volumes only, with their default budgets.
  const transfer = ((raw as { transfer?: Record<string, unknown> } | null)?.transfer ?? {}) as Partial<PolicyTransfer>;
  // Versions published before issue 6 carry no network part: no zones and no whitelist, so agents enforced nothing.
  const network = ((raw as { network?: Record<string, unknown> } | null)?.network ?? {}) as Partial<PolicyNetwork>;
  // Versions published before agent upgrades carry no target: agents kept their version.
  const agentRelease = ((raw as { agentRelease?: PolicyAgentRelease | null } | null)?.agentRelease ?? null);
  return {
    agentRelease: agentRelease === null ? null : { version: agentRelease.version, artifacts: (agentRelease.artifacts ?? []).map((a) => ({ ...a })) },
    network: {
      zones: (network.zones ?? []).map((zone: Partial<PolicyZone>) => ({
        name: zone.name ?? '',
        cidrs: [...(zone.cidrs ?? [])],
        dnsSuffixes: [...(zone.dnsSuffixes ?? [])],
        mode: zone.mode ?? ZoneEnforcementMode.ZONE_ENFORCEMENT_MODE_OFF,
      })),
      whitelist: (network.whitelist ?? []).map((entry: Partial<PolicyWhitelistEntry>) => ({
        entryId: entry.entryId ?? '',
        hostPattern: entry.hostPattern ?? '',
        cidr: entry.cidr ?? '',
        ports: (entry.ports ?? []).map((range) => ({ first: range.first, last: range.last })),
        protocol: entry.protocol ?? TransportProtocol.TRANSPORT_PROTOCOL_UNSPECIFIED,
        service: entry.service ?? 'any',
        zone: entry.zone ?? '',
        justification: entry.justification ?? '',
        requestedBy: entry.requestedBy ?? '',
        approvedBy: entry.approvedBy ?? '',
        expiresAt: entry.expiresAt ?? null,
      })),
    },
    transfer: {
      watchedFolders: [...(transfer.watchedFolders ?? [])],
      inspectionByteBudget: transfer.inspectionByteBudget ?? 0,
      inspectionTimeBudgetMillis: transfer.inspectionTimeBudgetMillis ?? 0,
    },
    usb: {
      unregisteredDeviceMode: usb.unregisteredDeviceMode ?? UsbEnforcementMode.USB_ENFORCEMENT_MODE_AUDIT,
      registeredDeviceMode: usb.registeredDeviceMode ?? UsbEnforcementMode.USB_ENFORCEMENT_MODE_ALLOW,
      requireEncryptedMedia: usb.requireEncryptedMedia ?? false,
      unencryptedMediaMode: usb.unencryptedMediaMode ?? UsbEnforcementMode.USB_ENFORCEMENT_MODE_AUDIT,
      storageWithHidMode: usb.storageWithHidMode ?? UsbEnforcementMode.USB_ENFORCEMENT_MODE_AUDIT,
      registeredDevices: (usb.registeredDevices ?? []).map((entry: Partial<PolicyRegisterEntry>) => ({
        entryId: entry.entryId ?? '',
        vendorId: entry.vendorId ?? 0,
        productId: entry.productId ?? 0,
        anyVendor: entry.anyVendor ?? false,
        anyProduct: entry.anyProduct ?? false,
        serial: entry.serial ?? '',
        descriptorHash: entry.descriptorHash ?? '',
        label: entry.label ?? '',
        holder: entry.holder ?? '',
        department: entry.department ?? '',
      })),
      exceptions: usb.exceptions ?? [],
    },
  };
}
