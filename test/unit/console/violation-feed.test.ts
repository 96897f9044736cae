import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  apiQueryFromFilters,
  appendPage,
  filtersFromQuery,
  hasFilters,
  matchesFilters,
  mergeViolation,
  queryFromFilters,
  type ViolationLike,
} from '../../../server/console/src/lib/violations';

const AGENT = '3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b';
const NOW = Date.parse('2026-11-28T12:00:00Z');

function violation(id: string, patch: Partial<ViolationLike> = {}): ViolationLike {
  return {
    id,
    rule: 'usb.unregistered_device',
    severity: 'high',
    status: 'open',
    agentId: AGENT,
    department: 'Sales',
    assignee: null,
    occurredAt: '2026-11-28T11:59:00Z',
    updatedAt: '2026-11-28T11:59:01Z',
    ...patch,
  };
}

describe('violation filters and the URL', () => {
  test('every filter survives a trip through the URL query', () => {
    const filters = { rule: 'transfer.daily_volume', severity: 'critical', status: 'false_positive', department: '営業部 第2課', agentId: AGENT, assignee: 'alice', since: '2026-11-01T00:00:00.000Z', until: '2026-11-28T00:00:00.000Z' };
    const query = queryFromFilters(filters);
    assert.deepEqual(filtersFromQuery(new URLSearchParams(query)), filters);
  });

  test('a relative range is kept as its name and wins over since/until', () => {
    const query = queryFromFilters({ range: '24h', since: '2026-11-01T00:00:00.000Z', status: 'open' });
    assert.equal(query, '?status=open&range=24h');
    assert.deepEqual(filtersFromQuery(new URLSearchParams('range=7d&since=2026-11-01T00:00:00Z')), { range: '7d' });
  });

  test('values the server would refuse are left out instead of sent', () => {
    const filters = filtersFromQuery(new URLSearchParams('status=closed&severity=urgent&agentId=not-a-uuid&range=2y&since=yesterday&rule=%20%20'));
    assert.deepEqual(filters, {});
    assert.equal(hasFilters(filters), false);
  });

  test('"unassigned" is its own filter: kept in the URL, sent to the server, wins over an assignee, and leaves out assigned violations from live changes', () => {
    assert.equal(queryFromFilters({ unassigned: 'true', status: 'open' }), '?status=open&unassigned=true');
    assert.deepEqual(filtersFromQuery(new URLSearchParams('unassigned=true&assignee=alice')), { unassigned: 'true' });
    assert.deepEqual(filtersFromQuery(new URLSearchParams('unassigned=yes&assignee=alice')), { assignee: 'alice' });
    assert.equal(new URLSearchParams(apiQueryFromFilters({ unassigned: 'true' }, NOW, 50)).get('unassigned'), 'true');
    assert.equal(matchesFilters(violation('a'), { unassigned: 'true' }, NOW), true);
    assert.equal(matchesFilters(violation('a', { assignee: 'alice' }), { unassigned: 'true' }, NOW), false);
  });

  test('the selected row rides along after the filters, and an empty filter set makes an empty query', () => {
    assert.equal(queryFromFilters({ status: 'open' }, { selected: 'abc' }), '?status=open&selected=abc');
    assert.equal(queryFromFilters({}), '');
    assert.equal(queryFromFilters({}, { selected: undefined }), '');
  });

  test('the REST query turns a range into since at the given time and passes limit and cursor', () => {
    const query = new URLSearchParams(apiQueryFromFilters({ range: '1h', agentId: AGENT, department: 'Sales' }, NOW, 50, 'CURSOR'));
    assert.equal(query.get('since'), '2026-11-28T11:00:00.000Z');
    assert.equal(query.get('until'), null);
    assert.equal(query.get('agentId'), AGENT);
    assert.equal(query.get('department'), 'Sales');
    assert.equal(query.get('limit'), '50');
    assert.equal(query.get('cursor'), 'CURSOR');
    assert.equal(query.get('range'), null, 'range is the console’s word, not the server’s');
  });
});

describe('live changes merged into the feed', () => {
  test('a new violation that matches the filters goes on top', () => {
    const list = [violation('b'), violation('a')];
    const merged = mergeViolation(list, violation('c'), { status: 'open' }, NOW);
    assert.equal(merged.outcome, 'new');
    assert.deepEqual(merged.list.map((v) => v.id), ['c', 'b', 'a']);
    assert.deepEqual(list.map((v) => v.id), ['b', 'a'], 'the shown list is not changed in place');
  });

  test('a new violation outside the filters is not shown', () => {
    const list = [violation('a')];
    for (const [filters, incoming] of [
      [{ status: 'open' }, violation('x', { status: 'resolved' })],
      [{ severity: 'low' }, violation('x')],
      [{ rule: 'disk.unencrypted' }, violation('x')],
      [{ department: 'Finance' }, violation('x')],
      [{ agentId: '00000000-0000-4000-8000-000000000000' }, violation('x')],
      [{ assignee: 'bob' }, violation('x', { assignee: 'alice' })],
      [{ until: '2026-11-28T11:00:00.000Z' }, violation('x')],
      [{ range: '1h' }, violation('x', { occurredAt: '2026-11-28T10:00:00Z' })],
    ] as const) {
      const merged = mergeViolation(list, incoming, filters, NOW);
      assert.equal(merged.outcome, 'ignored', JSON.stringify(filters));
      assert.deepEqual(merged.list.map((v) => v.id), ['a']);
    }
  });

  test('an update replaces the row where it is, even when it no longer matches the filters', () => {
    const list = [violation('c'), violation('b'), violation('a')];
    const acknowledged = violation('b', { status: 'acknowledged', assignee: 'alice', updatedAt: '2026-11-28T11:59:30Z' });
    const merged = mergeViolation(list, acknowledged, { status: 'open' }, NOW);
    assert.equal(merged.outcome, 'updated');
    assert.deepEqual(merged.list.map((v) => v.id), ['c', 'b', 'a']);
    assert.equal(merged.list[1].status, 'acknowledged');
    assert.equal(merged.list[1].assignee, 'alice');
  });

  test('an older copy never overwrites a newer one, and the same copy changes nothing', () => {
    const shown = violation('a', { status: 'resolved', updatedAt: '2026-11-28T11:59:40Z' });
    const stale = violation('a', { status: 'acknowledged', updatedAt: '2026-11-28T11:59:20Z' });
    assert.equal(mergeViolation([shown], stale, {}, NOW).outcome, 'unchanged');
    assert.equal(mergeViolation([shown], stale, {}, NOW).list[0].status, 'resolved');
    assert.equal(mergeViolation([shown], { ...shown }, {}, NOW).outcome, 'unchanged');
  });

  test('matching compares agent ids and assignees without regard to case', () => {
    assert.ok(matchesFilters(violation('a', { assignee: 'Alice' }), { assignee: 'alice', agentId: AGENT.toUpperCase() }, NOW));
  });

  test('a further page leaves out rows already shown (a live arrival may reappear there)', () => {
    const merged = appendPage([violation('c'), violation('b')], [violation('b'), violation('a')]);
    assert.deepEqual(merged.map((v) => v.id), ['c', 'b', 'a']);
  });
});
