import { createHash, randomUUID } from 'node:crypto';
import { SerialQuality, TransportProtocol, type UsbDevice } from '../../../agent/src/generated/mamori/v1/common';
import {
  DestinationDecision,
  EncryptionScheme,
  Event,
  FileOperation,
  PersonalDataKind,
  TransferChannel,
  UsbEnforcementAction,
  type DeepPartial,
} from '../../../agent/src/generated/mamori/v1/events';
import { UsbEnforcementMode } from '../../../agent/src/generated/mamori/v1/policy';

/**
 * The events a simulated agent sends: a realistic mix of what a fleet of office machines reports
 * (mostly file transfers and destination accesses, some USB plugs with their volumes and mounts,
 * now and then a disk-encryption report), built with the agent's own generated proto types so the
 * wire format is exactly the agent's. Pure apart from the event ids (random UUIDs, so identities
 * reused across runs never collide with events already stored) and the clock passed in.
 */

/** Relative weights of each kind in the mix; they need not add up to anything. */
export interface MixWeights {
  fileTransfer: number;
  destinationAccess: number;
  usbDeviceAttached: number;
  usbStorageVolumes: number;
  volumeMounted: number;
  volumeUnmounted: number;
  usbDeviceDetached: number;
  diskEncryptionStatus: number;
}

/** Per 100 events: about what a day of an office fleet looks like (transfers dominate). */
export const DEFAULT_MIX: MixWeights = {
  fileTransfer: 50,
  destinationAccess: 28,
  usbDeviceAttached: 4,
  usbStorageVolumes: 4,
  volumeMounted: 4,
  volumeUnmounted: 3,
  usbDeviceDetached: 4,
  diskEncryptionStatus: 3,
};

/** mulberry32: a small seeded PRNG, so a mix can be replayed. Returns floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const STICK_KINDS: ReadonlyArray<keyof MixWeights> = ['usbStorageVolumes', 'volumeMounted', 'volumeUnmounted', 'usbDeviceDetached'];
const STICKS: ReadonlyArray<Omit<UsbDevice, 'busPath' | 'descriptorHash'>> = [
  { vendorId: 0x0781, productId: 0x5581, serial: '4C530001230518115291', manufacturer: 'SanDisk', product: 'Ultra', interfaceClasses: [8], serialQuality: SerialQuality.SERIAL_QUALITY_PRESENT },
  { vendorId: 0x0951, productId: 0x1666, serial: '60A44C413AB2F2A1E9990B3C', manufacturer: 'Kingston', product: 'DataTraveler 3.0', interfaceClasses: [8], serialQuality: SerialQuality.SERIAL_QUALITY_PRESENT },
  { vendorId: 0x090c, productId: 0x1000, serial: '', manufacturer: 'Silicon Motion', product: 'Flash Disk', interfaceClasses: [8], serialQuality: SerialQuality.SERIAL_QUALITY_EMPTY },
  { vendorId: 0x04e8, productId: 0x61f5, serial: 'S5SUNG0R123456A', manufacturer: 'Samsung', product: 'Portable SSD T7', interfaceClasses: [8], serialQuality: SerialQuality.SERIAL_QUALITY_PRESENT },
];
const HOSTS = ['drive.google.com', 'www.dropbox.com', 'outlook.office365.com', 'github.com', 'wetransfer.com', 'intranet.example.co.jp', 'api.box.com', 'mail.example.co.jp'];
const PROCESSES = ['explorer.exe', 'chrome.exe', 'msedge.exe', 'OUTLOOK.EXE', 'Finder', 'cp', 'nautilus', 'Teams.exe'];
const FILES = ['顧客名簿_2026.xlsx', 'meeting-notes.docx', 'invoice-0417.pdf', 'payroll.csv', 'design-spec.pdf', 'photos.zip', 'report_Q3.pptx', 'readme.txt'];
const FORMATS: Record<string, string> = { xlsx: 'xlsx', docx: 'docx', pdf: 'pdf', csv: 'csv', zip: 'zip', pptx: 'pptx', txt: 'text' };
const USERS = ['tanaka', 'suzuki', 'sato', 'watanabe', 'takahashi', 'ito', 'yamamoto', 'nakamura'];

function hex64(seed: string): string {
  return createHash('sha256').update(seed).digest('hex');
}

/**
 * One agent's event stream. Keeps what makes the sequence coherent: a sequence number that only
 * grows, and the stick currently plugged in (its attach event is named by the volume, mount,
 * transfer and detach events that follow, as the real agent does).
 */
export class EventMix {
  private readonly random: () => number;
  private readonly kinds: Array<[keyof MixWeights, number]>;
  private readonly total: number;
  private sequence: bigint;
  private plugged: { device: UsbDevice; attachedEventId: string; node: string; mountPoint: string; encrypted: boolean } | null = null;
  private plugs = 0;
  readonly userName: string;

  constructor(
    readonly agentIndex: number,
    options: { seed?: number; weights?: MixWeights; firstSequence?: bigint } = {},
  ) {
    this.random = seededRandom((options.seed ?? 1) * 7919 + agentIndex);
    const weights = options.weights ?? DEFAULT_MIX;
    this.kinds = (Object.entries(weights) as Array<[keyof MixWeights, number]>).filter(([, w]) => w > 0);
    this.total = this.kinds.reduce((sum, [, w]) => sum + w, 0);
    if (this.total <= 0) throw new Error('the event mix needs at least one kind with a weight above 0');
    this.sequence = options.firstSequence ?? 1n;
    this.userName = USERS[agentIndex % USERS.length]!;
  }

  /** The sequence number the next event will carry. */
  get nextSequence(): bigint {
    return this.sequence;
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)]!;
  }

  private chooseKind(): keyof MixWeights {
    let r = this.random() * this.total;
    for (const [kind, weight] of this.kinds) {
      r -= weight;
      if (r < 0) return kind;
    }
    return this.kinds[this.kinds.length - 1]![0];
  }

  /** `count` events occurring at `now` (spread over the previous second, in sequence order). */
  batch(count: number, now = Date.now()): Event[] {
    const events: Event[] = [];
    for (let i = 0; i < count; i++) events.push(this.next(now - 1000 + Math.floor((1000 * (i + 1)) / count)));
    return events;
  }

  next(occurredAtMs = Date.now()): Event {
    let kind = this.chooseKind();
    // A stick's volume, mount and detach events come after its attach, as on a real machine.
    if (this.plugged === null && STICK_KINDS.includes(kind)) kind = 'usbDeviceAttached';
    const payload = this.payload(kind);
    // The attach event's own id is the one the stick's later events name.
    const eventId = kind === 'usbDeviceAttached' ? this.plugged!.attachedEventId : randomUUID();
    const event = Event.fromPartial({
      eventId,
      occurredAt: { seconds: String(Math.floor(occurredAtMs / 1000)), nanos: (occurredAtMs % 1000) * 1_000_000 },
      sequence: String(this.sequence),
      userName: this.userName,
      ...payload,
    } as DeepPartial<Event>);
    this.sequence += 1n;
    return event;
  }

  /** Builds the payload of `kind`; an attach plugs the next stick in (unplugging the one before, if any). */
  private payload(kind: keyof MixWeights): DeepPartial<Event> {
    const decision = (mode: UsbEnforcementMode, action: UsbEnforcementAction) => ({
      requestedMode: mode,
      appliedMode: mode,
      action,
      reason: mode === UsbEnforcementMode.USB_ENFORCEMENT_MODE_AUDIT ? 'unregistered device, audit mode' : 'registered device',
      latencyMicros: String(800 + Math.floor(this.random() * 4000)),
      policyVersion: '1',
    });
    switch (kind) {
      case 'usbDeviceAttached':
        return { usbDeviceAttached: { device: this.plug().device, presentAtStart: false, enforcement: decision(UsbEnforcementMode.USB_ENFORCEMENT_MODE_AUDIT, UsbEnforcementAction.USB_ENFORCEMENT_ACTION_NONE) } };
      case 'usbStorageVolumes': {
        const stick = this.plugged!;
        return {
          usbStorageVolumes: {
            device: stick.device,
            attachedEventId: stick.attachedEventId,
            allDataVolumesEncrypted: stick.encrypted,
            enforcement: decision(UsbEnforcementMode.USB_ENFORCEMENT_MODE_AUDIT, UsbEnforcementAction.USB_ENFORCEMENT_ACTION_NONE),
            blockDevices: [
              {
                deviceNode: `${stick.node}1`,
                parentNode: stick.node,
                sizeBytes: String(32 * 2 ** 30),
                filesystemType: stick.encrypted ? 'crypto_LUKS' : 'exfat',
                label: 'USB DISK',
                mountPoints: [stick.mountPoint],
                encryption: { scheme: stick.encrypted ? EncryptionScheme.ENCRYPTION_SCHEME_LUKS2 : EncryptionScheme.ENCRYPTION_SCHEME_NONE, fullyEncrypted: stick.encrypted, percentEncrypted: stick.encrypted ? 100 : 0, protectionOn: stick.encrypted },
                readOnly: false,
              },
            ],
          },
        };
      }
      case 'volumeMounted': {
        const stick = this.plugged!;
        return {
          volumeMounted: {
            deviceNode: `${stick.node}1`,
            mountPoint: stick.mountPoint,
            filesystemType: 'exfat',
            label: 'USB DISK',
            sizeBytes: String(32 * 2 ** 30),
            removable: true,
            usbDevice: stick.device,
            encryption: { scheme: stick.encrypted ? EncryptionScheme.ENCRYPTION_SCHEME_LUKS2 : EncryptionScheme.ENCRYPTION_SCHEME_NONE, fullyEncrypted: stick.encrypted, percentEncrypted: stick.encrypted ? 100 : 0, protectionOn: stick.encrypted },
          },
        };
      }
      case 'volumeUnmounted': {
        const stick = this.plugged!;
        return { volumeUnmounted: { deviceNode: `${stick.node}1`, mountPoint: stick.mountPoint } };
      }
      case 'usbDeviceDetached': {
        const stick = this.plugged!;
        this.plugged = null;
        return { usbDeviceDetached: { device: stick.device, attachedEventId: stick.attachedEventId, leftWhileAgentStopped: false } };
      }
      case 'fileTransfer': {
        const name = this.pick(FILES);
        const extension = name.slice(name.lastIndexOf('.') + 1);
        const toStick = this.plugged !== null && this.random() < 0.6;
        const sensitive = extension === 'csv' || extension === 'xlsx';
        const findings = sensitive
          ? [
              { kind: PersonalDataKind.PERSONAL_DATA_KIND_MY_NUMBER, count: 1 + Math.floor(this.random() * 40) },
              { kind: PersonalDataKind.PERSONAL_DATA_KIND_PHONE_NUMBER, count: 1 + Math.floor(this.random() * 40) },
            ]
          : [];
        const size = 1024 + Math.floor(this.random() * 4 * 2 ** 20);
        return {
          fileTransfer: {
            channel: toStick ? TransferChannel.TRANSFER_CHANNEL_REMOVABLE_MEDIA : TransferChannel.TRANSFER_CHANNEL_WATCHED_FOLDER,
            path: toStick ? `${this.plugged!.mountPoint}/${name}` : `/home/${this.userName}/Documents/共有/${name}`,
            sizeBytes: String(size),
            sha256: hex64(`${this.agentIndex}:${name}:${size}`),
            destination: toStick ? this.plugged!.mountPoint : '',
            usbDevice: toStick ? this.plugged!.device : undefined,
            destinationEncrypted: toStick ? this.plugged!.encrypted : false,
            findings,
            inspectionComplete: true,
            processName: this.pick(PROCESSES),
            processId: 1000 + Math.floor(this.random() * 60_000),
            userName: this.userName,
            operation: FileOperation.FILE_OPERATION_WRITTEN,
            format: FORMATS[extension] ?? '',
            attachedEventId: toStick ? this.plugged!.attachedEventId : '',
            deviceNode: toStick ? `${this.plugged!.node}1` : '',
          },
        };
      }
      case 'destinationAccess': {
        const decisionRoll = this.random();
        return {
          destinationAccess: {
            host: this.pick(HOSTS),
            ipAddress: `203.0.113.${1 + Math.floor(this.random() * 254)}`,
            port: 443,
            protocol: TransportProtocol.TRANSPORT_PROTOCOL_TCP,
            decision: decisionRoll < 0.85 ? DestinationDecision.DESTINATION_DECISION_ALLOWED : decisionRoll < 0.97 ? DestinationDecision.DESTINATION_DECISION_AUDITED : DestinationDecision.DESTINATION_DECISION_BLOCKED,
            processName: this.pick(PROCESSES),
            zone: 'office',
          },
        };
      }
      case 'diskEncryptionStatus':
        return {
          diskEncryptionStatus: {
            volumes: [
              { device: '/dev/nvme0n1p3', mountPoint: '/', systemVolume: true, removable: false, encryption: { scheme: EncryptionScheme.ENCRYPTION_SCHEME_LUKS2, fullyEncrypted: true, percentEncrypted: 100, protectionOn: true }, locked: false, method: 'aes-xts-plain64', sizeBytes: String(475 * 2 ** 30), filesystemType: 'ext4', encryptedBy: 'cryptsetup' },
              { device: '/dev/nvme0n1p1', mountPoint: '/boot/efi', systemVolume: false, removable: false, encryption: { scheme: EncryptionScheme.ENCRYPTION_SCHEME_NONE, fullyEncrypted: false, percentEncrypted: 0, protectionOn: false }, locked: false, method: '', sizeBytes: String(512 * 2 ** 20), filesystemType: 'vfat', encryptedBy: '' },
            ],
            problems: [],
          },
        };
    }
  }

  /** Plugs in the next stick: its attach event id is the one the next event (the attach) carries. */
  private plug(): NonNullable<EventMix['plugged']> {
    const model = STICKS[this.plugs % STICKS.length]!;
    this.plugs += 1;
    const busPath = `1-${1 + (this.plugs % 4)}`;
    const device: UsbDevice = { ...model, interfaceClasses: [...model.interfaceClasses], busPath, descriptorHash: hex64(`${model.vendorId}:${model.productId}:${model.serial}`) };
    this.plugged = { device, attachedEventId: randomUUID(), node: `/dev/sd${'bcde'[this.plugs % 4]}`, mountPoint: `/media/${this.userName}/USB DISK`, encrypted: this.plugs % 3 === 0 };
    return this.plugged;
  }
}
