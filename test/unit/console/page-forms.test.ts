import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { expiryProblem, isoToLocalInput, localInputDaysFrom, localInputToIso, matchesQuery, missingRoles, remainingUntil, splitFieldErrors } from '../../../server/console/src/pages/shared/forms';

describe('console forms: the collector 400 sorted onto form fields', () => {
  test('each part goes to the field it starts with; list indexes and sub-paths count as the field', () => {
    const message = 'hostPattern: an entry needs a host pattern (git.example.com) or a cidr; ports[1] runs from 9000 down to 80: first must not be above last; expiresAt must be an ISO-8601 date-time, e.g. 2025-03-31T18:00:00Z';
    const split = splitFieldErrors(message, ['hostPattern', 'cidr', 'ports', 'expiresAt', 'justification']);
    assert.equal(split.byField.hostPattern, 'hostPattern: an entry needs a host pattern (git.example.com) or a cidr');
    assert.equal(split.byField.ports, 'ports[1] runs from 9000 down to 80: first must not be above last');
    assert.match(split.byField.expiresAt, /^expiresAt must be an ISO-8601/);
    assert.equal(split.byField.justification, undefined);
    assert.deepEqual(split.other, []);
  });

  test('parts naming no field of the form (or no field at all) stay above the form, in order', () => {
    const split = splitFieldErrors('approvedBy must be your own username (alice) when signed in; zone dev is not a defined zone; a request must be approved by someone else', ['zone']);
    assert.deepEqual(split.other, ['approvedBy must be your own username (alice) when signed in', 'a request must be approved by someone else']);
    assert.equal(split.byField.zone, 'zone dev is not a defined zone');
  });

  test('two parts about one field are both kept', () => {
    const split = splitFieldErrors('roles must be a list; roles may only contain admin, it', ['roles']);
    assert.equal(split.byField.roles, 'roles must be a list; roles may only contain admin, it');
  });
});

describe('console forms: datetime-local values and ISO times', () => {
  test('a local input value becomes the same instant in ISO, and back', () => {
    const iso = localInputToIso('2031-03-31T18:05');
    assert.equal(iso, new Date(2031, 2, 31, 18, 5).toISOString());
    assert.equal(isoToLocalInput(iso), '2031-03-31T18:05');
  });

  test('empty is "no end" (null); text that is no time, or a day that does not exist, is undefined', () => {
    assert.equal(localInputToIso(''), null);
    assert.equal(localInputToIso('   '), null);
    assert.equal(localInputToIso('tomorrow'), undefined);
    assert.equal(localInputToIso('2031-02-31T10:00'), undefined);
    assert.equal(localInputToIso('2031-13-01T10:00'), undefined);
    assert.equal(isoToLocalInput(null), '');
    assert.equal(isoToLocalInput('not a date'), '');
  });

  test('presets count whole days from now', () => {
    const now = new Date(2031, 0, 10, 9, 30, 45);
    assert.equal(localInputDaysFrom(now, 7), '2031-01-17T09:30');
  });

  test('an end must be a time, in the future, and not after what was requested', () => {
    const now = new Date(2031, 0, 10, 12, 0);
    assert.equal(expiryProblem('', now), null);
    assert.equal(expiryProblem('soon', now), 'invalid');
    assert.equal(expiryProblem('2031-01-10T11:59', now), 'past');
    assert.equal(expiryProblem('2031-01-10T12:00', now), 'past');
    assert.equal(expiryProblem('2031-01-11T12:00', now), null);
    const requested = new Date(2031, 0, 20, 18, 0).toISOString();
    assert.equal(expiryProblem('2031-01-15T12:00', now, requested), null);
    assert.equal(expiryProblem('2031-01-20T18:00', now, requested), null);
    assert.equal(expiryProblem('2031-01-20T18:01', now, requested), 'later-than-requested');
    assert.equal(expiryProblem('2031-06-01T00:00', now, null), null);
  });

  test('time left reads in days, then hours, then ended', () => {
    const now = new Date('2031-01-10T12:00:00Z');
    assert.deepEqual(remainingUntil(null, now), { kind: 'none' });
    assert.deepEqual(remainingUntil('2031-01-13T13:00:00Z', now), { kind: 'days', days: 3 });
    assert.deepEqual(remainingUntil('2031-01-11T11:00:00Z', now), { kind: 'hours', hours: 23 });
    assert.deepEqual(remainingUntil('2031-01-10T12:10:00Z', now), { kind: 'hours', hours: 1 });
    assert.deepEqual(remainingUntil('2031-01-10T12:00:00Z', now), { kind: 'ended' });
  });
});

describe('console forms: roles and search', () => {
  test('a user lacking every required role is told all of them; holding one is enough', () => {
    assert.deepEqual(missingRoles(['admin', 'it', 'security'], ['auditor']), ['admin', 'it', 'security']);
    assert.deepEqual(missingRoles(['admin', 'it', 'security'], ['it']), []);
  });

  test('search is case-insensitive over any of the texts and ignores missing ones', () => {
    assert.equal(matchesQuery('SALES', 'Hanako', null, 'Sales dept'), true);
    assert.equal(matchesQuery('accounting', 'Hanako', undefined, 'Sales'), false);
    assert.equal(matchesQuery('  ', 'anything'), true);
  });
});
