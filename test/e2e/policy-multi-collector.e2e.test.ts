import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from 'pg';
import { AgentUnderTest, CollectorUnderTest } from './support/cluster';
import { eventually } from './support/rest-client';

// Two collector processes serve one PostgreSQL database (operators run several behind one
// address). A policy change made through one must reach an agent connected to the other, through
// PostgreSQL's LISTEN/NOTIFY, without the agent reconnecting; and a listener whose connection is
// cut must hear the next change too (it reconnects and re-reads what it may have missed).
// SQLite has one collector process per database file, so there is nothing to test there.
describe('policy push across collector processes sharing PostgreSQL', () => {
  test('a change made through collector A reaches an agent connected to collector B at once, also after B lost its listening connection', async (t) => {
    const first = await CollectorUnderTest.start(t, 'postgres');
    if (first === null) return;
    const second = await CollectorUnderTest.startBeside(t, first);
    const agent = await AgentUnderTest.enroll(t, second);
    await agent.start();

    const runningVersion = async () => {
      const status = JSON.parse(await readFile(join(agent.stateDir, 'status.json'), 'utf8').catch(() => '{}')) as { policyVersion?: string };
      return status.policyVersion;
    };
    await eventually('the agent running policy version 1 from collector B', async () => ((await runningVersion()) === '1' ? true : undefined));

    const changed = await first.rest.expect<{ policyVersion: number }>(200, 'PUT', '/api/v1/policy/transfers', { watchedFolders: ['/srv/outbox'] });
    assert.equal(changed.policyVersion, 2);
    const pushedAt = Date.now();
    await agent.process.waitForLine(/"msg":"policy applied".*"policyVersion":"2"/, 15_000);
    const firstPushMs = Date.now() - pushedAt;
    await eventually('the agent on collector B reporting version 2 in its status', async () => ((await runningVersion()) === '2' ? true : undefined), 15_000);
    // B answers GetPolicy and heartbeats from the version it holds in memory, so without the
    // notification the agent would never hear of version 2 from B.
    const fromB = await second.rest.expect<{ version: number }>(200, 'GET', '/api/v1/policy');
    assert.equal(fromB.version, 2, 'collector B serves the version A published');

    // Cut every LISTEN connection of both collectors, then change the policy again at once.
    const admin = new Client({ connectionString: first.databaseUrl });
    // The test database is dropped at cleanup, which ends this connection if it is still open.
    admin.on('error', () => undefined);
    await admin.connect();
    try {
    const cut = await admin.query(
      "SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %' AND pid <> pg_backend_pid()",
    );
    assert.equal(cut.rowCount, 2, 'each collector holds one listening connection');
    const again = await first.rest.expect<{ policyVersion: number }>(200, 'PUT', '/api/v1/policy/transfers', { watchedFolders: ['/srv/outbox', '/srv/share'] });
    assert.equal(again.policyVersion, 3);
    await eventually('the agent on collector B running version 3 after B reconnected its listener', async () => ((await runningVersion()) === '3' ? true : undefined), 20_000);
    await eventually('collector B listening again', async () => {
      const listening = await admin.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'");
      return listening.rows[0].n === 2 ? true : undefined;
    });
    } finally {
      await admin.end();
    }
    assert.match(second.process.output.join('\n'), /lost the PostgreSQL connection that hears policy changes/);
    t.diagnostic(`a change through collector A reached the agent on collector B in ${firstPushMs} ms (the agent's log polled every 100 ms)`);
  });
});
