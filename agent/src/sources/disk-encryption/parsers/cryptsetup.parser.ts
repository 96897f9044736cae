/** What `cryptsetup status <mapping>` says about an active (or inactive) dm-crypt mapping. */
export interface CryptsetupStatus {
  /** "/dev/mapper/root". */
  mapping: string;
  active: boolean;
  inUse: boolean;
  /** "LUKS1", "LUKS2", "PLAIN", "BITLK", "TCRYPT"…; '' when not printed. */
  type: string;
  /** "aes-xts-plain64". */
  cipher: string;
  /** Key size in bits, 0 when not printed. */
  keyBits: number;
  /** The device under the mapping ("/dev/sda5"). */
  device: string;
}

/**
 * Parses `cryptsetup status <name>`: a first line "<mapping> is active[ and is in use]." or
 * "<mapping> is inactive.", then indented "key: value" lines. These are cryptsetup's own fixed
 * English messages (it is not translated in the distributions' builds). Returns null when the
 * first line is not a status line (for example the error "Device sdc3 not found"). Pure.
 */
export function parseCryptsetupStatus(output: string): CryptsetupStatus | null {
  const lines = output.split('\n').map((l) => l.replace(/\r$/, ''));
  const first = /^(\S+) is (active|inactive)( and is in use)?\.?\s*$/.exec(lines[0]?.trim() ?? '');
  if (!first) return null;
  const fields: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const match = /^\s+([a-z][a-z ]*?):\s*(.*)$/.exec(line);
    if (match) fields[match[1]!] = match[2]!.trim();
  }
  return {
    mapping: first[1]!,
    active: first[2] === 'active',
    inUse: first[3] !== undefined,
    type: fields.type ?? '',
    cipher: fields.cipher ?? '',
    keyBits: Number.parseInt(fields.keysize ?? '', 10) || 0,
    device: fields.device ?? '',
  };
}

/** What `cryptsetup luksDump <device>` says, without any key material. */
export interface LuksDump {
  /** 1 or 2; 0 when not printed. */
  version: number;
  /** The data cipher: "aes-xts-plain64" (LUKS2 data segment, or LUKS1 "Cipher name"-"Cipher mode"). */
  cipher: string;
}

/**
 * Parses `cryptsetup luksDump`: "Version: 1|2"; the cipher of LUKS2's first data segment
 * ("\tcipher: aes-xts-plain64" under "Data segments:") or LUKS1's "Cipher name:" and "Cipher
 * mode:" joined with "-". Salts, digests and keyslot details are not read. Null when the text
 * is not a LUKS header dump. Pure.
 */
export function parseLuksDump(output: string): LuksDump | null {
  if (!/^LUKS header information/m.test(output)) return null;
  const version = Number.parseInt(/^Version:\s*(\d+)/m.exec(output)?.[1] ?? '', 10) || 0;
  let cipher = '';
  const lines = output.split(/\r?\n/);
  const start = lines.findIndex((l) => /^Data segments:/.test(l));
  if (start >= 0) {
    for (const line of lines.slice(start + 1)) {
      if (/^\S/.test(line)) break; // the next section ("Keyslots:")
      const match = /^\s+cipher:\s*(\S+)/.exec(line);
      if (match) {
        cipher = match[1]!;
        break;
      }
    }
  }
  if (cipher === '') {
    const name = /^Cipher name:\s*(\S+)/m.exec(output)?.[1];
    const mode = /^Cipher mode:\s*(\S+)/m.exec(output)?.[1];
    if (name) cipher = mode ? `${name}-${mode}` : name;
  }
  return { version, cipher };
}
