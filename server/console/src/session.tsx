import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { api, onUnauthorized, setCsrfToken } from './api/client';
import type { Role } from './lib/roles';

export interface SessionUser {
  id: string;
  username: string;
  displayName: string;
  roles: Role[];
}

interface SessionResponse {
  user: SessionUser;
  csrfToken: string;
  expiresAt: string;
}

type SessionStatus = 'loading' | 'signed-out' | 'signed-in';

interface SessionState {
  status: SessionStatus;
  user: SessionUser | null;
  /** Set when the session ended under the user (401 from a call), to tell them why they see sign-in. */
  expired: boolean;
  /** Set when the user signed out themselves: sign-in then does not offer to return to the page they left. */
  signedOutOnPurpose: boolean;
  signIn: (username: string, password: string) => Promise<void>;
  signOut: () => Promise<void>;
}

const SessionContext = createContext<SessionState | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [status, setStatus] = useState<SessionStatus>('loading');
  const [user, setUser] = useState<SessionUser | null>(null);
  const [expired, setExpired] = useState(false);
  const [signedOutOnPurpose, setSignedOutOnPurpose] = useState(false);

  const accept = useCallback((response: SessionResponse) => {
    setCsrfToken(response.csrfToken);
    setUser(response.user);
    setExpired(false);
    setSignedOutOnPurpose(false);
    setStatus('signed-in');
  }, []);

  useEffect(() => {
    let cancelled = false;
    api.quiet<SessionResponse>('GET', '/auth/session').then(
      (response) => {
        if (!cancelled) accept(response);
      },
      () => {
        if (cancelled) return;
        setCsrfToken(null);
        setStatus('signed-out');
      },
    );
    return () => {
      cancelled = true;
    };
  }, [accept]);

  useEffect(
    () =>
      onUnauthorized(() => {
        setCsrfToken(null);
        setUser(null);
        setExpired(true);
        setStatus('signed-out');
      }),
    [],
  );

  const signIn = useCallback(
    async (username: string, password: string) => {
      const response = await api.quiet<SessionResponse>('POST', '/auth/login', { username, password });
      accept(response);
    },
    [accept],
  );

  const signOut = useCallback(async () => {
    try {
      await api.quiet<void>('POST', '/auth/logout');
    } finally {
      setCsrfToken(null);
      setUser(null);
      setExpired(false);
      setSignedOutOnPurpose(true);
      setStatus('signed-out');
    }
  }, []);

  const value = useMemo(() => ({ status, user, expired, signedOutOnPurpose, signIn, signOut }), [status, user, expired, signedOutOnPurpose, signIn, signOut]);
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

/** The whole session state (App and the sign-in page). */
export function useSessionState(): SessionState {
  const state = useContext(SessionContext);
  if (!state) throw new Error('useSessionState needs <SessionProvider> above it');
  return state;
}

export interface Session {
  user: SessionUser;
  hasRole: (role: Role) => boolean;
  /** True when the user holds at least one of the roles. */
  hasAnyRole: (roles: readonly Role[]) => boolean;
  signOut: () => Promise<void>;
}

/** The signed-in user, for pages (which only render when someone is signed in). */
export function useSession(): Session {
  const state = useSessionState();
  const user = state.user;
  if (!user) throw new Error('useSession is for pages shown to a signed-in user');
  return useMemo(
    () => ({
      user,
      hasRole: (role: Role) => user.roles.includes(role),
      hasAnyRole: (roles: readonly Role[]) => roles.some((role) => user.roles.includes(role)),
      signOut: state.signOut,
    }),
    [user, state.signOut],
  );
}
