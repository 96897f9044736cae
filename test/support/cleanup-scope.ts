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
