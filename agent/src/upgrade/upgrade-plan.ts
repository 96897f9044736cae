import type { AgentRelease } from '../generated/mamori/v1/policy';

/** The exit code with which the agent asks its service manager to start it again on the version `current` now names. */
export const UPGRADE_EXIT_CODE = 75;
/** Starts of a version on trial after which the boot script puts the previous version back (the boot script's default too). */
export const TRIAL_MAX_STARTS = 3;
/** How long a version on trial may take to reach the collector before it is rolled back (the boot script's default too). */
export const TRIAL_DEADLINE_SECONDS = 900;

/** The bundle platform this process runs as, as in bundle names (linux-x64); null for one no bundle is built for. */
export function bundlePlatform(platform: NodeJS.Platform = process.platform, arch: string = process.arch): string | null {
  const os = { linux: 'linux', darwin: 'darwin', win32: 'win' }[platform as string];
  const cpu = { x64: 'x64', arm64: 'arm64' }[arch];
  return os === undefined || cpu === undefined ? null : `${os}-${cpu}`;
}

/** What the upgrader should do about the target the newest policy names. */
export type UpgradePlan =
  | { kind: 'none'; reason: string }
  | { kind: 'unsupported'; version: string; reason: string }
  | { kind: 'skip-rolled-back'; version: string }
  | { kind: 'upgrade'; version: string; bundle: string; sha256: string; sizeBytes: number };

export interface UpgradeInputs {
  /** The policy's agent_release; undefined: no target. */
  target: AgentRelease | undefined;
  runningVersion: string;
  platform: string | null;
  /** Why this install cannot replace itself (not an installed bundle, not Linux, no boot script); null: it can. */
  layoutProblem: string | null;
  /** The version the boot script last rolled back from, while that record stands. */
  rolledBackVersion: string | null;
}

/**
 * Pure: whether and to what to upgrade. A target equal to the running version, or naming no bundle
 * for this platform, is nothing to do; a version that was rolled back is not tried again (until
 * the target changes, which clears the record); an install that cannot replace itself says why.
 */
export function planUpgrade(inputs: UpgradeInputs): UpgradePlan {
  const { target } = inputs;
  if (target === undefined || target.version === '') return { kind: 'none', reason: 'no target version is set' };
  if (target.version === inputs.runningVersion) return { kind: 'none', reason: `running the target version ${target.version}` };
  const artifact = inputs.platform === null ? undefined : target.artifacts.find((a) => a.platform === inputs.platform);
  if (artifact === undefined) return { kind: 'none', reason: `the target ${target.version} has no bundle for ${inputs.platform ?? 'this platform'}` };
  if (inputs.layoutProblem !== null) return { kind: 'unsupported', version: target.version, reason: inputs.layoutProblem };
  if (inputs.rolledBackVersion === target.version) return { kind: 'skip-rolled-back', version: target.version };
  const sizeBytes = Number(artifact.sizeBytes);
  if (!/^[0-9a-f]{64}$/.test(artifact.sha256) || !Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) {
    return { kind: 'unsupported', version: target.version, reason: `the policy describes the ${artifact.platform} bundle of ${target.version} without a valid SHA-256 and size` };
  }
  return { kind: 'upgrade', version: target.version, bundle: `mamori-agent-${target.version}-${artifact.platform}`, sha256: artifact.sha256, sizeBytes };
}

/** A record the boot script and the agent share, as KEY=VALUE lines (POSIX sh reads it with sed). */
export function parseRecord(text: string): Record<string, string> {
  const record: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^([A-Z_]+)=(.*)$/.exec(line);
    if (match !== null) record[match[1]!] = match[2]!;
  }
  return record;
}

/** KEY=VALUE lines; values must not hold line breaks (they are names, versions, numbers and one-line reasons). */
export function formatRecord(record: Record<string, string>): string {
  return Object.entries(record)
    .map(([key, value]) => `${key}=${value.replace(/[\r\n]+/g, ' ')}\n`)
    .join('');
}

/**
 * What the new version on trial should do at a moment: confirm once it reached the collector,
 * give up (exit, so the boot script rolls back) once the deadline passed without reaching it, or wait.
 */
export function trialDecision(input: { connected: boolean; startedAtSeconds: number; nowSeconds: number; deadlineSeconds: number }): 'confirm' | 'give-up' | 'wait' {
  if (input.connected) return 'confirm';
  if (input.nowSeconds - input.startedAtSeconds > input.deadlineSeconds) return 'give-up';
  return 'wait';
}

/** Releases to delete after a confirmed upgrade: every one but the running one and the one kept for rollback. */
export function releasesToPrune(names: string[], keep: string[]): string[] {
  return names.filter((name) => !name.startsWith('.') && !keep.includes(name));
}
