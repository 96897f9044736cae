import { EncryptionScheme, type EncryptionState } from '../../generated/mamori/v1/events';

/** How many bytes from the start of a volume the probe wants. */
export const SIGNATURE_HEAD_BYTES = 4096;
/** How many bytes of BitLocker's FVE metadata block the second stage wants (real blocks are under 2 KiB). */
export const BITLOCKER_METADATA_BYTES = 4096;

/** What a volume's first bytes say about encryption. */
export interface SignatureProbe {
  container: 'luks' | 'bitlocker' | 'apfs' | 'none';
  scheme: EncryptionScheme;
  /** Byte offsets of BitLocker's FVE metadata copies (read one with parseBitLockerMetadata); empty otherwise. */
  metadataOffsets: number[];
  /** What was seen and, where the header cannot tell, what stays unknown. */
  detail: string;
}

const LUKS_MAGIC = Buffer.from([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe]); // "LUKS\xba\xbe"
const FVE_SIGNATURE = Buffer.from('-FVE-FS-', 'latin1');
const MSWIN41 = Buffer.from('MSWIN4.1', 'latin1');
/** BitLocker's volume GUID {4967d63b-2e29-4ad8-8399-f6a339e3d001} as stored (mixed-endian). */
const BITLOCKER_GUID = Buffer.from('3bd66749292ed84a8399f6a339e3d001', 'hex');
const NXSB = Buffer.from('NXSB', 'latin1');

/**
 * Recognises an encryption container from a volume's own first bytes (never its name or label):
 *  - LUKS: "LUKS\xba\xbe" at 0 and the big-endian version at 6 (1 or 2).
 *  - BitLocker (Vista/7+ fixed and removable): "-FVE-FS-" at offset 3, the BitLocker GUID at 160,
 *    the three FVE metadata offsets after it.
 *  - BitLocker To Go (Windows 7+ sticks): a FAT32 "discovery volume" with OEM "MSWIN4.1" at 3,
 *    recognised only by the BitLocker GUID at 424 (the metadata offsets follow it) — the OEM name
 *    alone is what every FAT formatter writes.
 *  - APFS: "NXSB" at 32 is a container superblock. Whether its volumes are encrypted is in each
 *    volume superblock (APSB) found through the object map, which the first blocks do not hold:
 *    the probe says "apfs" with scheme UNSPECIFIED, so an encrypted-only rule does not count it as
 *    encrypted (fail closed), and the detail says so.
 * Anything else is container 'none', scheme NONE. Pure.
 */
export function probeEncryptionSignature(head: Uint8Array): SignatureProbe {
  const data = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (data.length >= 8 && data.subarray(0, 6).equals(LUKS_MAGIC)) {
    const version = data.readUInt16BE(6);
    if (version === 1) return { container: 'luks', scheme: EncryptionScheme.ENCRYPTION_SCHEME_LUKS1, metadataOffsets: [], detail: 'LUKS1 header' };
    if (version === 2) return { container: 'luks', scheme: EncryptionScheme.ENCRYPTION_SCHEME_LUKS2, metadataOffsets: [], detail: 'LUKS2 header' };
    return { container: 'luks', scheme: EncryptionScheme.ENCRYPTION_SCHEME_OTHER, metadataOffsets: [], detail: `LUKS header of unknown version ${version}` };
  }
  if (data.length >= 200 && data.subarray(3, 11).equals(FVE_SIGNATURE)) {
    const offsets = data.subarray(160, 176).equals(BITLOCKER_GUID) ? readOffsets(data, 176) : [];
    return { container: 'bitlocker', scheme: EncryptionScheme.ENCRYPTION_SCHEME_BITLOCKER, metadataOffsets: offsets, detail: 'BitLocker volume header (-FVE-FS-)' };
  }
  if (data.length >= 464 && data.subarray(3, 11).equals(MSWIN41) && data.subarray(424, 440).equals(BITLOCKER_GUID)) {
    return { container: 'bitlocker', scheme: EncryptionScheme.ENCRYPTION_SCHEME_BITLOCKER, metadataOffsets: readOffsets(data, 440), detail: 'BitLocker To Go discovery volume' };
  }
  if (data.length >= 36 && data.subarray(32, 36).equals(NXSB)) {
    return {
      container: 'apfs',
      scheme: EncryptionScheme.ENCRYPTION_SCHEME_UNSPECIFIED,
      metadataOffsets: [],
      detail: 'APFS container superblock; whether its volumes are encrypted is not readable from the container header',
    };
  }
  return { container: 'none', scheme: EncryptionScheme.ENCRYPTION_SCHEME_NONE, metadataOffsets: [], detail: 'no encryption signature' };
}

function readOffsets(data: Buffer, at: number): number[] {
  const offsets: number[] = [];
  for (let i = 0; i < 3; i++) {
    const value = data.readBigUInt64LE(at + i * 8);
    if (value > 0n && value <= BigInt(Number.MAX_SAFE_INTEGER)) offsets.push(Number(value));
  }
  return offsets;
}

/** BitLocker volume states (FVE metadata block header, offset 12), as libbde and dislocker name them. */
export const BITLOCKER_STATE_ENCRYPTED = 4;

/** A VMK protector type of 0x0000 is a clear key: the volume opens without any secret ("protection suspended"). */
export const BITLOCKER_PROTECTOR_CLEAR_KEY = 0x0000;

export interface BitLockerMetadata {
  /** Current conversion state: 1 decrypted, 2 encrypting, 3 EOW activated, 4 encrypted, 5 paused. */
  state: number;
  /** The protection type of each volume master key entry (0x0000 clear key, 0x0100 TPM, 0x0800 recovery password, 0x2000 password…). */
  protectors: number[];
}

/**
 * Parses the start of an FVE metadata block (at one of the probe's metadataOffsets): the 64-byte
 * block header ("-FVE-FS-", state at 12), the metadata header (total size at 64, header size at
 * 72), then entries (size, type, value type, version, data); an entry of type 2 with value type 8
 * is a volume master key whose protection type is at data offset 26. Null when the block does not
 * start with "-FVE-FS-". Pure.
 */
export function parseBitLockerMetadata(block: Uint8Array): BitLockerMetadata | null {
  const data = Buffer.from(block.buffer, block.byteOffset, block.byteLength);
  if (data.length < 112 || !data.subarray(0, 8).equals(FVE_SIGNATURE)) return null;
  const state = data.readUInt16LE(12);
  const metadataSize = data.readUInt32LE(64);
  const headerSize = data.readUInt32LE(72);
  const end = Math.min(data.length, 64 + metadataSize);
  const protectors: number[] = [];
  let position = 64 + headerSize;
  while (position + 8 <= end) {
    const size = data.readUInt16LE(position);
    if (size < 8) break;
    const type = data.readUInt16LE(position + 2);
    const valueType = data.readUInt16LE(position + 4);
    if (type === 2 && valueType === 8 && position + 36 <= end) protectors.push(data.readUInt16LE(position + 8 + 26));
    position += size;
  }
  return { state, protectors };
}

/**
 * The EncryptionState for a probe and, for BitLocker, its parsed metadata (null when it could not
 * be read). LUKS: fully encrypted and protected (a mapping needs a key). BitLocker: fully encrypted
 * when the state is "encrypted"; protection is off when a clear-key protector exists (anyone can
 * open it); without metadata neither is claimed. Percent is 100 only when fully encrypted: the
 * header does not say how far a conversion got, so it is 0 otherwise.
 */
export function encryptionStateOf(probe: SignatureProbe, bitlocker: BitLockerMetadata | null = null): EncryptionState {
  switch (probe.container) {
    case 'luks':
      return { scheme: probe.scheme, fullyEncrypted: true, percentEncrypted: 100, protectionOn: true };
    case 'bitlocker': {
      if (!bitlocker) return { scheme: probe.scheme, fullyEncrypted: false, percentEncrypted: 0, protectionOn: false };
      const full = bitlocker.state === BITLOCKER_STATE_ENCRYPTED;
      const protectedByKey = bitlocker.protectors.length > 0 && !bitlocker.protectors.includes(BITLOCKER_PROTECTOR_CLEAR_KEY);
      return { scheme: probe.scheme, fullyEncrypted: full, percentEncrypted: full ? 100 : 0, protectionOn: protectedByKey };
    }
    case 'apfs':
      return { scheme: EncryptionScheme.ENCRYPTION_SCHEME_UNSPECIFIED, fullyEncrypted: false, percentEncrypted: 0, protectionOn: false };
    case 'none':
      return { scheme: EncryptionScheme.ENCRYPTION_SCHEME_NONE, fullyEncrypted: false, percentEncrypted: 0, protectionOn: false };
  }
}
