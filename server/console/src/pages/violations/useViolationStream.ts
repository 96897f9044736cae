import { useEffect, useRef, useState } from 'react';
import { apiUrl, reportUnauthorized } from '../../api/client';
import type { Violation } from '../../api/types';

export type StreamState = 'connecting' | 'live' | 'offline';

/**
 * Follows GET /api/v1/violations/stream. The browser's EventSource resumes by itself after a
 * dropped connection (sending Last-Event-ID); when the server refuses or ends the stream, a new
 * one is opened after a pause and `onResync` asks the page to reload what it shows, as it does
 * for the server's `resync` event (more changes were missed than it replays). The server's
 * `ended` event (the caller may no longer read the feed) closes it for good when the session ended.
 */
export function useViolationStream(onViolation: (violation: Violation) => void, onResync: () => void): StreamState {
  const [state, setState] = useState<StreamState>('connecting');
  const handlers = useRef({ onViolation, onResync });
  handlers.current = { onViolation, onResync };

  useEffect(() => {
    let source: EventSource | null = null;
    let retry: number | undefined;
    let stopped = false;
    let hadFailure = false;

    const open = () => {
      if (stopped) return;
      setState('connecting');
      source = new EventSource(apiUrl('/violations/stream'), { withCredentials: true });
      source.onopen = () => {
        setState('live');
        if (hadFailure) {
          hadFailure = false;
          handlers.current.onResync();
        }
      };
      source.addEventListener('violation', (event) => {
        try {
          handlers.current.onViolation(JSON.parse((event as MessageEvent<string>).data) as Violation);
        } catch {
          // a message that is not a violation view: nothing to show
        }
      });
      source.addEventListener('resync', () => handlers.current.onResync());
      // The server ended the stream because the caller may no longer read it: signed out or
      // disabled (401: the session shows sign-in with the reason), or the role was taken away
      // (403: try again later like any refusal, which shows the feed as offline).
      source.addEventListener('ended', (event) => {
        let statusCode = 0;
        try {
          statusCode = Number((JSON.parse((event as MessageEvent<string>).data) as { statusCode?: number }).statusCode);
        } catch {
          // no reason given: treated as a refusal
        }
        source?.close();
        source = null;
        setState('offline');
        if (statusCode === 401) {
          stopped = true;
          reportUnauthorized();
          return;
        }
        hadFailure = true;
        retry = window.setTimeout(open, 5000);
      });
      source.onerror = () => {
        if (!source) return;
        if (source.readyState === EventSource.CLOSED) {
          // Refused (401/403/5xx) or not an event stream: EventSource gives up; try again shortly.
          source.close();
          source = null;
          hadFailure = true;
          setState('offline');
          retry = window.setTimeout(open, 5000);
        } else {
          // Reconnecting by itself with Last-Event-ID.
          setState('offline');
        }
      };
    };
    open();
    return () => {
      stopped = true;
      if (retry !== undefined) window.clearTimeout(retry);
      source?.close();
    };
  }, []);

  return state;
}
