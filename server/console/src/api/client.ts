import { useCallback, useEffect, useRef, useState } from 'react';

/**
 * REST access for every page. Paths may be given as '/violations' (prefixed with /api/v1) or as a
 * full '/api/...' path. Cookies go along (same origin); every non-GET request carries the
 * session's CSRF token. Failures throw ApiError with the server's message.
 */

export class ApiError extends Error {
  readonly status: number;
  readonly requiredRoles?: string[];
  readonly heldRoles?: string[];
  readonly retryAfterSeconds?: number;
  readonly body: unknown;

  constructor(
    status: number,
    message: string,
    extra: { requiredRoles?: string[]; heldRoles?: string[]; retryAfterSeconds?: number; body?: unknown } = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.requiredRoles = extra.requiredRoles;
    this.heldRoles = extra.heldRoles;
    this.retryAfterSeconds = extra.retryAfterSeconds;
    this.body = extra.body;
  }
}

let csrfToken: string | null = null;
const unauthorizedListeners = new Set<() => void>();

/** Set by the session when it signs in or loads; sent as X-CSRF-Token on every change. */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** Called when any request comes back 401 (the session ended): the session then shows sign-in. */
export function onUnauthorized(listener: () => void): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

/** For answers that do not come through request() (the violation stream): the session ended. */
export function reportUnauthorized(): void {
  for (const listener of unauthorizedListeners) listener();
}

export function apiUrl(path: string): string {
  if (path.startsWith('/api/')) return path;
  return `/api/v1${path.startsWith('/') ? path : `/${path}`}`;
}

async function request<T>(method: string, path: string, body?: unknown, options: { quiet401?: boolean } = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  // A file goes as its bytes (uploads); anything else as JSON.
  const raw = body instanceof Blob;
  if (raw) headers['Content-Type'] = body.type || 'application/octet-stream';
  else if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  let response: Response;
  try {
    response = await fetch(apiUrl(path), {
      method,
      headers,
      credentials: 'same-origin',
      body: raw ? body : body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError(0, `the collector could not be reached (${error instanceof Error ? error.message : String(error)})`);
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let parsed: unknown = undefined;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  if (!response.ok) {
    const record = (parsed && typeof parsed === 'object' ? parsed : {}) as Record<string, unknown>;
    const rawMessage = record.message;
    const message = Array.isArray(rawMessage)
      ? rawMessage.join('; ')
      : typeof rawMessage === 'string'
        ? rawMessage
        : typeof parsed === 'string' && parsed
          ? parsed
          : `${method} ${apiUrl(path)} failed with HTTP ${response.status}`;
    const retryAfter = Number(response.headers.get('Retry-After'));
    const error = new ApiError(response.status, message, {
      requiredRoles: Array.isArray(record.requiredRoles) ? (record.requiredRoles as string[]) : undefined,
      heldRoles: Array.isArray(record.heldRoles) ? (record.heldRoles as string[]) : undefined,
      retryAfterSeconds: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
      body: parsed,
    });
    if (response.status === 401 && !options.quiet401) reportUnauthorized();
    throw error;
  }
  return parsed as T;
}

export const api = {
  get<T>(path: string): Promise<T> {
    return request<T>('GET', path);
  },
  send<T>(method: 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<T> {
    return request<T>(method, path, body);
  },
  /** POSTs a file's bytes as the body (its type, or application/octet-stream). */
  upload<T>(path: string, file: Blob): Promise<T> {
    return request<T>('POST', path, file);
  },
    /** For the session itself: a 401 here means "not signed in", not "session ended". */
  quiet<T>(method: string, path: string, body?: unknown): Promise<T> {
    return request<T>(method, path, body, { quiet401: true });
  },
};

export interface ApiState<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Loads `path` (null: nothing yet) and again whenever it changes or reload() is called. Keeps the last data while reloading. */
export function useApi<T>(path: string | null): ApiState<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState<boolean>(path !== null);
  const [generation, setGeneration] = useState(0);
  const latest = useRef(0);

  useEffect(() => {
    if (path === null) {
      setLoading(false);
      return;
    }
    const ticket = ++latest.current;
    setLoading(true);
    api.get<T>(path).then(
      (value) => {
        if (ticket !== latest.current) return;
        setData(value);
        setError(undefined);
        setLoading(false);
      },
      (failure: unknown) => {
        if (ticket !== latest.current) return;
        setError(failure);
        setLoading(false);
      },
    );
  }, [path, generation]);

  const reload = useCallback(() => setGeneration((n) => n + 1), []);
  return { data, error, loading, reload };
}
