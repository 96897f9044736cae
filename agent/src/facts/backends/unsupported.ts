import type { PlatformFacts } from '../platform-facts';

/** Platforms without a facts backend yet (Windows arrives with its USB backend): says so instead of guessing. */
export function unsupportedFacts(platform: string): PlatformFacts {
  const problem = `no host-facts backend for platform ${platform} yet`;
  return {
    name: `unsupported:${platform}`,
    loggedInUsers: async () => ({ users: [], problem }),
    machineId: async () => ({ id: '', problem }),
  };
}
