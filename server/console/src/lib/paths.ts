/** Client path matching. Pure (no DOM) so it is unit-tested from the root suite. */

/** Matches '/violations/:id' against '/violations/42' → { id: '42' }; null when it does not match. */
export function matchPath(pattern: string, path: string): Record<string, string> | null {
  const want = split(pattern);
  const have = split(path);
  if (want.length !== have.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const part = want[i];
    if (part.startsWith(':')) {
      let value: string;
      try {
        value = decodeURIComponent(have[i]);
      } catch {
        return null;
      }
      params[part.slice(1)] = value;
    } else if (part !== have[i]) {
      return null;
    }
  }
  return params;
}

function split(path: string): string[] {
  return path.split('/').filter((part) => part !== '');
}

/** A same-origin path to return to after sign-in; anything else (other origins, //host, /signin itself) becomes /violations. */
export function safeReturnPath(candidate: string | null | undefined): string {
  if (!candidate || !candidate.startsWith('/') || candidate.startsWith('//') || candidate.startsWith('/\\')) return '/violations';
  if (candidate === '/signin' || candidate.startsWith('/signin?') || candidate.startsWith('/api/')) return '/violations';
  return candidate;
}
