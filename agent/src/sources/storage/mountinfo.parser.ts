/** One line of /proc/<pid>/mountinfo (proc(5)). */
export interface MountInfoEntry {
  mountId: number;
  parentId: number;
  /** "major:minor" of the mounted device, e.g. "8:17"; how a mount is matched to a block device. */
  majorMinor: string;
  root: string;
  mountPoint: string;
  fsType: string;
  source: string;
  options: string;
}

/** mountinfo escapes space, tab, newline and backslash as \040, \011, \012, \134. */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/**
 * Parses mountinfo text. Fields: id parent major:minor root mount-point options [optional…] - fstype source super-options.
 * The optional fields end at a lone "-". Lines that do not have that shape are skipped. Pure.
 */
export function parseMountInfo(text: string): MountInfoEntry[] {
  const entries: MountInfoEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(' ');
    const separator = fields.indexOf('-');
    if (separator < 6 || fields.length < separator + 3) continue;
    const mountId = Number(fields[0]);
    const parentId = Number(fields[1]);
    if (!Number.isInteger(mountId) || !Number.isInteger(parentId) || !/^\d+:\d+$/.test(fields[2]!)) continue;
    entries.push({
      mountId,
      parentId,
      majorMinor: fields[2]!,
      root: unescape(fields[3]!),
      mountPoint: unescape(fields[4]!),
      options: fields[5]!,
      fsType: unescape(fields[separator + 1]!),
      source: unescape(fields[separator + 2]!),
    });
  }
  return entries;
}

/** The mount points of the device "major:minor", in mountinfo order, each once. */
export function mountPointsOf(entries: readonly MountInfoEntry[], majorMinor: string): string[] {
  return [...new Set(entries.filter((e) => e.majorMinor === majorMinor).map((e) => e.mountPoint))];
}
