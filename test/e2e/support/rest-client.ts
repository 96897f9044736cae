import { describeRunningProcesses } from '../../support/processes';

const REQUEST_TIMEOUT_MS = 60_000;

/** A small client for the collector's REST API, as a script or the console would use it. */
export class RestClient {
  constructor(readonly baseUrl: string, private readonly token: string) {}

  async request<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    // Bounded: a collector that stopped answering fails the call instead of holding the test
    // (and its cleanup) for fetch's own five-minute limits.
    const signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
    let text: string;
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
      text = await response.text();
    } catch (error) {
      if (signal.aborted) throw new Error(`${method} ${path}: no answer within ${REQUEST_TIMEOUT_MS / 1000} s`);
      throw error;
    }
    let parsed: unknown = text;
    try {
      parsed = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      // Not JSON: keep the text so a failing assertion shows what came back.
    }
    return { status: response.status, body: parsed as T };
  }

  /** Like request, but a status other than `expected` is an error that shows the body. */
  async expect<T = any>(expected: number, method: string, path: string, body?: unknown): Promise<T> {
    const result = await this.request<T>(method, path, body);
    if (result.status !== expected) {
      throw new Error(`${method} ${path}: expected ${expected}, got ${result.status}: ${JSON.stringify(result.body)}`);
    }
    return result.body;
  }
}

/** Polls `probe` until it returns a value that is not undefined, or fails with `what` after the timeout. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}\n${describeRunningProcesses()}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
