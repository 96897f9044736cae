/**
 * Parses the output of `who` (Linux coreutils / BSD): one session per line, the user name in
 * the first column. Returns each user once, in order of first appearance. Pure.
 */
export function parseWhoOutput(output: string): string[] {
  const users: string[] = [];
  for (const line of output.split(/\r?\n/)) {
    const name = line.trim().split(/\s+/)[0];
    if (name && !users.includes(name)) users.push(name);
  }
  return users;
}

/** Parses `ioreg -rd1 -c IOPlatformExpertDevice` (macOS) for the hardware UUID; empty when absent. */
export function parseIoregPlatformUuid(output: string): string {
  const match = /"IOPlatformUUID"\s*=\s*"([0-9A-Fa-f-]{36})"/.exec(output);
  return match ? match[1].toLowerCase() : '';
}
