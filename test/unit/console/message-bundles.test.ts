import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { bundleProblems, type Bundle } from '../../../server/console/src/lib/bundle';
import { messages as app } from '../../../server/console/src/messages';
import { messages as audit } from '../../../server/console/src/pages/audit/messages';
import { messages as devices } from '../../../server/console/src/pages/devices/messages';
import { messages as shared } from '../../../server/console/src/pages/shared/messages';
import { messages as signin } from '../../../server/console/src/pages/signin/messages';
import { messages as usb } from '../../../server/console/src/pages/usb/messages';
import { messages as users } from '../../../server/console/src/pages/users/messages';
import { messages as violations } from '../../../server/console/src/pages/violations/messages';
import { messages as whitelist } from '../../../server/console/src/pages/whitelist/messages';

/** Every bundle, by its file under server/console/src. */
const BUNDLES: Record<string, Bundle> = {
  'messages.ts': app,
  'pages/audit/messages.ts': audit,
  'pages/devices/messages.ts': devices,
  'pages/shared/messages.ts': shared,
  'pages/signin/messages.ts': signin,
  'pages/usb/messages.ts': usb,
  'pages/users/messages.ts': users,
  'pages/violations/messages.ts': violations,
  'pages/whitelist/messages.ts': whitelist,
};

/** server/console/src, found from the compiled test (dist/test/unit/console) or the working folder. */
function consoleSource(): string | null {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    const candidate = join(dir, 'server', 'console', 'src');
    if (existsSync(join(candidate, 'main.tsx'))) return candidate;
  }
  const fromCwd = join(process.cwd(), 'server', 'console', 'src');
  return existsSync(join(fromCwd, 'main.tsx')) ? fromCwd : null;
}

function messageFiles(root: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name === 'messages.ts') found.push(relative(root, path).split(sep).join('/'));
    }
  };
  walk(root);
  return found.sort();
}

/** Every string of a bundle half (functions called with sample arguments), with its key. */
function texts(dict: object, prefix = ''): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [key, value] of Object.entries(dict)) {
    const name = prefix ? `${prefix}.${key}` : key;
    if (typeof value === 'string') out.push([name, value]);
    else if (typeof value === 'function') out.push([name, String((value as (...args: unknown[]) => unknown)(...Array.from({ length: value.length }, (_, i) => i + 1)))]);
    else if (value && typeof value === 'object') out.push(...texts(value, name));
  }
  return out;
}

const JAPANESE = /[\u3040-\u30ff\u3400-\u9fff]/;

describe('console message bundles', () => {
  test('the checker finds a key missing in one language, a kind mismatch, an argument mismatch and empty text', () => {
    const problems = bundleProblems({
      en: { a: 'A', b: 'B', nested: { c: 'C' }, f: (n: number) => `${n}`, e: 'E' },
      ja: { a: 'あ', nested: { c: () => 'し', d: 'で' }, f: () => 'ふ', e: ' ' },
    } as unknown as Bundle);
    assert.deepEqual(problems, ['b: missing in ja', 'e: empty text', 'f: en takes 1 arguments, ja takes 0', 'nested.c: en is a string, ja is a function', 'nested.d: missing in en']);
  });

  for (const [file, bundle] of Object.entries(BUNDLES)) {
    test(`${file}: English and Japanese have the same keys, kinds and arguments`, () => {
      assert.deepEqual(bundleProblems(bundle), []);
    });

    test(`${file}: the Japanese half is written in Japanese`, () => {
      const all = texts(bundle.ja);
      const english = texts(bundle.en);
      const untranslated = all.filter(([key, text]) => !JAPANESE.test(text) && english.find(([k]) => k === key)?.[1] === text && /[a-z]{3,}\s+[a-z]{3,}/i.test(text));
      assert.deepEqual(untranslated, [], 'Japanese texts left as the English sentence');
      const japanese = all.filter(([, text]) => JAPANESE.test(text)).length;
      assert.ok(japanese / all.length >= 0.6, `only ${japanese} of ${all.length} Japanese texts contain Japanese`);
    });
  }

  test('every messages.ts of the console is checked here', (t) => {
    const root = consoleSource();
    if (root === null) {
      t.skip('server/console/src is not reachable from this test run');
      return;
    }
    assert.deepEqual(messageFiles(root), Object.keys(BUNDLES).sort());
  });
});
