import type { CommandRunner } from '../../facts/command-runner';
import type { Logger } from '../../logging/logger';
import { FakeEgressEnforcer, type FakeEgressOptions } from './backends/fake';
import { NftablesEgressEnforcer, commandExists, type NftablesEgressOptions } from './backends/nftables';
import { UnsupportedEgressEnforcer } from './backends/unsupported';
import type { EgressBackendName, EgressEnforcer } from './egress-enforcer';

export interface EgressEnforcerDeps {
  logger: Logger;
  runner: CommandRunner;
  platform?: NodeJS.Platform;
  isRoot?: () => boolean;
  /** Everything else the nftables backend takes (how nft is run, resolver, clock, DNS TTL bounds, fold window). */
  nftables?: Omit<NftablesEgressOptions, 'runner' | 'logger' | 'platform' | 'isRoot'>;
  fake?: Omit<FakeEgressOptions, 'logger'>;
  /** Why the unsupported backend was chosen; worked out from the host when not given. */
  unsupportedReason?: string;
}

/** Builds the named backend. */
export function createEgressEnforcer(kind: EgressBackendName, deps: EgressEnforcerDeps): EgressEnforcer {
  switch (kind) {
    case 'nftables':
      return new NftablesEgressEnforcer({
        ...deps.nftables,
        runner: deps.runner,
        logger: deps.logger.child({ component: 'egress:nftables' }),
        platform: deps.platform,
        isRoot: deps.isRoot,
      });
    case 'fake':
      return new FakeEgressEnforcer({ ...deps.fake, logger: deps.logger.child({ component: 'egress:fake' }) });
    case 'unsupported':
      return new UnsupportedEgressEnforcer(deps.unsupportedReason ?? nftablesUnavailableReason(deps) ?? 'egress enforcement is switched off (MAMORI_AGENT_EGRESS_BACKEND=unsupported)');
  }
}

/** Why nftables cannot be used on this host, or null when it can. */
export function nftablesUnavailableReason(host: { platform?: NodeJS.Platform; isRoot?: () => boolean }): string | null {
  const platform = host.platform ?? process.platform;
  if (platform !== 'linux') return `the agent programs no firewall on ${platform} in this build; the egress proxy is the portable path`;
  const isRoot = host.isRoot ?? (() => process.getuid?.() === 0);
  if (!isRoot()) return `not running as root (uid ${process.getuid?.() ?? '?'}); programming nftables needs root`;
  if (!commandExists('nft')) return 'nft (the nftables command) is not installed';
  return null;
}
