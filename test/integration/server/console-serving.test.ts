import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from '../../support/temp-dir';
import { ADMIN_TOKEN, startTestCollector } from './collector-harness';

/*
 * The collector serves the built console at / (server/src/modules/console). The console itself is
 * not database-bound, so SQLite suffices. The build here is a stand-in folder shaped like Vite's
 * output, so the test does not depend on a console build having run.
 */

const INDEX_HTML = '<!doctype html><html><head><script type="module" src="/assets/index-Ab12Cd34.js"></script></head><body><div id="root" data-marker="console-index"></div></body></html>';
const SCRIPT = 'console.log("mamori console");\n';
const STYLE = 'body { color: #1d232b; }\n';

function fakeBuild(t: { after(fn: () => void): void }): string {
  const temp = makeTempDir('mamori-console-');
  t.after(() => temp.cleanup());
  const dir = join(temp.path, 'console');
  mkdirSync(join(dir, 'assets'), { recursive: true });
  writeFileSync(join(dir, 'index.html'), INDEX_HTML);
  writeFileSync(join(dir, 'assets', 'index-Ab12Cd34.js'), SCRIPT);
  writeFileSync(join(dir, 'assets', 'index-Ef56Gh78.css'), STYLE);
  // Beside the console folder, not in it: must never be reachable.
  writeFileSync(join(temp.path, 'secret.txt'), 'not-for-the-browser');
  return dir;
}

function assertSecurityHeaders(response: Response, what: string): void {
  const csp = response.headers.get('content-security-policy') ?? '';
  for (const directive of ["default-src 'self'", "connect-src 'self'", "style-src 'self'", "img-src 'self' data:", "frame-ancestors 'none'"]) {
    assert.ok(csp.split(';').map((part) => part.trim()).includes(directive), `${what}: CSP "${csp}" lacks ${directive}`);
  }
  assert.ok(!csp.includes('unsafe-inline') && !csp.includes('unsafe-eval'), `${what}: CSP allows inline or eval: ${csp}`);
  assert.equal(response.headers.get('x-content-type-options'), 'nosniff', what);
  assert.equal(response.headers.get('referrer-policy'), 'no-referrer', what);
}

describe('console serving', () => {
  test('index.html at / and at client routes, hashed assets cached for long, the REST API untouched', async (t) => {
    const dir = fakeBuild(t);
    const sut = (await startTestCollector(t, 'sqlite', { MAMORI_CONSOLE_DIR: dir }))!;

    for (const path of ['/', '/violations', '/violations/123', '/audit?since=2026-11-01T00:00:00Z', '/whitelist/']) {
      const response = await fetch(`${sut.httpBase}${path}`);
      const body = await response.text();
      assert.equal(response.status, 200, `${path}: ${body}`);
      assert.match(response.headers.get('content-type') ?? '', /^text\/html/, path);
      assert.ok(body.includes('data-marker="console-index"'), `${path} did not answer index.html: ${body.slice(0, 200)}`);
      assert.equal(response.headers.get('cache-control'), 'no-cache', `${path}: index.html must be revalidated so a new build shows at once`);
      assertSecurityHeaders(response, path);
    }

    const head = await fetch(`${sut.httpBase}/violations/123`, { method: 'HEAD' });
    assert.equal(head.status, 200);

    const script = await fetch(`${sut.httpBase}/assets/index-Ab12Cd34.js`);
    assert.equal(script.status, 200);
    assert.match(script.headers.get('content-type') ?? '', /^(text|application)\/javascript/);
    assert.equal(script.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal(await script.text(), SCRIPT);
    assertSecurityHeaders(script, 'script');

    const style = await fetch(`${sut.httpBase}/assets/index-Ef56Gh78.css`);
    assert.equal(style.status, 200);
    assert.match(style.headers.get('content-type') ?? '', /^text\/css/);
    assert.equal(await style.text(), STYLE);

    // A missing asset is a 404, not index.html served as JavaScript.
    const missing = await fetch(`${sut.httpBase}/assets/index-gone0000.js`);
    assert.equal(missing.status, 404);
    assert.doesNotMatch(await missing.text(), /console-index/);

    // Nothing outside the console folder, however the path is spelled.
    for (const path of ['/..%2fsecret.txt', '/assets/..%2f..%2fsecret.txt', '/%2e%2e/secret.txt']) {
      const response = await fetch(`${sut.httpBase}${path}`);
      const body = await response.text();
      assert.ok(!body.includes('not-for-the-browser'), `${path} answered a file outside the console folder`);
    }

    // REST routes keep answering JSON, authenticated or not.
    const health = await fetch(`${sut.httpBase}/api/v1/health`);
    assert.equal(health.status, 200);
    assert.match(health.headers.get('content-type') ?? '', /application\/json/);

    const violations = await sut.rest('GET', '/api/v1/violations');
    assert.equal(violations.status, 200);
    assert.deepEqual(violations.body.items, []);

    const anonymous = await fetch(`${sut.httpBase}/api/v1/violations`);
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.headers.get('content-type') ?? '', /application\/json/);

    for (const path of ['/api/v1/no-such-thing', '/api/v1/violations/00000000-0000-4000-8000-000000000000/nothing', '/api']) {
      const response = await fetch(`${sut.httpBase}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      assert.equal(response.status, 404, path);
      assert.match(response.headers.get('content-type') ?? '', /application\/json/, `${path} must stay a JSON 404`);
      const body = (await response.json()) as { statusCode: number; message: string };
      assert.equal(body.statusCode, 404, path);
    }
  });

  test('503 with what to do when the console has not been built; the API still works', async (t) => {
    const temp = makeTempDir('mamori-console-missing-');
    t.after(() => temp.cleanup());
    const dir = join(temp.path, 'not-built');
    const sut = (await startTestCollector(t, 'sqlite', { MAMORI_CONSOLE_DIR: dir }))!;

    for (const path of ['/', '/violations/123']) {
      const response = await fetch(`${sut.httpBase}${path}`);
      const body = await response.text();
      assert.equal(response.status, 503, path);
      assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
      assert.match(body, /console has not been built/);
      assert.ok(body.includes(join(dir, 'index.html')), `the message names the missing file: ${body}`);
      assert.match(body, /npm run build/);
      assert.match(body, /MAMORI_CONSOLE_DIR/);
    }
    assert.ok(sut.logs.some((line) => line.includes('console not built')), 'the collector logs that the console is missing');

    const health = await fetch(`${sut.httpBase}/api/v1/health`);
    assert.equal(health.status, 200);
  });
});
