import { existsSync, statSync } from 'node:fs';
import { extname, isAbsolute, join, normalize, relative, resolve, sep } from 'node:path';

/**
 * Where the built console is and what to answer for a path. Kept apart from the controller so the
 * decisions (file, fallback to index.html, caching) read in one place.
 */

/** Content-Security-Policy of every console response: the app's own files only, nothing inline, not framed. */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "connect-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Hashed build output (assets/index-B0ycNNRM.js) never changes under its name. */
export const IMMUTABLE_CACHE = 'public, max-age=31536000, immutable';
/** index.html and unhashed files: always ask again, so a new build is picked up at once. */
export const REVALIDATE_CACHE = 'no-cache';

/**
 * The folder holding index.html: the configured one, else dist/console next to the compiled
 * collector (this file is dist/server/src/modules/console/), else <repo>/dist/console when run
 * from source.
 */
export function consoleDirectory(configured: string | undefined, here: string = __dirname): string {
  if (configured !== undefined) return configured;
  const candidates = [resolve(here, '..', '..', '..', '..', 'console'), resolve(here, '..', '..', '..', '..', 'dist', 'console')];
  return candidates.find((dir) => existsSync(join(dir, 'index.html'))) ?? candidates[0];
}

export type ConsoleAnswer =
  | { kind: 'pass' }
  | { kind: 'not-built'; indexFile: string }
  | { kind: 'file'; file: string; cacheControl: string }
  | { kind: 'missing-file'; urlPath: string };

/**
 * What to send for a GET of `urlPath` (no query): /api/* passes on to the REST routes; a file
 * of the build is sent; a path that names a file (has an extension, or is under /assets/) and
 * is not there is a 404; every other path is a client route and gets index.html.
 */
export function consoleAnswer(dir: string, urlPath: string): ConsoleAnswer {
  if (urlPath === '/api' || urlPath.startsWith('/api/')) return { kind: 'pass' };
  const indexFile = join(dir, 'index.html');
  if (!isFile(indexFile)) return { kind: 'not-built', indexFile };

  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return { kind: 'missing-file', urlPath };
  }
  if (decoded.includes('\0')) return { kind: 'missing-file', urlPath };
  const wanted = normalize(join(dir, decoded));
  const inside = relative(dir, wanted);
  const contained = inside !== '' && !inside.startsWith('..') && !isAbsolute(inside) && !inside.split(sep).some((part) => part.startsWith('.'));
  if (contained && isFile(wanted)) {
    const hashed = inside.startsWith(`assets${sep}`);
    return { kind: 'file', file: wanted, cacheControl: hashed ? IMMUTABLE_CACHE : REVALIDATE_CACHE };
  }
  if (decoded.startsWith('/assets/') || extname(decoded) !== '') return { kind: 'missing-file', urlPath };
  return { kind: 'file', file: indexFile, cacheControl: REVALIDATE_CACHE };
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

export function notBuiltMessage(indexFile: string): string {
  return (
    `The mamori console has not been built: ${indexFile} does not exist.\n` +
    'Build it with "npm run build" (or "npx vite build --config server/console/vite.config.mts" from the source folder), ' +
    'or point MAMORI_CONSOLE_DIR at a folder holding a built console, then reload.\n' +
    'The REST API under /api/v1 works without it.\n'
  );
}
