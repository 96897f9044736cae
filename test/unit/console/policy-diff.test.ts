import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { countKinds, groupChanges, lineDiff, nextBeforeOf, pathText, previousVersion, sectionOf, summaryText, valueText, versionsOf } from '../../../server/console/src/pages/whitelist/policy-diff';

describe('policy versions list', () => {
  test('the versions come from {items}, {versions} or a bare array; entries without a version are dropped', () => {
    const item = { version: 3, createdAt: '2031-01-01T00:00:00Z', summary: 'whitelist: 1 added' };
    assert.deepEqual(versionsOf({ items: [item], nextCursor: null }), [item]);
    assert.deepEqual(versionsOf({ versions: [item] }), [item]);
    assert.deepEqual(versionsOf([item, { createdAt: 'x' }, null]), [item]);
    assert.deepEqual(versionsOf({ items: [{ version: '4', publishedAt: '2031-01-02T00:00:00Z' }] }), [{ version: 4, createdAt: '2031-01-02T00:00:00Z', summary: '' }]);
    assert.deepEqual(versionsOf(undefined), []);
  });

  test('older pages follow nextBefore until it is null', () => {
    assert.equal(nextBeforeOf({ items: [], nextBefore: 41 }), 41);
    assert.equal(nextBeforeOf({ items: [], nextBefore: null }), null);
    assert.equal(nextBeforeOf([]), null);
  });

  test('a summary reads as one line whatever its shape', () => {
    assert.equal(summaryText('zones: dev-lan changed'), 'zones: dev-lan changed');
    assert.equal(summaryText(['whitelist: 1 added', 'usb: mode changed']), 'whitelist: 1 added; usb: mode changed');
    assert.equal(summaryText({ added: 2, removed: 0, changed: 1 }), 'added 2, changed 1');
    assert.equal(summaryText(null), '');
  });

  test('the default comparison is with the nearest older version listed', () => {
    const versions = [{ version: 9 }, { version: 7 }, { version: 4 }].map((v) => ({ ...v, createdAt: '', summary: '' }));
    assert.equal(previousVersion(versions, 9), 7);
    assert.equal(previousVersion(versions, 4), 3);
    assert.equal(previousVersion(versions, 1), null);
  });
});

describe('policy diff layout', () => {
  test('paths given as strings or segment lists read the same', () => {
    assert.equal(pathText(['network', 'whitelist', 2, 'ports']), 'network.whitelist[2].ports');
    assert.equal(pathText('usb.unregisteredDeviceMode'), 'usb.unregisteredDeviceMode');
  });

  test('changes in the whitelist, zones and register lists group apart from plain settings', () => {
    assert.equal(sectionOf('network.whitelist[2].ports'), 'network.whitelist');
    assert.equal(sectionOf(['network', 'zones', 0]), 'network.zones');
    assert.equal(sectionOf('usb.unregisteredDeviceMode'), 'usb');
    assert.equal(sectionOf('transfer.watchedFolders[0]'), 'transfer');
    // The collector names list items by their identity.
    assert.equal(sectionOf('network.whitelist[entryId=0c3e2f4a-1b2c-4d5e-8f90-123456789abc].ports'), 'network.whitelist');
    assert.equal(sectionOf('network.zones[name=dev.lan].cidrs'), 'network.zones');
    assert.equal(sectionOf('network.zones[order]'), 'network.zones');
    const groups = groupChanges([
      { path: 'network.whitelist[10].zone', kind: 'changed', before: '', after: 'dev-lan' },
      { path: 'usb.registeredDeviceMode', kind: 'changed', before: 'allow', after: 'read_only' },
      { path: 'network.whitelist[2]', kind: 'added', after: { hostPattern: 'git.example.com' } },
    ]);
    assert.deepEqual(
      groups.map((group) => [group.section, group.changes.map((change) => pathText(change.path))]),
      [
        ['network.whitelist', ['network.whitelist[2]', 'network.whitelist[10].zone']],
        ['usb', ['usb.registeredDeviceMode']],
      ],
    );
  });

  test('kinds are counted for the heading', () => {
    assert.deepEqual(countKinds([{ path: 'a', kind: 'added' }, { path: 'b', kind: 'added' }, { path: 'c', kind: 'removed' }, { path: 'd', kind: 'changed' }]), { added: 2, removed: 1, changed: 1 });
  });

  test('records print with sorted keys so two versions of one record line up', () => {
    assert.equal(valueText({ b: 1, a: { d: 2, c: 3 } }), '{\n  "a": {\n    "c": 3,\n    "d": 2\n  },\n  "b": 1\n}');
    assert.equal(valueText('plain'), 'plain');
    assert.equal(valueText(undefined), '');
    assert.equal(valueText(null), 'null');
  });

  test('a changed record shows the kept lines once and the changed line as removed then added', () => {
    const before = valueText({ hostPattern: 'git.example.com', ports: 443, zone: '' });
    const after = valueText({ hostPattern: 'git.example.com', ports: 443, zone: 'dev-lan' });
    const lines = lineDiff(before, after);
    assert.deepEqual(
      lines.filter((line) => line.kind !== 'same').map((line) => `${line.kind} ${line.text.trim()}`),
      ['removed "zone": ""', 'added "zone": "dev-lan"'],
    );
    assert.equal(lines.filter((line) => line.kind === 'same').length, 4);
  });

  test('an added or removed value is all added or all removed', () => {
    assert.deepEqual(lineDiff('', 'a\nb'), [
      { kind: 'added', text: 'a' },
      { kind: 'added', text: 'b' },
    ]);
    assert.deepEqual(lineDiff('a', ''), [{ kind: 'removed', text: 'a' }]);
  });
});
