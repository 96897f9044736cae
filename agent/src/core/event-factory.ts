import { randomUUID } from 'node:crypto';
import type { UsbDevice } from '../generated/mamori/v1/common';
import { AgentState, type BlockDevice, type DestinationAccess, type Event, type FileTransfer, type UsbEnforcementDecision } from '../generated/mamori/v1/events';
import type { UsbEnforcementMode } from '../generated/mamori/v1/policy';
import { uuidV5 } from './ids';
import { toTimestamp } from './timestamps';

/**
 * An event as a source hands it over: everything but the sequence number, which only the outbox
 * assigns (it alone knows the per-agent order and persists the high-water mark).
 */
export type EventDraft = Omit<Event, 'sequence'>;

function base(eventId: string | undefined, occurredAt: Date, userName: string): EventDraft {
  return { eventId: eventId ?? randomUUID(), occurredAt: toTimestamp(occurredAt), userName };
}

export function usbAttachedEvent(input: {
  device: UsbDevice;
  presentAtStart: boolean;
  occurredAt: Date;
  userName: string;
  eventId?: string;
  enforcement?: UsbEnforcementDecision;
  /** The attach event of the plug this report continues (the agent restarted while the device stayed attached). */
  continuesAttachedEventId?: string;
}): EventDraft {
  return {
    ...base(input.eventId, input.occurredAt, input.userName),
    usbDeviceAttached: {
      device: input.device,
      presentAtStart: input.presentAtStart,
      enforcement: input.enforcement,
      continuesAttachedEventId: input.continuesAttachedEventId ?? '',
    },
  };
}

export function usbStorageVolumesEvent(input: {
  device: UsbDevice;
  blockDevices: BlockDevice[];
  allDataVolumesEncrypted: boolean;
  enforcement: UsbEnforcementDecision;
  occurredAt: Date;
  userName: string;
  eventId?: string;
  /** The event id of the UsbDeviceAttached of this plug, when known. */
  attachedEventId?: string;
}): EventDraft {
  return {
    ...base(input.eventId, input.occurredAt, input.userName),
    usbStorageVolumes: {
      device: input.device,
      blockDevices: input.blockDevices,
      allDataVolumesEncrypted: input.allDataVolumesEncrypted,
      enforcement: input.enforcement,
      attachedEventId: input.attachedEventId ?? '',
    },
  };
}

/** A policy change altered the decision for a device that stayed attached: the same plug, not a new one. */
export function usbReevaluatedEvent(input: {
  device: UsbDevice;
  enforcement: UsbEnforcementDecision;
  previousAppliedMode: UsbEnforcementMode;
  previousPolicyVersion: bigint;
  attachedEventId: string;
  blockDevices: BlockDevice[];
  allDataVolumesEncrypted: boolean;
  storageEnforcement?: UsbEnforcementDecision;
  occurredAt: Date;
  userName: string;
}): EventDraft {
  return {
    ...base(undefined, input.occurredAt, input.userName),
    usbDeviceReevaluated: {
      device: input.device,
      enforcement: input.enforcement,
      previousAppliedMode: input.previousAppliedMode,
      previousPolicyVersion: input.previousPolicyVersion.toString(),
      attachedEventId: input.attachedEventId,
      blockDevices: input.blockDevices,
      allDataVolumesEncrypted: input.allDataVolumesEncrypted,
      storageEnforcement: input.storageEnforcement,
    },
  };
}

export function usbDetachedEvent(input: {
  device: UsbDevice;
  occurredAt: Date;
  userName: string;
  eventId?: string;
  /** The attach event of the plug that ends, when known. */
  attachedEventId?: string;
  /** The device left while the agent was not running; occurredAt is when the agent noticed. */
  leftWhileAgentStopped?: boolean;
}): EventDraft {
  return {
    ...base(input.eventId, input.occurredAt, input.userName),
    usbDeviceDetached: { device: input.device, attachedEventId: input.attachedEventId ?? '', leftWhileAgentStopped: input.leftWhileAgentStopped ?? false },
  };
}

/** A file written to, renamed on or deleted from removable media or a watched folder; the user goes in both places. */
export function fileTransferEvent(input: { transfer: FileTransfer; occurredAt: Date; userName: string; eventId?: string }): EventDraft {
  return { ...base(input.eventId, input.occurredAt, input.userName), fileTransfer: { ...input.transfer, userName: input.userName } };
}

/** A connection attempt the firewall refused or audited, or a destination reached through the egress proxy. */
export function destinationAccessEvent(input: { access: DestinationAccess; occurredAt: Date; userName: string; eventId?: string }): EventDraft {
  return { ...base(input.eventId, input.occurredAt, input.userName), destinationAccess: input.access };
}

export function agentStatusEvent(input: {
  state: AgentState;
  message: string;
  droppedEvents: number;
  policyVersion: bigint;
  occurredAt: Date;
  userName: string;
  eventId?: string;
}): EventDraft {
  return {
    ...base(input.eventId, input.occurredAt, input.userName),
    agentStatus: {
      state: input.state,
      droppedEvents: String(input.droppedEvents),
      message: input.message,
      policyVersion: input.policyVersion.toString(),
    },
  };
}

/**
 * The report the outbox queues once space returns after it had to drop events. Its id is
 * derived from the running drop total, so if a crash makes the outbox queue the same report
 * again the collector stores it once.
 */
export function eventsDroppedEvent(droppedTotal: number, occurredAt: Date, policyVersion = 0n, userName = ''): EventDraft {
  return agentStatusEvent({
    state: AgentState.AGENT_STATE_EVENTS_DROPPED,
    message: `the spool was full: ${droppedTotal} event(s) dropped since enrollment`,
    droppedEvents: droppedTotal,
    policyVersion,
    occurredAt,
    userName,
    eventId: uuidV5(`events-dropped:${droppedTotal}`),
  });
}
