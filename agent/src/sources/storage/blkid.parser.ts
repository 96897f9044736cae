/** What blkid read from one device's own bytes (superblock probing, not udev's database). */
export interface BlkidProbe {
  devname: string;
  /** TYPE: "vfat", "exfat", "crypto_LUKS", "BitLocker"…; empty when no signature was found. */
  type: string;
  label: string;
  uuid: string;
  /** VERSION: for crypto_LUKS "1" or "2", for BitLocker the format version, for vfat "FAT16"/"FAT32". */
  version: string;
  /** USAGE: "filesystem", "crypto", "raid", "other". */
  usage: string;
  /** Every key blkid printed, for what the fields above do not name. */
  tags: Record<string, string>;
}

function probeFrom(devname: string, tags: Record<string, string>): BlkidProbe {
  return { devname, type: tags.TYPE ?? '', label: tags.LABEL ?? '', uuid: tags.UUID ?? '', version: tags.VERSION ?? '', usage: tags.USAGE ?? '', tags };
}

/**
 * Parses `blkid -p -o export <node>…`: KEY=VALUE lines, one block per device starting with
 * DEVNAME, blocks separated by blank lines; blkid escapes shell-special characters in values with
 * a backslash ("LABEL=TEAM\ STICK"). Output with no DEVNAME (a single device) is attributed to
 * `fallbackDevname`. Pure.
 */
export function parseBlkidExport(text: string, fallbackDevname = ''): BlkidProbe[] {
  const probes: BlkidProbe[] = [];
  let tags: Record<string, string> = {};
  const flush = () => {
    if (Object.keys(tags).length > 0) probes.push(probeFrom(tags.DEVNAME ?? fallbackDevname, tags));
    tags = {};
  };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') {
      flush();
      continue;
    }
    const equals = line.indexOf('=');
    if (equals <= 0) continue;
    const key = line.slice(0, equals);
    if (key === 'DEVNAME' && tags.DEVNAME !== undefined) flush();
    tags[key] = line.slice(equals + 1).replace(/\\(.)/g, '$1');
  }
  flush();
  return probes;
}

/**
 * Parses blkid's default output, one device a line: `/dev/sdb1: LABEL="X9 Pro" UUID="…" TYPE="exfat"`
 * (values double-quoted, `\"` and `\\` escaped). Pure.
 */
export function parseBlkidDefault(text: string): BlkidProbe[] {
  const probes: BlkidProbe[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    const colon = line.indexOf(': ');
    if (colon <= 0) continue;
    const tags: Record<string, string> = {};
    const pairs = /([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    for (let match = pairs.exec(line.slice(colon + 2)); match; match = pairs.exec(line.slice(colon + 2))) {
      tags[match[1]!] = match[2]!.replace(/\\(.)/g, '$1');
    }
    probes.push(probeFrom(line.slice(0, colon), tags));
  }
  return probes;
}
