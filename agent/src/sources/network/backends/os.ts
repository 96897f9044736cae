import { readFile } from 'node:fs/promises';
import { hostname as osHostname, networkInterfaces as osNetworkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import type { NetworkViewBackend, NetworkViewReading } from '../network-zone.source';
import { dnsSuffixesOf, parseResolvConf } from '../parsers/resolv-conf';

export const RESOLV_CONF_PATH = '/etc/resolv.conf';

export interface OsNetworkBackendDeps {
  platform?: NodeJS.Platform;
  networkInterfaces?: () => NodeJS.Dict<NetworkInterfaceInfo[]>;
  hostname?: () => string;
  readTextFile?: (path: string) => Promise<string>;
  resolvConfPath?: string;
}

/**
 * The operating system's view (MAMORI_AGENT_NETWORK_BACKEND=os):
 * - addresses: every non-loopback interface address from os.networkInterfaces() (getifaddrs on
 *   Unix, GetAdaptersAddresses on Windows), as "address/prefix";
 * - DNS suffixes: on Linux, macOS and the BSDs the `search` and `domain` lines of /etc/resolv.conf
 *   (on macOS configd writes it for the primary service; per-interface resolvers set with scutil
 *   are not in it), plus the domain part of the host name when the host name is a dotted FQDN.
 *   On Windows only the host name's domain part: the connection-specific suffixes live in the
 *   registry and need a command per reading, so a Windows host is placed in a zone by its
 *   addresses (zones should name CIDRs for Windows fleets).
 * A missing resolv.conf means no suffixes; any other read error is a problem in the reading.
 */
export class OsNetworkBackend implements NetworkViewBackend {
  readonly name = 'network:os';
  private readonly platform: NodeJS.Platform;
  private readonly networkInterfaces: () => NodeJS.Dict<NetworkInterfaceInfo[]>;
  private readonly hostname: () => string;
  private readonly readTextFile: (path: string) => Promise<string>;
  private readonly resolvConfPath: string;

  constructor(deps: OsNetworkBackendDeps = {}) {
    this.platform = deps.platform ?? process.platform;
    this.networkInterfaces = deps.networkInterfaces ?? osNetworkInterfaces;
    this.hostname = deps.hostname ?? osHostname;
    this.readTextFile = deps.readTextFile ?? ((path) => readFile(path, 'utf8'));
    this.resolvConfPath = deps.resolvConfPath ?? RESOLV_CONF_PATH;
  }

  async read(): Promise<NetworkViewReading> {
    const problems: string[] = [];
    const addresses: string[] = [];
    try {
      for (const infos of Object.values(this.networkInterfaces())) {
        for (const info of infos ?? []) {
          if (info.internal) continue;
          addresses.push(info.cidr ?? info.address);
        }
      }
    } catch (error) {
      problems.push(`network interfaces cannot be read: ${(error as Error).message}`);
    }
    const dnsSuffixes: string[] = [];
    if (this.platform !== 'win32') {
      try {
        dnsSuffixes.push(...dnsSuffixesOf(parseResolvConf(await this.readTextFile(this.resolvConfPath))));
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT') problems.push(`${this.resolvConfPath} cannot be read: ${code ?? (error as Error).message}`);
      }
    }
    const domain = hostDomain(this.hostname());
    if (domain !== null) dnsSuffixes.push(domain);
    return { view: { addresses, dnsSuffixes }, problems };
  }
}

/** The domain part of a dotted host name ("build7.dev.example.co.jp" → "dev.example.co.jp"); null for a single label. */
export function hostDomain(hostname: string): string | null {
  const name = hostname.trim().replace(/\.$/, '');
  const dot = name.indexOf('.');
  return dot > 0 && dot < name.length - 1 ? name.slice(dot + 1) : null;
}
