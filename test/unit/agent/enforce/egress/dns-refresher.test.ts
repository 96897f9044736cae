import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DnsRefresher, type AddressAnswer, type HostResolver } from '../../../../../agent/src/enforce/egress/dns-refresher';
import { createLogger } from '../../../../../agent/src/logging/logger';
import { ManualClock } from './support';

/** Answers from a table the test edits; a name set to 'fail' rejects like a timeout; counts the queries. */
class TableResolver implements HostResolver {
  readonly v4 = new Map<string, AddressAnswer[] | 'fail'>();
  readonly v6 = new Map<string, AddressAnswer[] | 'fail'>();
  queries = 0;
  resolve4(name: string) {
    return this.answer(this.v4.get(name));
  }
  resolve6(name: string) {
    return this.answer(this.v6.get(name));
  }
  private async answer(entry: AddressAnswer[] | 'fail' | undefined) {
    this.queries++;
    if (entry === 'fail') throw Object.assign(new Error('queryA ETIMEOUT'), { code: 'ETIMEOUT' });
    return entry ?? [];
  }
}

function setup(options: { minTtlSeconds?: number; maxTtlSeconds?: number; graceSeconds?: number } = {}) {
  const clock = new ManualClock();
  const resolver = new TableResolver();
  let changes = 0;
  const refresher = new DnsRefresher({ resolver, clock, logger: createLogger('error'), onChange: () => changes++, ...options });
  /** Moves the clock a second at a time, letting the refreshes each step started finish (they schedule the next timer). */
  const advance = async (seconds: number) => {
    for (let i = 0; i < seconds; i++) {
      clock.advance(1000);
      await refresher.settled();
    }
  };
  return { clock, resolver, refresher, advance, changes: () => changes };
}

test('new names are resolved (A and AAAA) before setNames settles; the reverse map names them', async () => {
  const { resolver, refresher, changes } = setup();
  resolver.v4.set('git.example.com', [{ address: '192.0.2.10', ttl: 300 }]);
  resolver.v6.set('git.example.com', [{ address: '2001:DB8::10', ttl: 300 }]);
  await refresher.setNames(['git.example.com', 'none.example.com']);
  assert.deepEqual(refresher.addresses('git.example.com'), ['192.0.2.10', '2001:db8::10']);
  assert.deepEqual(refresher.addresses('none.example.com'), []);
  assert.deepEqual(refresher.namesFor('2001:db8:0::10'), ['git.example.com']);
  assert.deepEqual(refresher.namesFor('::ffff:192.0.2.10'), ['git.example.com']);
  assert.equal(changes(), 1);
  refresher.close();
});

test('re-resolves when the shortest TTL runs out; a changed answer keeps the old address for its TTL plus the grace period', async () => {
  const { resolver, refresher, advance, changes } = setup({ graceSeconds: 30 });
  resolver.v4.set('app.example.com', [{ address: '192.0.2.1', ttl: 60 }]);
  await refresher.setNames(['app.example.com']);
  const queriesAfterStart = resolver.queries;
  resolver.v4.set('app.example.com', [{ address: '192.0.2.2', ttl: 60 }]);
  await advance(59);
  assert.equal(resolver.queries, queriesAfterStart, 'not asked again before the TTL ran out');
  await advance(1);
  assert.equal(resolver.queries, queriesAfterStart + 2, 'A and AAAA asked again at the TTL');
  assert.deepEqual(refresher.addresses('app.example.com').sort(), ['192.0.2.1', '192.0.2.2'], 'the old address is still allowed (a client may have it cached)');
  assert.equal(changes(), 2);
  // The old answer (seen at t=0, TTL 60) could be cached until t=60; grace ends at t=90.
  await advance(29);
  assert.deepEqual(refresher.addresses('app.example.com').sort(), ['192.0.2.1', '192.0.2.2']);
  await advance(1);
  assert.deepEqual(refresher.addresses('app.example.com'), ['192.0.2.2']);
  assert.equal(changes(), 3);
  refresher.close();
});

test('TTLs are clamped: 0 is raised to the floor, a day is lowered to the ceiling', async () => {
  const { resolver, refresher, advance } = setup({ minTtlSeconds: 5, maxTtlSeconds: 3600 });
  resolver.v4.set('zero.example.com', [{ address: '192.0.2.5', ttl: 0 }]);
  resolver.v4.set('day.example.com', [{ address: '192.0.2.6', ttl: 86400 }]);
  await refresher.setNames(['zero.example.com', 'day.example.com']);
  const start = resolver.queries;
  await advance(4);
  assert.equal(resolver.queries, start, 'TTL 0 is not re-asked before the 5 s floor');
  await advance(1);
  assert.equal(resolver.queries, start + 2, 'asked at the floor');
  await advance(3600 - 5 - 1);
  const beforeCeiling = resolver.queries;
  await advance(1);
  // At t=3600 both the day-long name (ceiling) and the zero-TTL name (every 5 s) are due.
  assert.equal(resolver.queries - beforeCeiling, 4, 'the day-long answer is asked again at the one-hour ceiling');
  refresher.close();
});

test('a failing DNS server never empties the set: the earlier addresses stay and the name is asked again later', async () => {
  const { resolver, refresher, advance, changes } = setup({ graceSeconds: 30 });
  resolver.v4.set('mail.example.com', [{ address: '192.0.2.25', ttl: 10 }]);
  await refresher.setNames(['mail.example.com']);
  resolver.v4.set('mail.example.com', 'fail');
  resolver.v6.set('mail.example.com', 'fail');
  await advance(10);
  await advance(300);
  assert.deepEqual(refresher.addresses('mail.example.com'), ['192.0.2.25']);
  assert.equal(changes(), 1);
  resolver.v4.set('mail.example.com', [{ address: '192.0.2.26', ttl: 10 }]);
  resolver.v6.set('mail.example.com', []);
  await advance(30);
  assert.ok(refresher.addresses('mail.example.com').includes('192.0.2.26'), 'picked up once the server answers again');
  refresher.close();
});

test('names no longer listed are forgotten with their addresses at once; close stops the timers', async () => {
  const { clock, resolver, refresher, changes } = setup();
  resolver.v4.set('a.example.com', [{ address: '192.0.2.1', ttl: 60 }]);
  resolver.v4.set('b.example.com', [{ address: '192.0.2.2', ttl: 60 }]);
  await refresher.setNames(['a.example.com', 'b.example.com']);
  await refresher.setNames(['b.example.com']);
  assert.deepEqual(refresher.followedNames(), ['b.example.com']);
  assert.deepEqual(refresher.namesFor('192.0.2.1'), []);
  assert.equal(changes(), 2);
  refresher.close();
  assert.equal(clock.pending(), 0);
});
