import type { CleanupScope } from './cleanup-scope';

/**
 * Tests that need something a plain laptop may lack (PostgreSQL, root, Chromium…) call this
 * when the prerequisite is missing. On a laptop the test is skipped with the reason printed;
 * in CI (CI=true) a missing prerequisite is a failure, because .ci/run installs them all.
 */
export function skipOrFail(t: CleanupScope, reason: string): void {
  if (process.env.CI === 'true') {
    throw new Error(`prerequisite missing in CI: ${reason}`);
  }
  t.skip(`skipped: ${reason}`);
}
