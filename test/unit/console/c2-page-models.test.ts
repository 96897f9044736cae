import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { capabilitiesOf, capabilityAreas, capabilityCounts, contactState, factsOf, ledgerByAgent, policyStanding, postureOf, postureVerdict, tokenBody as enrollmentTokenBody, type LedgerDevice } from '../../../server/console/src/pages/devices/devices-model';
import { exceptionActions, exceptionBody, exceptionState, normalizeHexId, registerBody, registerPatch, type RegisterEntry } from '../../../server/console/src/pages/usb/usb-model';
import { enabledAdmins, itemsOf, newUserBody, orderedRoles, passwordProblems, sameRoles, toggleRole, tokenBody, tokenState, userPatch, type UserView } from '../../../server/console/src/pages/users/users-model';

const NOW = new Date('2031-01-10T12:00:00Z');

describe('USB register form', () => {
  const form = { vendorId: '0x0781', productId: '5567', serial: ' 4C530001 ', descriptorHash: '', label: 'Sales stick 12', holder: 'Hanako Yamada', department: 'Sales' };

  test('ids are sent as four lower-case hex digits (0x accepted), text trimmed, no hash when none given', () => {
    assert.deepEqual(registerBody({ ...form, productId: '55AB' }), { ok: true, body: { vendorId: '0781', productId: '55ab', serial: '4C530001', label: 'Sales stick 12', holder: 'Hanako Yamada', department: 'Sales' } });
    assert.equal(normalizeHexId(' 0X1d6b '), '1d6b');
  });

  test('any vendor needs any product too, as in USBGuard; bad ids, hash and missing fields are named', () => {
    assert.deepEqual(registerBody({ ...form, vendorId: '*', productId: '*' }).ok, true);
    const wrong = registerBody({ ...form, vendorId: '*', productId: '5567', serial: '', descriptorHash: 'abc', holder: 'x'.repeat(257) });
    assert.deepEqual(wrong.ok ? [] : wrong.problems.map((p) => `${p.field}:${p.problem}`), ['productId:wildcardPair', 'serial:required', 'holder:tooLong', 'descriptorHash:hash']);
    const bad = registerBody({ ...form, vendorId: '781', productId: 'zzzz' });
    assert.deepEqual(bad.ok ? [] : bad.problems.map((p) => `${p.field}:${p.problem}`), ['vendorId:hex4OrAny', 'productId:hex4OrAny']);
  });

  test('an edit sends only the changed label, holder or department', () => {
    const entry: RegisterEntry = { id: 'r1', vendorId: '0781', productId: '5567', serial: 's', descriptorHash: null, label: 'Sales stick 12', holder: 'Hanako Yamada', department: null, createdAt: '', updatedAt: '' };
    assert.equal(registerPatch(entry, { label: 'Sales stick 12', holder: 'Hanako Yamada', department: '' }), null);
    assert.deepEqual(registerPatch(entry, { label: 'Sales stick 12', holder: 'Taro Suzuki', department: 'Accounting' }), { holder: 'Taro Suzuki', department: 'Accounting' });
  });
});

describe('USB exception form and states', () => {
  const agentId = '0b7c6a1e-6f3a-4c2e-9a4b-2b1f4f7e9d10';
  const base = { vendorId: '0781', productId: '5567', serial: 'S1', agentId, userName: '', notBefore: null, notAfter: '2031-01-12T18:00:00.000Z', justification: 'workshop', mode: 'read_only' };

  test('a request names one device (no wildcards) on one agent; a start left empty means now', () => {
    assert.deepEqual(exceptionBody(base, NOW), { ok: true, body: { vendorId: '0781', productId: '5567', serial: 'S1', agentId, notAfter: '2031-01-12T18:00:00.000Z', justification: 'workshop', mode: 'read_only' } });
    const withUser = exceptionBody({ ...base, userName: ' alice ', notBefore: '2031-01-11T09:00:00.000Z' }, NOW);
    assert.equal(withUser.ok && withUser.body.userName, 'alice');
    assert.equal(withUser.ok && withUser.body.notBefore, '2031-01-11T09:00:00.000Z');
  });

  test('the period must end in the future and after its start; wildcards and a missing agent are refused', () => {
    const problems = (form: Parameters<typeof exceptionBody>[0]) => {
      const result = exceptionBody(form, NOW);
      return result.ok ? [] : result.problems.map((p) => `${p.field}:${p.problem}`);
    };
    assert.deepEqual(problems({ ...base, notAfter: '2031-01-09T00:00:00.000Z' }), ['notAfter:past']);
    assert.deepEqual(problems({ ...base, notBefore: '2031-01-13T00:00:00.000Z' }), ['notAfter:endBeforeStart']);
    assert.deepEqual(problems({ ...base, notAfter: null }), ['notAfter:required']);
    assert.deepEqual(problems({ ...base, vendorId: '*', agentId: '' }), ['vendorId:hex4', 'agentId:required']);
    assert.deepEqual(problems({ ...base, agentId: 'laptop-12' }), ['agentId:uuid']);
  });

  test('what can be done follows the state: decide a request, revoke an approved one', () => {
    assert.deepEqual(exceptionActions({ status: 'requested' }), { decide: true, revoke: false });
    assert.deepEqual(exceptionActions({ status: 'approved' }), { decide: false, revoke: true });
    assert.deepEqual(exceptionActions({ status: 'expired' }), { decide: false, revoke: false });
    assert.equal(exceptionState({ status: 'approved', active: true }), 'active');
    assert.equal(exceptionState({ status: 'approved', active: false }), 'scheduled');
    assert.equal(exceptionState({ status: 'rejected', active: false }), 'rejected');
  });
});

describe('devices: heartbeat parts', () => {
  test('capabilities are read from health, sorted, grouped by area and counted', () => {
    const health = {
      capabilities: [
        { name: 'usb.block', available: false, reason: 'not running as root' },
        { name: 'network.enforce', available: true, reason: '' },
        { name: 'usb.detect', available: true },
        { available: true },
        'junk',
      ],
    };
    const capabilities = capabilitiesOf(health);
    assert.deepEqual(capabilities.map((c) => c.name), ['network.enforce', 'usb.block', 'usb.detect']);
    assert.equal(capabilities[1].reason, 'not running as root');
    assert.deepEqual(capabilityAreas(capabilities).map((area) => [area.area, area.capabilities.length]), [['network', 1], ['usb', 2]]);
    assert.deepEqual(capabilityCounts(capabilities), { available: 2, total: 3 });
    assert.deepEqual(capabilitiesOf(null), []);
    assert.deepEqual(capabilitiesOf({ capabilities: 'none' }), []);
  });

  test('posture: a failed check or an unregistered stick needs attention; nothing checked is unknown, not passed', () => {
    const posture = (overrides: Record<string, unknown>) => postureOf({ fixedDisksEncrypted: 'passed', systemVolumeEncrypted: 'passed', usbStorageDevicesAttached: 1, unregisteredUsbStorageDevices: 0, networkZone: 'office', ...overrides });
    assert.equal(postureVerdict(posture({})), 'passed');
    assert.equal(postureVerdict(posture({ systemVolumeEncrypted: 'failed' })), 'failed');
    assert.equal(postureVerdict(posture({ unregisteredUsbStorageDevices: 1 })), 'failed');
    assert.equal(postureVerdict(posture({ fixedDisksEncrypted: 'not_checked', systemVolumeEncrypted: 'not_checked' })), 'unknown');
    assert.equal(postureVerdict(postureOf(null)), 'unknown');
    assert.equal(posture({ fixedDisksEncrypted: 'maybe' })?.fixedDisksEncrypted, 'not_checked');
  });

  test('policy standing and contact', () => {
    assert.equal(policyStanding(12, 14), 'behind');
    assert.equal(policyStanding(14, 14), 'current');
    assert.equal(policyStanding(0, 14), 'none');
    assert.equal(policyStanding(3, null), 'unknown');
    assert.equal(contactState(null, NOW), 'never');
    assert.equal(contactState('2031-01-10T11:50:00Z', NOW), 'recent');
    assert.equal(contactState('2031-01-10T11:00:00Z', NOW), 'silent');
  });

  test('facts and ledger rows by agent', () => {
    const facts = factsOf({ facts: { osFamily: 'linux', osVersion: 'Debian 13', hardwareVendor: 'LENOVO', hardwareModel: 'T14', loggedInUsers: ['alice', 3], agentVersion: 7 } });
    assert.deepEqual(facts, { os: 'linux Debian 13', agentVersion: '', architecture: '', hardware: 'LENOVO T14', serial: '', users: ['alice'] });
    const row = { id: 'l1', agent: { id: 'a1' } } as LedgerDevice;
    const map = ledgerByAgent([row, { id: 'l2', agent: null } as LedgerDevice]);
    assert.equal(map.get('a1'), row);
    assert.equal(map.size, 1);
  });

  test('an enrollment token body: hours become seconds, limits named by field', () => {
    assert.deepEqual(enrollmentTokenBody({ label: ' Sales ', maxUses: '25', lifetimeHours: '48', zone: '' }), { ok: true, body: { label: 'Sales', maxUses: 25, expiresInSeconds: 172800 } });
    assert.deepEqual(enrollmentTokenBody({ label: '', maxUses: '', lifetimeHours: '', zone: '' }), { ok: true, body: {} });
    assert.deepEqual(enrollmentTokenBody({ label: 'Dev', maxUses: '', lifetimeHours: '', zone: 'dev-lan' }), { ok: true, body: { label: 'Dev', zone: 'dev-lan' } });
    assert.deepEqual(enrollmentTokenBody({ label: '', maxUses: '0', lifetimeHours: '', zone: '' }), { ok: false, field: 'maxUses' });
    assert.deepEqual(enrollmentTokenBody({ label: '', maxUses: '', lifetimeHours: '9000', zone: '' }), { ok: false, field: 'lifetimeHours' });
  });
});

describe('users and API tokens', () => {
  test('a new user needs a username of the allowed characters, a role and a password of 12 or more given twice', () => {
    const ok = newUserBody({ username: ' alice ', displayName: '', roles: ['it', 'admin'], password: 'correct horse battery', confirm: 'correct horse battery' });
    assert.deepEqual(ok, { ok: true, body: { username: 'alice', displayName: 'alice', roles: ['admin', 'it'], password: 'correct horse battery' } });
    const bad = newUserBody({ username: 'al ice', displayName: '', roles: [], password: 'short', confirm: 'short' });
    assert.deepEqual(bad.ok ? [] : bad.problems.map((p) => `${p.field}:${p.problem}`), ['username:usernameFormat', 'roles:rolesRequired', 'password:tooShort']);
    assert.deepEqual(passwordProblems('long enough password', 'long enough passw0rd'), [{ field: 'confirm', problem: 'mismatch' }]);
    assert.deepEqual(passwordProblems('', ''), [{ field: 'password', problem: 'required' }]);
  });

  test('an edit sends only what changed; the same roles in another order are no change', () => {
    const user: UserView = { id: 'u1', username: 'alice', displayName: 'Alice', roles: ['admin', 'it'], disabled: false, createdAt: '', lastSignInAt: null };
    assert.equal(userPatch(user, { displayName: 'Alice', roles: ['it', 'admin'] }), null);
    assert.deepEqual(userPatch(user, { displayName: 'Alice Sato', roles: ['approver', 'it'] }), { displayName: 'Alice Sato', roles: ['approver', 'it'] });
    assert.equal(sameRoles(['a', 'b'], ['b', 'a']), true);
    assert.deepEqual(toggleRole(['it'], 'admin'), ['admin', 'it']);
    assert.deepEqual(toggleRole(['admin', 'it'], 'admin'), ['it']);
    assert.deepEqual(orderedRoles(['auditor', 'custom', 'admin']), ['admin', 'auditor', 'custom']);
  });

  test('a token holds only roles its creator holds, and lives 1 to 365 days', () => {
    assert.deepEqual(tokenBody({ name: 'export', roles: ['auditor'], expiresInDays: '30' }, ['security', 'auditor']), { ok: true, body: { name: 'export', roles: ['auditor'], expiresInDays: 30 } });
    const bad = tokenBody({ name: ' ', roles: ['admin'], expiresInDays: '400' }, ['auditor']);
    assert.deepEqual(bad.ok ? [] : bad.problems.map((p) => `${p.field}:${p.problem}`), ['name:required', 'roles:rolesNotHeld', 'expiresInDays:days']);
    assert.deepEqual(tokenBody({ name: 'x', roles: [], expiresInDays: '1.5' }, ['auditor']).ok, false);
  });

  test('token state from the collector, else from the times; the last enabled admin is counted', () => {
    assert.equal(tokenState({ id: 't', name: 'n', roles: [], expiresAt: '2031-02-01T00:00:00Z', state: 'revoked' }, NOW), 'revoked');
    assert.equal(tokenState({ id: 't', name: 'n', roles: [], expiresAt: '2031-01-01T00:00:00Z' }, NOW), 'expired');
    assert.equal(tokenState({ id: 't', name: 'n', roles: [], expiresAt: '2031-02-01T00:00:00Z', revokedAt: null }, NOW), 'active');
    const users = [
      { roles: ['admin'], disabled: false },
      { roles: ['admin'], disabled: true },
      { roles: ['it'], disabled: false },
    ] as UserView[];
    assert.equal(enabledAdmins(users), 1);
    assert.deepEqual(itemsOf({ items: [1, 2] }), [1, 2]);
    assert.deepEqual(itemsOf([3]), [3]);
    assert.deepEqual(itemsOf(null), []);
  });
});
