import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deferCleanup, type CleanupScope } from '../../support/cleanup-scope';

/** A scope that records its after hooks and runs them first to last, stopping at a throw, as node:test does. */
function nodeTestLikeScope() {
  const hooks: Array<() => unknown> = [];
  return {
    scope: { after: (fn: () => unknown) => void hooks.push(fn), skip: () => undefined } satisfies CleanupScope,
    async end(): Promise<void> {
      for (const hook of hooks) await hook();
    },
  };
}

test('helper cleanups run newest first in one hook, each even after an earlier one failed; the test\'s later hooks still run', async (t) => {
  const { scope, end } = nodeTestLikeScope();
  const ran: string[] = [];
  scope.after(() => ran.push('test hook before'));
  deferCleanup(scope, () => ran.push('remove the data folder'));
  deferCleanup(scope, () => {
    ran.push('stop the collector');
    throw new Error('ENOTEMPTY');
  });
  deferCleanup(scope, async () => ran.push('stop the agent'));
  scope.after(() => ran.push('test hook after'));
  const errors: unknown[][] = [];
  t.mock.method(console, 'error', (...args: unknown[]) => void errors.push(args));
  await end();
  assert.deepEqual(ran, ['test hook before', 'stop the agent', 'stop the collector', 'remove the data folder', 'test hook after']);
  assert.equal(errors.length, 1);
  assert.match(String(errors[0]![1]), /ENOTEMPTY/);
});
