import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rename, rm, stat, symlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { AgentState } from '../generated/mamori/v1/events';
import type { AgentRelease } from '../generated/mamori/v1/policy';
import type { DownloadReleaseResponse, ReleaseServiceClient } from '../generated/mamori/v1/release';
import type { Logger } from '../logging/logger';
import { fsyncDir, writeFileAtomic } from '../state/atomic-file';
import { parseManifest, sha256Of } from '../state/install-integrity';
import { fullJitterDelayMs, sleep } from '../transport/backoff';
import type { InstalledLayout } from './install-layout';
import { formatRecord, parseRecord, planUpgrade, releasesToPrune, trialDecision, TRIAL_DEADLINE_SECONDS, UPGRADE_EXIT_CODE, type UpgradePlan } from './upgrade-plan';

/** What `mamori-agent status` shows about upgrades (status.json's `upgrade`). */
export interface UpgradeStatus {
  runningVersion: string;
  targetVersion: string | null;
  state: 'up-to-date' | 'no-target' | 'downloading' | 'installing' | 'on-trial' | 'retrying' | 'rolled-back' | 'unsupported' | 'no-bundle';
  detail: string;
  lastUpgrade: string | null;
  rolledBack: string | null;
}

export interface UpgraderDeps {
  layout: InstalledLayout | { problem: string };
  runningVersion: string;
  platform: string | null;
  /** The state folder's upgrade/ sub-folder: downloads land here (owner-only, like the rest). */
  downloadDir: string;
  release: () => ReleaseServiceClient | null;
  /** Whether the collector accepted a call since this start (the trial's proof of life). */
  connected: () => boolean;
  report: (state: AgentState, message: string) => Promise<void>;
  /** Stops the agent in order and exits with `code` (the service manager starts it again). */
  requestExit: (code: number) => void;
  logger: Logger;
  /** Test seams; defaults: 30 s .. 1 h backoff, 1 s trial checks. */
  retryBaseMs?: number;
  retryCapMs?: number;
  trialCheckMs?: number;
}

/**
 * Replaces the installed agent with the version the policy names (README "Upgrades"): download over
 * mutual TLS into the state folder, check size and SHA-256, unpack beside the other releases, check
 * MANIFEST.sha256, rename into place, write the trial record, point `current` at it with one rename,
 * and exit with UPGRADE_EXIT_CODE so the service manager starts the new version through the boot
 * script. Nothing half-installed is ever made current; a failed attempt is reported and retried with
 * backoff. The new version ends its trial once it reached the collector; the boot script rolls back
 * one that does not.
 */
export class Upgrader {
  private target: AgentRelease | undefined;
  private plan: UpgradePlan = { kind: 'none', reason: 'no policy yet' };
  private wake: (() => void) | null = null;
  private unsupportedReported = '';
  private lastFailure = '';
  private status: UpgradeStatus;
  private rolledBackVersion: string | null = null;

  constructor(private readonly deps: UpgraderDeps) {
    this.status = { runningVersion: deps.runningVersion, targetVersion: null, state: 'no-target', detail: '', lastUpgrade: null, rolledBack: null };
  }

  get statusReport(): UpgradeStatus {
    return { ...this.status };
  }

  private get layout(): InstalledLayout | null {
    return 'problem' in this.deps.layout ? null : this.deps.layout;
  }

  /** At start: reports a rollback the boot script made, and ends (or watches) this version's trial. */
  async start(signal: AbortSignal): Promise<void> {
    const layout = this.layout;
    if (layout === null) return;
    const rolledBack = await readRecord(join(layout.recordsDir, 'rolled-back'));
    if (rolledBack !== null) {
      this.rolledBackVersion = rolledBack.FAILED_VERSION ?? null;
      this.status.rolledBack = `${rolledBack.FAILED_VERSION} rolled back at ${isoOf(rolledBack.AT)}: ${rolledBack.REASON}`;
      if (rolledBack.REPORTED !== 'yes') {
        await this.deps.report(
          AgentState.AGENT_STATE_UPGRADE_ROLLED_BACK,
          `upgrade from ${this.deps.runningVersion} to ${rolledBack.FAILED_VERSION} rolled back: ${rolledBack.REASON}; running ${this.deps.runningVersion} again, ${rolledBack.FAILED_VERSION} is not tried again until the target changes`,
        );
        await writeFileAtomic(join(layout.recordsDir, 'rolled-back'), formatRecord({ ...rolledBack, REPORTED: 'yes' }), 0o644);
      }
    }
    const last = await readRecord(join(layout.recordsDir, 'last-upgrade'));
    if (last !== null) this.status.lastUpgrade = `${last.FROM_VERSION} -> ${last.TO_VERSION} at ${isoOf(last.AT)}`;
    const trial = await readRecord(join(layout.recordsDir, 'trial'));
    if (trial !== null && trial.TO === layout.releaseName) await this.holdTrial(layout, trial, signal);
  }

  /** The newest policy's target (undefined: none); the attempt loop picks it up. */
  setTarget(target: AgentRelease | undefined): void {
    this.target = target;
    this.wake?.();
  }

  /** Works towards the target until `signal` aborts; one attempt at a time. */
  async run(signal: AbortSignal): Promise<void> {
    let attempt = 0;
    while (!signal.aborted) {
      const layout = this.layout;
      if (layout !== null && this.rolledBackVersion !== null && this.target !== undefined && this.target.version !== this.rolledBackVersion) {
        // The target changed since the rollback: the record has done its job.
        await unlink(join(layout.recordsDir, 'rolled-back')).catch(() => undefined);
        this.rolledBackVersion = null;
        this.status.rolledBack = null;
      }
      this.plan = planUpgrade({
        target: this.target,
        runningVersion: this.deps.runningVersion,
        platform: this.deps.platform,
        layoutProblem: 'problem' in this.deps.layout ? this.deps.layout.problem : null,
        rolledBackVersion: this.rolledBackVersion,
      });
      this.status.targetVersion = this.target?.version || null;
      const plan = this.plan;
      if (plan.kind === 'upgrade' && layout !== null && !this.onTrial) {
        this.status.state = 'downloading';
        this.status.detail = `upgrading to ${plan.version}`;
        try {
          await this.install(layout, plan, signal);
          return;
        } catch (error) {
          if (signal.aborted) return;
          attempt++;
          const message = `upgrade to ${plan.version} failed (attempt ${attempt}): ${(error as Error).message}`;
          const delay = fullJitterDelayMs(attempt, this.deps.retryBaseMs ?? 30_000, this.deps.retryCapMs ?? 3_600_000);
          this.deps.logger.warn('agent upgrade failed; retrying', { version: plan.version, attempt, retryInMs: delay, error: (error as Error).message });
          this.status.state = 'retrying';
          this.status.detail = message;
          if (message.replace(/ \(attempt \d+\)/, '') !== this.lastFailure) {
            this.lastFailure = message.replace(/ \(attempt \d+\)/, '');
            await this.deps.report(AgentState.AGENT_STATE_UPGRADE_FAILED, `${message}; nothing was changed, retrying with backoff`);
          }
          await this.waitFor(delay, signal);
          continue;
        }
      }
      attempt = 0;
      this.describe(plan);
      if (plan.kind === 'unsupported' && this.unsupportedReported !== plan.version) {
        this.unsupportedReported = plan.version;
        this.deps.logger.warn('cannot upgrade this agent by itself', { target: plan.version, reason: plan.reason });
        await this.deps.report(AgentState.AGENT_STATE_UPGRADE_FAILED, `cannot upgrade to ${plan.version} here: ${plan.reason}`);
      }
      await this.waitFor(Number.POSITIVE_INFINITY, signal);
    }
  }

  private onTrial = false;

  private describe(plan: UpgradePlan): void {
    if (this.onTrial) return;
    if (plan.kind === 'none') {
      this.status.state = this.target === undefined ? 'no-target' : plan.reason.startsWith('running') ? 'up-to-date' : 'no-bundle';
      this.status.detail = plan.reason;
    } else if (plan.kind === 'unsupported') {
      this.status.state = 'unsupported';
      this.status.detail = plan.reason;
    } else if (plan.kind === 'skip-rolled-back') {
      this.status.state = 'rolled-back';
      this.status.detail = `${plan.version} was rolled back here; not tried again until the target changes`;
    }
  }

  private waitFor(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.wake = null;
        resolve();
      };
      const timer = Number.isFinite(ms) ? setTimeout(done, ms) : undefined;
      this.wake = done;
      signal.addEventListener('abort', done, { once: true });
    });
  }

  private async install(layout: InstalledLayout, plan: Extract<UpgradePlan, { kind: 'upgrade' }>, signal: AbortSignal): Promise<void> {
    const started = Date.now();
    await mkdir(this.deps.downloadDir, { recursive: true, mode: 0o700 });
    const archive = join(this.deps.downloadDir, `${plan.bundle}.tar.gz`);
    await this.download(plan, archive, signal);
    const downloadedMs = Date.now() - started;
    this.status.state = 'installing';
    const finalDir = join(layout.releasesDir, plan.bundle);
    const partial = join(layout.releasesDir, `.${plan.bundle}.partial`);
    try {
      if (await exists(finalDir)) {
        // An earlier attempt renamed it into place and stopped before the swap: use it only if intact.
        const problem = await bundleProblem(finalDir, plan.version);
        if (problem !== null) await rm(finalDir, { recursive: true, force: true });
      }
      if (!(await exists(finalDir))) {
        await rm(partial, { recursive: true, force: true });
        await mkdir(partial, { mode: 0o755 });
        await run('tar', ['-xzf', archive, '-C', partial, '--strip-components=1', '--no-same-owner']);
        const problem = await bundleProblem(partial, plan.version);
        if (problem !== null) throw new Error(`the unpacked bundle ${problem}`);
        await chmod(partial, 0o755);
        await rename(partial, finalDir);
        await fsyncDir(layout.releasesDir);
      }
    } finally {
      await rm(partial, { recursive: true, force: true });
      await rm(archive, { force: true });
    }
    // The trial record first, then `current`: a stop in between leaves a trial the boot script drops.
    await mkdir(layout.recordsDir, { recursive: true, mode: 0o755 });
    await rm(join(layout.recordsDir, 'trial.starts'), { force: true });
    await writeFileAtomic(
      join(layout.recordsDir, 'trial'),
      formatRecord({
        FROM: layout.releaseName,
        FROM_VERSION: this.deps.runningVersion,
        TO: plan.bundle,
        TO_VERSION: plan.version,
        STARTED: String(Math.floor(Date.now() / 1000)),
        DEADLINE: String(trialDeadlineSeconds()),
      }),
      0o644,
    );
    const link = join(layout.prefix, '.current.new');
    await rm(link, { force: true });
    await symlink(join('releases', plan.bundle), link);
    await rename(link, join(layout.prefix, 'current'));
    await fsyncDir(layout.prefix);
    this.status.state = 'on-trial';
    this.status.detail = `${plan.version} installed; restarting on it`;
    this.deps.logger.info('agent upgrade installed; restarting on the new version', {
      from: this.deps.runningVersion,
      to: plan.version,
      downloadMs: downloadedMs,
      installMs: Date.now() - started - downloadedMs,
      bytes: plan.sizeBytes,
    });
    this.deps.requestExit(UPGRADE_EXIT_CODE);
  }

  private async download(plan: Extract<UpgradePlan, { kind: 'upgrade' }>, file: string, signal: AbortSignal): Promise<void> {
    const client = this.deps.release();
    if (client === null) throw new Error('this agent has no connection to download with');
    const partial = `${file}.partial`;
    const hash = createHash('sha256');
    let received = 0;
    const out = createWriteStream(partial, { mode: 0o600 });
    try {
      await new Promise<void>((resolve, reject) => {
        const call = client.downloadRelease({ version: plan.version, platform: plan.bundle.slice(`mamori-agent-${plan.version}-`.length) });
        const abort = () => call.cancel();
        signal.addEventListener('abort', abort, { once: true });
        call.on('data', (message: DownloadReleaseResponse) => {
          if (Number(message.offset) !== received) {
            call.cancel();
            reject(new Error(`the collector sent bytes at ${message.offset}, expected ${received}`));
            return;
          }
          received += message.data.length;
          if (received > plan.sizeBytes) {
            call.cancel();
            reject(new Error(`the collector sent more than the ${plan.sizeBytes} bytes the policy names`));
            return;
          }
          hash.update(message.data);
          if (!out.write(message.data)) {
            call.pause();
            out.once('drain', () => call.resume());
          }
        });
        call.on('error', (error: grpc.ServiceError) => reject(new Error(`download: ${error.details || error.message}`)));
        call.on('end', () => resolve());
      });
      await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
      if (received !== plan.sizeBytes) throw new Error(`downloaded ${received} bytes, the policy names ${plan.sizeBytes}`);
      const sha256 = hash.digest('hex');
      if (sha256 !== plan.sha256) throw new Error(`the download's SHA-256 is ${sha256}, the policy names ${plan.sha256}`);
      await rename(partial, file);
    } catch (error) {
      out.destroy();
      await rm(partial, { force: true });
      throw error;
    }
  }

  /** This version on trial: confirm once the collector accepted a call, give up past the deadline. */
  private async holdTrial(layout: InstalledLayout, trial: Record<string, string>, signal: AbortSignal): Promise<void> {
    this.onTrial = true;
    this.status.state = 'on-trial';
    this.status.detail = `upgraded from ${trial.FROM_VERSION}; waiting to reach the collector`;
    const startedAtSeconds = Number(trial.STARTED ?? 0);
    const deadlineSeconds = Number(trial.DEADLINE ?? TRIAL_DEADLINE_SECONDS);
    const check = async (): Promise<void> => {
      while (!signal.aborted) {
        const decision = trialDecision({ connected: this.deps.connected(), startedAtSeconds, nowSeconds: Date.now() / 1000, deadlineSeconds });
        if (decision === 'confirm') return this.confirm(layout, trial);
        if (decision === 'give-up') {
          this.deps.logger.error('this version did not reach the collector in time; exiting so the boot script rolls back', { deadlineSeconds });
          this.deps.requestExit(UPGRADE_EXIT_CODE);
          return;
        }
        await sleep(this.deps.trialCheckMs ?? 1_000, signal);
      }
    };
    void check().catch((error: unknown) => this.deps.logger.error('could not end the upgrade trial', { error: (error as Error).message }));
  }

  private async confirm(layout: InstalledLayout, trial: Record<string, string>): Promise<void> {
    const at = String(Math.floor(Date.now() / 1000));
    await writeFileAtomic(join(layout.recordsDir, 'last-upgrade'), formatRecord({ FROM: trial.FROM!, FROM_VERSION: trial.FROM_VERSION!, TO: trial.TO!, TO_VERSION: trial.TO_VERSION!, AT: at }), 0o644);
    await unlink(join(layout.recordsDir, 'trial'));
    await rm(join(layout.recordsDir, 'trial.starts'), { force: true });
    await rm(join(layout.recordsDir, 'rolled-back'), { force: true });
    this.onTrial = false;
    this.rolledBackVersion = null;
    this.status.rolledBack = null;
    this.status.lastUpgrade = `${trial.FROM_VERSION} -> ${trial.TO_VERSION} at ${isoOf(at)}`;
    this.describe(this.plan);
    this.deps.logger.info('agent upgrade confirmed', { from: trial.FROM_VERSION, to: trial.TO_VERSION });
    await this.deps.report(AgentState.AGENT_STATE_UPGRADED, `upgraded from ${trial.FROM_VERSION} to ${trial.TO_VERSION}; ${trial.FROM_VERSION} is kept for a rollback`);
    // Keep this release and the previous one; older ones go.
    for (const name of releasesToPrune(await readdir(layout.releasesDir), [layout.releaseName, trial.FROM!])) {
      await rm(join(layout.releasesDir, name), { recursive: true, force: true });
      this.deps.logger.info('removed an old release', { release: name });
    }
    this.wake?.();
  }
}

/** MAMORI_AGENT_TRIAL_SECONDS (default 900): how long a new version may take to reach the collector. */
export function trialDeadlineSeconds(value = process.env.MAMORI_AGENT_TRIAL_SECONDS): number {
  const parsed = Number(value);
  return value !== undefined && Number.isSafeInteger(parsed) && parsed >= 10 ? parsed : TRIAL_DEADLINE_SECONDS;
}

/** Why the unpacked bundle at `dir` is not `version` intact, or null. */
export async function bundleProblem(dir: string, version: string): Promise<string | null> {
  let found: string;
  try {
    found = (await readFile(join(dir, 'VERSION'), 'utf8')).trim();
  } catch {
    return 'has no VERSION';
  }
  if (found !== version) return `says VERSION ${found}, not ${version}`;
  let manifest: Map<string, string>;
  try {
    manifest = parseManifest(await readFile(join(dir, 'MANIFEST.sha256'), 'utf8'));
  } catch (error) {
    return `has no readable MANIFEST.sha256 (${(error as Error).message})`;
  }
  if (!manifest.has('bin/mamori-agent') || !manifest.has('app/main.js')) return 'has a MANIFEST.sha256 without bin/mamori-agent or app/main.js';
  for (const [path, expected] of manifest) {
    let actual: string;
    try {
      actual = await sha256Of(join(dir, path));
    } catch {
      return `misses ${path}, which MANIFEST.sha256 lists`;
    }
    if (actual !== expected) return `has ${path} differing from MANIFEST.sha256`;
  }
  return null;
}

async function readRecord(path: string): Promise<Record<string, string> | null> {
  try {
    return parseRecord(await readFile(path, 'utf8'));
  } catch {
    return null;
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

function isoOf(epochSeconds: string | undefined): string {
  const seconds = Number(epochSeconds);
  return Number.isFinite(seconds) && seconds > 0 ? new Date(seconds * 1000).toISOString() : 'unknown time';
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.once('error', (error) => reject(new Error(`${command}: ${error.message}`)));
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args[0]} exited ${code}: ${stderr.trim().slice(0, 300)}`))));
  });
}
