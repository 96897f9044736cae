import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isoToLocalInput } from '../../../server/console/src/pages/shared/forms';
import {
  destinationBody,
  emptyDestinationForm,
  entriesQuery,
  entryPatch,
  formatPorts,
  formOfEntry,
  historySubject,
  orderRequests,
  parsePortsInput,
  splitList,
  type WhitelistEntry,
  type WhitelistRequest,
} from '../../../server/console/src/pages/whitelist/whitelist-model';

const NOW = new Date('2031-01-10T12:00:00Z');

function entry(overrides: Partial<WhitelistEntry> = {}): WhitelistEntry {
  return {
    id: 'e1',
    hostPattern: 'git.example.com',
    cidr: '',
    ports: [{ first: 443, last: 443 }],
    protocol: 'tcp',
    service: 'git',
    zone: '',
    justification: 'project Git server',
    requestedBy: 'hanako',
    approvedBy: 'taro',
    expiresAt: null,
    status: 'active',
    createdAt: '2031-01-01T00:00:00Z',
    updatedAt: '2031-01-01T00:00:00Z',
    revokedBy: null,
    revokedAt: null,
    revocationReason: null,
    expiredAt: null,
    requestId: null,
    ...overrides,
  };
}

describe('whitelist form: ports', () => {
  test('ports and ranges separated by commas or spaces become the strings the collector parses', () => {
    assert.deepEqual(parsePortsInput('443, 8000-8100 22'), { ok: true, ports: ['443', '8000-8100', '22'] });
    assert.deepEqual(parsePortsInput(''), { ok: true, ports: [] });
    assert.deepEqual(parsePortsInput('80-80'), { ok: true, ports: ['80'] });
  });

  test('the first bad token is named with its position', () => {
    assert.deepEqual(parsePortsInput('443, 70000'), { ok: false, index: 1, text: '70000' });
    assert.deepEqual(parsePortsInput('9000-80'), { ok: false, index: 0, text: '9000-80' });
    assert.deepEqual(parsePortsInput('https'), { ok: false, index: 0, text: 'https' });
    assert.deepEqual(parsePortsInput('0'), { ok: false, index: 0, text: '0' });
  });

  test('ranges print back the way they are typed', () => {
    assert.equal(formatPorts([{ first: 443, last: 443 }, { first: 8000, last: 8100 }]), '443, 8000-8100');
    assert.equal(formatPorts([]), '');
  });
});

describe('whitelist form: body', () => {
  test('a host entry sends the pattern, not the cidr, with the justification trimmed and the end as given', () => {
    const form = { ...emptyDestinationForm(), hostPattern: ' .example.com ', cidr: '10.0.0.0/8', ports: '443', justification: ' mirror ' };
    const result = destinationBody(form, '2031-02-01T00:00:00.000Z', NOW);
    assert.deepEqual(result, {
      ok: true,
      body: { hostPattern: '.example.com', ports: ['443'], protocol: 'any', service: 'any', zone: '', justification: 'mirror', expiresAt: '2031-02-01T00:00:00.000Z' },
    });
  });

  test('an address entry sends the cidr only; no end sends no expiresAt', () => {
    const form = { ...emptyDestinationForm(), targetKind: 'cidr' as const, hostPattern: 'left.over', cidr: '10.30.0.0/16', justification: 'lab' };
    const result = destinationBody(form, null, NOW);
    assert.equal(result.ok, true);
    if (result.ok) {
      assert.equal(result.body.cidr, '10.30.0.0/16');
      assert.equal('hostPattern' in result.body, false);
      assert.equal('expiresAt' in result.body, false);
    }
  });

  test('every problem the browser can see is reported at once, by field', () => {
    const result = destinationBody({ ...emptyDestinationForm(), ports: '443 x' }, '2031-01-01T00:00:00.000Z', NOW);
    assert.equal(result.ok, false);
    if (!result.ok) {
      assert.deepEqual(
        result.problems.map((problem) => `${problem.field}:${problem.problem}`),
        ['hostPattern:required', 'ports:badPort', 'justification:required', 'expiresAt:expiryPast'],
      );
      assert.equal(result.problems[1].detail, 'x');
    }
    const invalid = destinationBody({ ...emptyDestinationForm(), hostPattern: 'a.example', justification: 'j' }, undefined, NOW);
    assert.deepEqual(invalid.ok ? [] : invalid.problems.map((problem) => problem.problem), ['expiryInvalid']);
  });
});

describe('whitelist form: edit', () => {
  const body = (form = formOfEntry(entry(), isoToLocalInput)) => {
    const result = destinationBody(form, null, NOW);
    assert.equal(result.ok, true);
    return result.ok ? result.body : {};
  };

  test('an unchanged form sends nothing', () => {
    assert.deepEqual(entryPatch(entry(), body(), 'taro'), {});
  });

  test('only the changed fields go, with changedBy', () => {
    const form = { ...formOfEntry(entry(), isoToLocalInput), justification: 'project Git server (phase 2)', ports: '443, 22' };
    assert.deepEqual(entryPatch(entry(), body(form), 'taro'), { ports: ['443', '22'], justification: 'project Git server (phase 2)', changedBy: 'taro' });
  });

  test('switching a host entry to an address block sends the cidr (the collector clears the pattern)', () => {
    const form = { ...formOfEntry(entry(), isoToLocalInput), targetKind: 'cidr' as const, cidr: '10.1.0.0/16' };
    assert.deepEqual(entryPatch(entry(), body(form), 'taro'), { cidr: '10.1.0.0/16', changedBy: 'taro' });
  });

  test('clearing the end sends expiresAt null; the same end in another spelling is no change', () => {
    const ending = entry({ expiresAt: '2031-03-01T00:00:00Z' });
    assert.deepEqual(entryPatch(ending, body({ ...formOfEntry(ending, isoToLocalInput), expiresAt: '' }), 'taro'), { expiresAt: null, changedBy: 'taro' });
    const same = destinationBody(formOfEntry(ending, isoToLocalInput), '2031-03-01T00:00:00.000Z', NOW);
    assert.deepEqual(same.ok ? entryPatch(ending, same.body, 'taro') : null, {});
  });
});

describe('whitelist requests and queries', () => {
  const request = (id: string, status: string, requestedAt: string, decidedAt: string | null = null): WhitelistRequest => ({
    id,
    hostPattern: `${id}.example.com`,
    cidr: '',
    ports: [],
    protocol: 'any',
    service: 'any',
    zone: '',
    justification: 'j',
    requestedBy: 'hanako',
    requestedAt,
    requestedExpiresAt: null,
    status,
    decidedBy: decidedAt ? 'taro' : null,
    decidedAt,
    decisionReason: null,
    approvedExpiresAt: null,
    entryId: null,
  });

  test('pending requests come first, the longest waiting on top; decided ones follow, newest decision first', () => {
    const ordered = orderRequests([
      request('decided-old', 'approved', '2031-01-01T00:00:00Z', '2031-01-02T00:00:00Z'),
      request('pending-new', 'pending', '2031-01-09T00:00:00Z'),
      request('decided-new', 'rejected', '2031-01-03T00:00:00Z', '2031-01-08T00:00:00Z'),
      request('pending-old', 'pending', '2031-01-05T00:00:00Z'),
    ]);
    assert.deepEqual(
      ordered.map((item) => item.id),
      ['pending-old', 'pending-new', 'decided-new', 'decided-old'],
    );
  });

  test('the list query carries the search, the status (all = includeExpired) and the zone', () => {
    assert.equal(entriesQuery({ q: '', status: 'active', zone: '' }), '/whitelist?limit=100');
    assert.equal(entriesQuery({ q: ' git ', status: 'all', zone: 'dev-lan' }), '/whitelist?limit=100&q=git&includeExpired=true&zone=dev-lan');
    assert.equal(entriesQuery({ q: '', status: 'revoked', zone: '', cursor: 'abc' }), '/whitelist?limit=100&status=revoked&cursor=abc');
  });

  test('zone lists split on lines and commas, blanks dropped', () => {
    assert.deepEqual(splitList('10.0.0.0/8\n 10.1.0.0/16 ,\n\nfd00::/8'), ['10.0.0.0/8', '10.1.0.0/16', 'fd00::/8']);
  });
});

describe('whitelist change log', () => {
  test('a step names its destination, zone or, failing that, its subject id', () => {
    assert.equal(historySubject({ kind: 'entry.created', subjectId: 'e1', before: null, after: { hostPattern: 'git.example.com', cidr: '' } }), 'git.example.com');
    assert.equal(historySubject({ kind: 'request.approved', subjectId: 'r1', before: { hostPattern: '', cidr: '10.0.0.0/8' }, after: null }), '10.0.0.0/8');
    assert.equal(historySubject({ kind: 'zone.deleted', subjectId: 'dev-lan', before: { name: 'dev-lan' }, after: null }), 'dev-lan');
    assert.equal(historySubject({ kind: 'agent.required_zone', subjectId: 'a1', before: null, after: { zone: 'dev-lan' } }), 'a1');
    assert.equal(historySubject({ kind: 'entry.expired', subjectId: 'e2', before: null, after: null }), 'e2');
  });
});
