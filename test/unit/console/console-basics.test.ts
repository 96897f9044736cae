import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { preferredLanguage } from '../../../server/console/src/lib/bundle';
import { formatBytes, formatTime } from '../../../server/console/src/lib/format';
import { landingPath, visiblePages } from '../../../server/console/src/lib/nav';
import { matchPath, safeReturnPath } from '../../../server/console/src/lib/paths';

describe('console paths', () => {
  test('client routes match with their parameters decoded', () => {
    assert.deepEqual(matchPath('/violations/:id', '/violations/42'), { id: '42' });
    assert.deepEqual(matchPath('/violations/:id', '/violations/a%20b/'), { id: 'a b' });
    assert.equal(matchPath('/violations/:id', '/violations'), null);
    assert.equal(matchPath('/violations/:id', '/violations/1/trail'), null);
    assert.equal(matchPath('/violations/:id', '/audit/1'), null);
    assert.equal(matchPath('/violations/:id', '/violations/%E0%A4%A'), null);
  });

  test('after sign-in only a same-origin console path is followed', () => {
    assert.equal(safeReturnPath('/violations/42?x=1'), '/violations/42?x=1');
    for (const unsafe of ['https://evil.example/', '//evil.example/x', '/\\evil.example', 'javascript:alert(1)', '/signin', '/signin?next=/x', '/api/v1/users', '', null, undefined]) {
      assert.equal(safeReturnPath(unsafe), '/violations', String(unsafe));
    }
  });
});

describe('console language and navigation', () => {
  test('the stored choice wins, then the first of the browser languages that is Japanese or English', () => {
    assert.equal(preferredLanguage(['ja-JP', 'en-US'], null), 'ja');
    assert.equal(preferredLanguage(['fr-FR', 'en-GB', 'ja'], null), 'en');
    assert.equal(preferredLanguage(['de-DE'], null), 'en');
    assert.equal(preferredLanguage(['ja-JP'], 'en'), 'en');
    assert.equal(preferredLanguage(['en-US'], 'ja'), 'ja');
    assert.equal(preferredLanguage(['en-US'], 'xx'), 'en');
  });

  test('each role sees the pages it may read and lands on the first', () => {
    assert.deepEqual(visiblePages(['auditor']).map((p) => p.key), ['violations', 'whitelist', 'usb', 'devices', 'audit', 'users']);
    assert.deepEqual(visiblePages(['approver']).map((p) => p.key), ['whitelist', 'usb', 'users']);
    assert.deepEqual(visiblePages(['it']).map((p) => p.key), ['whitelist', 'usb', 'devices', 'users']);
    assert.equal(landingPath(['security']), '/violations');
    assert.equal(landingPath(['approver']), '/whitelist');
    assert.equal(landingPath([]), '/users');
  });

  test('times read the same in both languages; sizes in binary units', () => {
    const at = new Date(2026, 10, 28, 9, 5, 7);
    assert.equal(formatTime(at, 'en'), '2026-11-28 09:05:07');
    assert.equal(formatTime(at, 'ja'), '2026-11-28 09:05:07');
    assert.equal(formatTime(null), '—');
    assert.equal(formatTime('not a time'), 'not a time');
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(20 * 1024 * 1024), '20 MiB');
  });
});
