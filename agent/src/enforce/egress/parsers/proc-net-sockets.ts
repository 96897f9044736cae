import { canonicalIp } from '../allowed-elements';

/** One row of /proc/net/{tcp,tcp6,udp,udp6}. */
export interface ProcNetSocket {
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  /** The kernel's state number in hex as printed ("01" established, "02" SYN sent, "07" UDP unconnected or TCP close). */
  state: string;
  uid: number;
  /** 0 for sockets no process owns any more (TIME_WAIT). */
  inode: number;
}

/**
 * Parses /proc/net/tcp, tcp6, udp or udp6 (the header line is skipped). Addresses are printed as
 * hex words in host byte order; on the little-endian machines the agent runs on, each 32-bit word
 * is byte-reversed, which `littleEndian` (default true) undoes.
 */
export function parseProcNetSockets(text: string, littleEndian = true): ProcNetSocket[] {
  const rows: ProcNetSocket[] = [];
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 10) continue;
    const local = splitEndpoint(fields[1], littleEndian);
    const remote = splitEndpoint(fields[2], littleEndian);
    if (local === null || remote === null) continue;
    rows.push({
      localAddress: local.address,
      localPort: local.port,
      remoteAddress: remote.address,
      remotePort: remote.port,
      state: fields[3],
      uid: Number(fields[7]),
      inode: Number(fields[9]),
    });
  }
  return rows;
}

function splitEndpoint(text: string, littleEndian: boolean): { address: string; port: number } | null {
  const [hexAddress, hexPort] = text.split(':');
  if (hexAddress === undefined || hexPort === undefined || !/^[0-9A-Fa-f]+$/.test(hexAddress)) return null;
  const words = hexAddress.match(/.{8}/g) ?? [];
  const bytes = words.flatMap((word) => {
    const b = word.match(/.{2}/g)!.map((pair) => parseInt(pair, 16));
    return littleEndian ? b.reverse() : b;
  });
  let address: string;
  if (bytes.length === 4) address = bytes.join('.');
  else if (bytes.length === 16) {
    const mapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
    const full = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i] << 8) | bytes[2 * i + 1]).toString(16)).join(':');
    address = mapped ? bytes.slice(12).join('.') : (canonicalIp(full) ?? full);
  } else return null;
  return { address, port: parseInt(hexPort, 16) };
}
