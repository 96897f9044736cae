import { existsSync, readFileSync } from 'node:fs';
import { arch, hostname, networkInterfaces, release, type NetworkInterfaceInfo } from 'node:os';
import { dirname, join } from 'node:path';
import type { HostIdentity, NetworkInterface } from '../generated/mamori/v1/common';
import { processCommandRunner, type CommandRunner } from './command-runner';
import { darwinFacts } from './backends/darwin';
import { linuxFacts } from './backends/linux';
import { unsupportedFacts } from './backends/unsupported';
import { win32Facts } from './backends/win32';
import type { PlatformFacts } from './platform-facts';

/** Picks the facts backend for this platform. */
export function platformFactsFor(platform: NodeJS.Platform = process.platform, runner: CommandRunner = processCommandRunner): PlatformFacts {
  switch (platform) {
    case 'linux':
      return linuxFacts(runner);
    case 'darwin':
      return darwinFacts(runner);
    case 'win32':
      return win32Facts(runner);
    default:
      return unsupportedFacts(platform);
  }
}

/** Loopback excluded; addresses as "addr/prefix"; MACs lower-case; interfaces without addresses dropped. */
export function describeInterfaces(table: NodeJS.Dict<NetworkInterfaceInfo[]>): NetworkInterface[] {
  const out: NetworkInterface[] = [];
  for (const [name, infos] of Object.entries(table)) {
    const usable = (infos ?? []).filter((i) => !i.internal);
    if (usable.length === 0) continue;
    out.push({
      name,
      macAddress: usable[0].mac.toLowerCase(),
      addresses: usable.map((i) => i.cidr ?? i.address),
    });
  }
  return out;
}

let cachedVersion: string | undefined;
/** The agent's version from the package it ships in. */
export function agentVersion(): string {
  if (cachedVersion !== undefined) return cachedVersion;
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) {
      const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'mamori' && pkg.version) return (cachedVersion = pkg.version);
    }
    dir = dirname(dir);
  }
  return (cachedVersion = '0.0.0-unknown');
}

export interface CollectedFacts {
  host: HostIdentity;
  problems: string[];
}

export async function collectHostFacts(platformFacts: PlatformFacts): Promise<CollectedFacts> {
  const [users, machine, hardware] = await Promise.all([
    platformFacts.loggedInUsers(),
    platformFacts.machineId(),
    platformFacts.hardware ? platformFacts.hardware() : Promise.resolve({ hardware: { serial: '', model: '', vendor: '' }, problems: [] }),
  ]);
  const problems = [users.problem, machine.problem, ...hardware.problems].filter((p): p is string => p !== undefined);
  return {
    host: {
      hostname: hostname(),
      osFamily: process.platform,
      osVersion: release(),
      agentVersion: agentVersion(),
      loggedInUsers: users.users,
      networkInterfaces: describeInterfaces(networkInterfaces()),
      architecture: arch(),
      machineId: machine.id,
      hardwareSerial: hardware.hardware.serial,
      hardwareModel: hardware.hardware.model,
      hardwareVendor: hardware.hardware.vendor,
    },
    problems,
  };
}
