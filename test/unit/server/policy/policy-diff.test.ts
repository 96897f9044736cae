import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { diffDocuments, summarizeChanges } from '../../../../server/src/modules/policy/policy-diff';

const entry = (entryId: string, ports: Array<{ first: number; last: number }>, hostPattern = `${entryId}.example.com`) => ({
  entryId,
  hostPattern,
  cidr: '',
  ports,
  protocol: 1,
  zone: '',
});

const documentWith = (overrides: { whitelist?: unknown[]; zones?: unknown[]; unregisteredDeviceMode?: number; watchedFolders?: string[] } = {}) => ({
  network: { zones: overrides.zones ?? [], whitelist: overrides.whitelist ?? [] },
  transfer: { watchedFolders: overrides.watchedFolders ?? [], inspectionByteBudget: 0, inspectionTimeBudgetMillis: 0 },
  usb: { unregisteredDeviceMode: overrides.unregisteredDeviceMode ?? 2, registeredDevices: [], exceptions: [] },
});

describe('policy document diff', () => {
  test('identical documents have no changes', () => {
    assert.deepEqual(diffDocuments(documentWith({ whitelist: [entry('e1', [{ first: 443, last: 443 }])] }), documentWith({ whitelist: [entry('e1', [{ first: 443, last: 443 }])] })), []);
  });

  test('an entry edited in place is one change inside it, addressed by its id, not a removal and an addition', () => {
    const before = documentWith({ whitelist: [entry('e1', [{ first: 443, last: 443 }]), entry('e2', [])] });
    const after = documentWith({ whitelist: [entry('e1', [{ first: 443, last: 443 }, { first: 8443, last: 8443 }]), entry('e2', [])] });
    assert.deepEqual(diffDocuments(before, after), [
      { path: 'network.whitelist[entryId=e1].ports', kind: 'changed', before: [{ first: 443, last: 443 }], after: [{ first: 443, last: 443 }, { first: 8443, last: 8443 }] },
    ]);
  });

  test('entries added and removed are whole items; a setting changed is one change at its path', () => {
    const before = documentWith({ whitelist: [entry('e1', []), entry('e2', [])], unregisteredDeviceMode: 2 });
    const after = documentWith({ whitelist: [entry('e2', []), entry('e3', [])], unregisteredDeviceMode: 4 });
    const changes = diffDocuments(before, after);
    assert.deepEqual(changes, [
      { path: 'network.whitelist[entryId=e1]', kind: 'removed', before: entry('e1', []) },
      { path: 'network.whitelist[entryId=e3]', kind: 'added', after: entry('e3', []) },
      { path: 'usb.unregisteredDeviceMode', kind: 'changed', before: 2, after: 4 },
    ]);
    assert.equal(summarizeChanges(changes), 'network.whitelist: 1 added, 1 removed; usb.unregisteredDeviceMode: changed');
  });

  test('zones are matched by name, and a reordering (zones are tried in order) is reported as the list order', () => {
    const office = { name: 'office', cidrs: ['10.0.0.0/8'], dnsSuffixes: [], mode: 1 };
    const lab = { name: 'lab', cidrs: ['192.168.0.0/16'], dnsSuffixes: [], mode: 2 };
    const changes = diffDocuments(documentWith({ zones: [office, lab] }), documentWith({ zones: [lab, { ...office, cidrs: ['10.0.0.0/16'] }] }));
    assert.deepEqual(changes, [
      { path: 'network.zones[name=office].cidrs', kind: 'changed', before: ['10.0.0.0/8'], after: ['10.0.0.0/16'] },
      { path: 'network.zones[order]', kind: 'changed', before: ['office', 'lab'], after: ['lab', 'office'] },
    ]);
  });

  test('lists of plain values and lists of items without a distinct id are compared as one value', () => {
    assert.deepEqual(diffDocuments(documentWith({ watchedFolders: ['/srv/a'] }), documentWith({ watchedFolders: ['/srv/a', '/srv/b'] })), [
      { path: 'transfer.watchedFolders', kind: 'changed', before: ['/srv/a'], after: ['/srv/a', '/srv/b'] },
    ]);
    // Two items share the id: matching by it would lose one, so the list is one value.
    const duplicated = [entry('same', []), entry('same', [{ first: 22, last: 22 }])];
    assert.deepEqual(diffDocuments({ list: duplicated }, { list: [entry('same', [])] }), [{ path: 'list', kind: 'changed', before: duplicated, after: [entry('same', [])] }]);
  });

  test('a section missing from an older document (versions before the network part) shows as added', () => {
    const old = { usb: { unregisteredDeviceMode: 2 } };
    const changes = diffDocuments(old, { usb: { unregisteredDeviceMode: 2 }, network: { zones: [], whitelist: [] } });
    assert.deepEqual(changes, [{ path: 'network', kind: 'added', after: { zones: [], whitelist: [] } }]);
  });

  test('several changes inside one entry count once for that entry in the summary', () => {
    const changes = diffDocuments(
      documentWith({ whitelist: [entry('e1', [], 'a.example.com')] }),
      documentWith({ whitelist: [entry('e1', [{ first: 1, last: 2 }], 'b.example.com')] }),
    );
    assert.equal(changes.length, 2);
    assert.equal(summarizeChanges(changes), 'network.whitelist: 1 changed');
    assert.equal(summarizeChanges([]), '');
  });
});
