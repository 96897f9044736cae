import { existsSync, realpathSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { bundleTopOf } from '../state/install-integrity';

/** Where an installed bundle lives (install.sh's layout): <prefix>/releases/<name>/, <prefix>/current, <prefix>/boot. */
export interface InstalledLayout {
  prefix: string;
  releasesDir: string;
  /** The running release's folder name, mamori-agent-<version>-<platform>. */
  releaseName: string;
  /** Records shared with the boot script (trial, trial.starts, rolled-back, last-upgrade). */
  recordsDir: string;
}

/**
 * The installed layout this agent runs from, or why it cannot replace itself: it must run on
 * Linux from <prefix>/releases/<name>/ with <prefix>/current naming that folder and the boot script
 * installed at <prefix>/boot/mamori-agent-boot (the only part that can roll a broken version back).
 */
export function detectInstalledLayout(bundleTop: string = bundleTopOf(), platform: NodeJS.Platform = process.platform): InstalledLayout | { problem: string } {
  if (platform !== 'linux') return { problem: `self-upgrade is implemented for Linux only (this is ${platform}); install the new bundle with its installer` };
  if (!existsSync(join(bundleTop, 'MANIFEST.sha256'))) return { problem: 'the agent does not run from an installed bundle (a source checkout or a development build)' };
  const releasesDir = dirname(bundleTop);
  if (basename(releasesDir) !== 'releases') return { problem: `the bundle at ${bundleTop} was not installed by install.sh (no <prefix>/releases/<name>/ layout); run install.sh` };
  const prefix = dirname(releasesDir);
  let current: string;
  try {
    current = realpathSync(join(prefix, 'current'));
  } catch {
    return { problem: `${join(prefix, 'current')} does not exist; run install.sh again` };
  }
  if (current !== realpathSync(bundleTop)) return { problem: `${join(prefix, 'current')} names ${current}, not the running release ${bundleTop}` };
  if (!existsSync(join(prefix, 'boot', 'mamori-agent-boot'))) {
    return { problem: `${join(prefix, 'boot', 'mamori-agent-boot')} is missing (installed before upgrades existed): run install.sh of this version once, then the service starts through it` };
  }
  return { prefix, releasesDir, releaseName: basename(bundleTop), recordsDir: join(prefix, 'upgrade') };
}
