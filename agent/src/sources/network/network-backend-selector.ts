import type { AgentConfig } from '../../config/agent-config';
import type { Logger } from '../../logging/logger';
import { FakeNetworkBackend } from './backends/fake';
import { OsNetworkBackend } from './backends/os';
import { NetworkZoneSource } from './network-zone.source';

/**
 * The network zone source with the backend named by configuration (MAMORI_AGENT_NETWORK_BACKEND,
 * default "os"), polled every MAMORI_AGENT_NETWORK_POLL_SECONDS. Call start() on the result.
 */
export function createNetworkZoneSource(
  config: Pick<AgentConfig, 'networkBackend' | 'fakeNetworkFile' | 'networkPollSeconds'>,
  logger?: Logger,
): NetworkZoneSource {
  const backend = config.networkBackend === 'fake' ? new FakeNetworkBackend(config.fakeNetworkFile!) : new OsNetworkBackend();
  return new NetworkZoneSource({ backend, pollIntervalMs: config.networkPollSeconds * 1000, logger });
}
