/** One block device of lsblk's tree, with what lsblk said (null = the column was absent or empty). */
export interface LsblkNode {
  /** The device path when lsblk ran with -p ("/dev/sda1", "/dev/mapper/root"), else the bare name. */
  name: string;
  /** "disk", "part", "crypt", "lvm", "loop", "rom", "raid1"…; '' when the output has no TYPE column. */
  type: string;
  /** From udev's database (or libblkid): "ext4", "crypto_LUKS", "LVM2_member"…; '' when not known. */
  fstype: string;
  /** FSVER: for crypto_LUKS "1" or "2"; '' when not known. */
  fsver: string;
  /** Bytes when lsblk ran with -b; null when the size is missing or human-readable ("14.3G"). */
  sizeBytes: number | null;
  /** Mount points; "[SWAP]" for active swap, as lsblk prints it. */
  mountPoints: string[];
  /** RM: null when the column is absent. */
  removable: boolean | null;
  /** TRAN: "usb", "nvme", "sata"…; '' when not known (partitions and virtual devices have none). */
  transport: string;
  /** PARTTYPE: the GPT type GUID or MBR type ("0xef"); '' when not known. */
  partType: string;
  children: LsblkNode[];
}

type Raw = Record<string, unknown>;

function text(raw: Raw, key: string): string {
  const value = raw[key];
  if (typeof value === 'string') return value.trim();
  if (typeof value === 'number') return String(value);
  return '';
}

/** lsblk 2.33+ prints booleans; older JSON prints "0"/"1" strings; -P prints "0"/"1". */
function flag(raw: Raw, key: string): boolean | null {
  const value = raw[key];
  if (typeof value === 'boolean') return value;
  if (value === '1' || value === 1) return true;
  if (value === '0' || value === 0) return false;
  return null;
}

/** With -b sizes are integers (or digit strings in old lsblk); "14.3G" is not a byte count and gives null. */
function bytes(value: unknown): number | null {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === 'string' && /^\d+$/.test(value.trim())) {
    const n = Number(value.trim());
    return Number.isSafeInteger(n) ? n : null;
  }
  return null;
}

function mounts(raw: Raw): string[] {
  const list = Array.isArray(raw.mountpoints) ? raw.mountpoints : [raw.mountpoint];
  return list.filter((m): m is string => typeof m === 'string' && m.trim() !== '').map(unescapeLsblk);
}

/** lsblk escapes unsafe characters in mount points as \xNN (a space is "\x20"). */
function unescapeLsblk(value: string): string {
  return value.replace(/\\x([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

function node(raw: unknown, path: string): LsblkNode {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`lsblk JSON: ${path} is not an object`);
  const r = raw as Raw;
  const name = text(r, 'path') || text(r, 'name');
  if (name === '') throw new Error(`lsblk JSON: ${path} has no name`);
  const children = r.children === undefined || r.children === null ? [] : r.children;
  if (!Array.isArray(children)) throw new Error(`lsblk JSON: ${path}.children is not a list`);
  return {
    name,
    type: text(r, 'type'),
    fstype: text(r, 'fstype'),
    fsver: text(r, 'fsver'),
    sizeBytes: bytes(r.size),
    mountPoints: mounts(r),
    removable: flag(r, 'rm'),
    transport: text(r, 'tran'),
    partType: text(r, 'parttype').toLowerCase(),
    children: children.map((c, i) => node(c, `${path}.children[${i}]`)),
  };
}

/**
 * Parses `lsblk -J` (any column set; util-linux 2.27+). Handles both JSON dialects: 2.33+ with
 * typed values (booleans, numbers, a "mountpoints" array since 2.37) and older output where
 * every value is a string ("rm": "1", "size": "477G"). Throws an Error naming what is wrong
 * when the text is not lsblk's JSON. Pure.
 */
export function parseLsblkJson(output: string): LsblkNode[] {
  let doc: unknown;
  try {
    doc = JSON.parse(output);
  } catch (error) {
    throw new Error(`lsblk printed no JSON: ${(error as Error).message}`);
  }
  const list = (doc as { blockdevices?: unknown } | null)?.blockdevices;
  if (!Array.isArray(list)) throw new Error('lsblk JSON has no "blockdevices" list');
  return list.map((d, i) => node(d, `blockdevices[${i}]`));
}

const TREE_GLYPHS = /^[\s│├└─|`\-]*/u;

/**
 * Parses lsblk's default tree (`lsblk` or `lsblk -o NAME,MAJ:MIN,RM,SIZE,RO,TYPE,MOUNTPOINT`,
 * the only form util-linux before 2.27 can print): a header line, then one device a line whose
 * NAME is indented with tree glyphs (├─ └─ │ or the ASCII `|-`/`` `- ``) two columns per level.
 * Columns are found from the header; MOUNTPOINT, the last, may be empty. Pure.
 */
export function parseLsblkTree(output: string): LsblkNode[] {
  const lines = output.split('\n').map((l) => l.replace(/\r$/, ''));
  const headerIndex = lines.findIndex((l) => /^\s*NAME\s/.test(l));
  if (headerIndex < 0) throw new Error('lsblk tree output has no NAME header');
  const header = lines[headerIndex]!.trim().split(/\s+/);
  const roots: LsblkNode[] = [];
  const stack: { depth: number; node: LsblkNode }[] = [];
  for (const line of lines.slice(headerIndex + 1)) {
    if (line.trim() === '') continue;
    const prefix = TREE_GLYPHS.exec(line)![0];
    const depth = [...prefix].length / 2;
    const fields = line.slice(prefix.length).trim().split(/\s+/);
    const raw: Record<string, string> = {};
    header.forEach((column, i) => {
      if (i < header.length - 1 || column !== 'MOUNTPOINT') raw[column] = fields[i] ?? '';
    });
    // The mount point is the last column and may be empty or (escaped) anything.
    if (header[header.length - 1] === 'MOUNTPOINT') raw.MOUNTPOINT = fields.slice(header.length - 1).join(' ');
    const item: LsblkNode = {
      name: raw.NAME ?? '',
      type: raw.TYPE ?? '',
      fstype: raw.FSTYPE ?? '',
      fsver: raw.FSVER ?? '',
      sizeBytes: bytes(raw.SIZE),
      mountPoints: raw.MOUNTPOINT ? [unescapeLsblk(raw.MOUNTPOINT)] : [],
      removable: raw.RM === undefined ? null : raw.RM === '1',
      transport: raw.TRAN ?? '',
      partType: (raw.PARTTYPE ?? '').toLowerCase(),
      children: [],
    };
    while (stack.length > 0 && stack[stack.length - 1]!.depth >= depth) stack.pop();
    if (stack.length === 0) roots.push(item);
    else stack[stack.length - 1]!.node.children.push(item);
    stack.push({ depth, node: item });
  }
  return roots;
}
