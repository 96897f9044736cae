/**
 * What test helpers need from a test context: a place to register cleanup, and a way to skip.
 * node:test's TestContext has both; `suiteScope()` gives the same to a describe() block whose
 * tests share one expensive fixture (a running collector), cleaned up in its after() hook.
 */
export interface CleanupScope {
  after(fn: () => unknown): void;
  skip(message?: string): void;
}

export function suiteScope(): CleanupScope & { cleanup(): Promise<void>; skipped: string | null } {
  const hooks: Array<() => unknown> = [];
  const scope = {
    skipped: null as string | null,
    after: (fn: () => unknown) => void hooks.push(fn),
    skip: (message?: string) => {
      scope.skipped = message ?? 'skipped';
    },
    // Newest first, like a stack: a process is stopped before its data folder goes.
    cleanup: async () => {
      for (const hook of hooks.splice(0).reverse()) {
        try {
          await hook();
        } catch (error) {
          console.error('cleanup failed:', error);
        }
      }
    },
  };
  return scope;
}

const stacks = new WeakMap<CleanupScope, Array<() => unknown>>();

/**
 * Registers `fn` to run when `t` ends, for helpers that start things (databases, processes,
 * folders). node:test runs a test's after hooks first to last and skips every later hook once
 * one throws, so a folder registered before the process that writes into it would go first, and
 * one failed removal would leave the collector and agents running (the test file then never
 * exits). Everything registered here runs in one hook instead: newest first, like a stack (a
 * process stops before its data folder goes), each one even when an earlier one failed; a
 * failure is printed, not thrown, so the test's own later hooks still run.
 */
export function deferCleanup(t: CleanupScope, fn: () => unknown): void {
  let stack = stacks.get(t);
  if (stack === undefined) {
    const hooks: Array<() => unknown> = [];
    stack = hooks;
    stacks.set(t, hooks);
    t.after(async () => {
      stacks.delete(t);
      for (const hook of hooks.splice(0).reverse()) {
        try {
          await hook();
        } catch (error) {
          console.error('test cleanup failed (what it would have removed may be left behind):', error);
        }
      }
    });
  }
  stack.push(fn);
}
