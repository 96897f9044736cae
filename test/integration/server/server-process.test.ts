import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import Database from 'better-sqlite3';
import { EnrollmentServiceClient, EnrollResponse } from '../../../agent/src/generated/mamori/v1/enrollment';
import { TelemetryServiceClient } from '../../../agent/src/generated/mamori/v1/telemetry';
import { adminTokenActor } from '../../../server/src/modules/audit/audit-context';
import { DATABASE_KINDS, provideDatabase } from '../../support/databases';
import { freePort } from '../../support/ports';
import { runNodeProgram, SERVER_BIN, startNodeProgram } from '../../support/processes';
import { makeAgentKey, unary, usbAttached } from './collector-harness';

describe('mamori-server command line', () => {
  test('--help prints usage and exits 0', async () => {
    const result = await runNodeProgram(SERVER_BIN, ['--help'], {});
    assert.equal(result.code, 0);
    assert.match(result.stdout, /mamori-server tokens create/);
  });

  test('an unknown command or flag exits 2 naming the word', async () => {
    const command = await runNodeProgram(SERVER_BIN, ['serve'], {});
    assert.equal(command.code, 2);
    assert.match(command.stderr, /unknown command "serve"/);
    const flag = await runNodeProgram(SERVER_BIN, ['tokens', 'create', '--forever'], {});
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /"--forever"/);
  });

  test('token bounds are checked before the database: --uses and --expires-in out of range exit 2 naming the flag', async () => {
    const uses = await runNodeProgram(SERVER_BIN, ['tokens', 'create', '--uses', '3000000000'], {});
    assert.equal(uses.code, 2);
    assert.match(uses.stderr, /--uses must be a whole number from 1 to 1000000, got "3000000000"/);
    const lifetime = await runNodeProgram(SERVER_BIN, ['tokens', 'create', '--expires-in', '400d'], {});
    assert.equal(lifetime.code, 2);
    assert.match(lifetime.stderr, /--expires-in must be at most 365d/);
  });

  test('a bad configuration value exits 2 naming the variable', async () => {
    const result = await runNodeProgram(SERVER_BIN, ['migrate'], { MAMORI_GRPC_MAX_MESSAGE_BYTES: 'lots' });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /MAMORI_GRPC_MAX_MESSAGE_BYTES/);
  });
});

for (const kind of DATABASE_KINDS) {
  describe(`mamori-server process on ${kind}`, () => {
    test('first start prints the admin token; CLI tokens and revocation work against the running collector; SIGTERM stops it cleanly', async (t) => {
      const database = await provideDatabase(t, kind);
      if (database === null) return;
      const grpcPort = await freePort();
      const httpPort = await freePort();
      const env = {
        MAMORI_DATA_DIR: database.dataDir,
        MAMORI_DATABASE_URL: database.url,
        MAMORI_GRPC_ADDRESS: `127.0.0.1:${grpcPort}`,
        MAMORI_HTTP_ADDRESS: `127.0.0.1:${httpPort}`,
        MAMORI_SERVER_NAMES: 'localhost,127.0.0.1',
      };
      const server = startNodeProgram('mamori-server', SERVER_BIN, ['run'], env);
      t.after(() => server.stop());
      const ready = JSON.parse(await server.waitForLine(/"msg":"mamori-server ready"/));
      assert.equal(ready.grpcAddress, env.MAMORI_GRPC_ADDRESS);
      assert.equal(ready.httpAddress, env.MAMORI_HTTP_ADDRESS);
      const adminLine = await server.waitForLine(/administrator API token \(shown once\)/);
      const adminToken = adminLine.split(': ').pop() as string;
      const violations = await fetch(`http://127.0.0.1:${httpPort}/api/v1/violations`, { headers: { authorization: `Bearer ${adminToken}` } });
      assert.equal(violations.status, 200);

      const created = await runNodeProgram(SERVER_BIN, ['tokens', 'create', '--uses', '1', '--json'], env);
      assert.equal(created.code, 0, created.stderr);
      const token = JSON.parse(created.stdout);
      assert.match(token.enrollCommand, /^mamori-agent enroll --server 127\.0\.0\.1:\d+ --token /);
      const listed = await runNodeProgram(SERVER_BIN, ['tokens', 'list'], env);
      assert.match(listed.stdout, new RegExp(token.id));
      assert.doesNotMatch(listed.stdout, new RegExp(token.token.split('.')[1]));

      const ca = readFileSync(join(database.dataDir, 'ca.crt'));
      assert.equal(statSync(database.dataDir).mode & 0o777, 0o700);
      for (const file of ['ca.key', 'ca.crt', 'server.key', 'server.crt']) {
        assert.equal(statSync(join(database.dataDir, file)).mode & 0o777, 0o600, file);
      }
      const enrollment = new EnrollmentServiceClient(env.MAMORI_GRPC_ADDRESS, grpc.credentials.createSsl(ca));
      t.after(() => enrollment.close());
      const { keyPem, csrPem } = await makeAgentKey();
      const enrolled = await unary<EnrollResponse>((cb) => enrollment.enroll({ enrollmentToken: token.token, certificateSigningRequestPem: csrPem, host: undefined }, cb));
      const telemetry = new TelemetryServiceClient(env.MAMORI_GRPC_ADDRESS, grpc.credentials.createSsl(ca, Buffer.from(keyPem), Buffer.from(enrolled.clientCertificatePem)));
      t.after(() => telemetry.close());
      const upload = () => unary((cb) => telemetry.uploadEvents({ batchId: randomUUID(), events: [usbAttached({ interfaceClasses: [3] })] }, cb));
      await upload();

      const revoked = await runNodeProgram(SERVER_BIN, ['agents', 'revoke', enrolled.agentId], env);
      assert.equal(revoked.code, 0, revoked.stderr);
      // The running collector caches agent status briefly; poll until the CLI's revocation shows.
      let refusal: grpc.ServiceError | null = null;
      for (let attempt = 0; attempt < 200 && refusal === null; attempt++) {
        try {
          await upload();
          await new Promise((r) => setTimeout(r, 100));
        } catch (error) {
          refusal = error as grpc.ServiceError;
        }
      }
      assert.ok(refusal !== null, 'the revoked agent was refused');
      assert.equal(refusal.code, grpc.status.UNAUTHENTICATED);

      server.child.kill('SIGTERM');
      const exit = await server.waitForExit();
      assert.equal(exit.code, 0, server.tail());
    });

    test('a first start that fails on a busy port stores no admin token; the next start prints one; admin-token reset replaces it', async (t) => {
      const database = await provideDatabase(t, kind);
      if (database === null) return;
      const httpPort = await freePort();
      const env = {
        MAMORI_DATA_DIR: database.dataDir,
        MAMORI_DATABASE_URL: database.url,
        MAMORI_GRPC_ADDRESS: `127.0.0.1:${await freePort()}`,
        MAMORI_HTTP_ADDRESS: `127.0.0.1:${httpPort}`,
        MAMORI_SERVER_NAMES: 'localhost,127.0.0.1',
      };
      const squatter = createServer();
      await new Promise<void>((resolve) => squatter.listen(httpPort, '127.0.0.1', resolve));
      const failed = await runNodeProgram(SERVER_BIN, ['run'], env);
      await new Promise<void>((resolve) => squatter.close(() => resolve()));
      assert.equal(failed.code, 1, failed.stderr);
      assert.match(failed.stderr, /EADDRINUSE/);
      assert.doesNotMatch(failed.stdout, /administrator API token/);

      const server = startNodeProgram('mamori-server', SERVER_BIN, ['run'], env);
      t.after(() => server.stop());
      const first = (await server.waitForLine(/administrator API token \(shown once\)/)).split(': ').pop() as string;
      const status = async (token: string) =>
        (await fetch(`http://127.0.0.1:${httpPort}/api/v1/agents`, { headers: { authorization: `Bearer ${token}` } })).status;
      assert.equal(await status(first), 200, 'the token printed by the start that came up works');

      const reset = await runNodeProgram(SERVER_BIN, ['admin-token', 'reset'], env);
      assert.equal(reset.code, 0, reset.stderr);
      const second = /administrator API token \(shown once\): (\S+)/.exec(reset.stdout)?.[1];
      assert.ok(second !== undefined && second !== first, reset.stdout);
      // The running collector reads stored token hashes through a short cache; poll until it switched.
      let switched = false;
      for (let attempt = 0; attempt < 100 && !switched; attempt++) {
        switched = (await status(second)) === 200;
        if (!switched) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(switched, 'the running collector accepts the reset token');
      assert.equal(await status(first), 401, 'the replaced token is refused');

      const refused = await runNodeProgram(SERVER_BIN, ['admin-token', 'reset'], { ...env, MAMORI_ADMIN_TOKEN: 'configured-admin-token-0123456789' });
      assert.equal(refused.code, 2);
      assert.match(refused.stderr, /MAMORI_ADMIN_TOKEN is set/);
      assert.doesNotMatch(refused.stdout, /administrator API token/);
      assert.equal(await status(second), 200, 'a refused reset changes nothing');

      // The audit log holds the token's birth (by the collector) and its reset (by the command line), with fingerprints, never the token.
      const audit = await fetch(`http://127.0.0.1:${httpPort}/api/v1/audit?subjectType=admin_token`, { headers: { authorization: `Bearer ${second}` } });
      const records = ((await audit.json()) as { items: Array<{ action: string; actor: { kind: string; id: string }; after: { fingerprint: string } }> }).items;
      assert.deepEqual(records.map((record) => [record.action, record.actor.kind, record.actor.id]), [
        ['admin_token.reset', 'system', 'cli'],
        ['admin_token.created', 'system', 'collector'],
      ]);
      assert.equal(records[1].after.fingerprint, adminTokenActor(first).id);
      assert.equal(records[0].after.fingerprint, adminTokenActor(second).id);
      assert.doesNotMatch(JSON.stringify(records), new RegExp(`${first}|${second}`));
    });
  });
}

describe('mamori-server on sqlite while another process holds the write lock', () => {
  test('keeps answering GET /api/v1/health while its own write waits for the lock, and completes that write afterwards', async (t) => {
    const database = await provideDatabase(t, 'sqlite');
    if (database === null) return;
    const httpPort = await freePort();
    const adminToken = 'lock-test-admin-token-0123456789';
    const env = {
      MAMORI_DATA_DIR: database.dataDir,
      MAMORI_GRPC_ADDRESS: `127.0.0.1:${await freePort()}`,
      MAMORI_HTTP_ADDRESS: `127.0.0.1:${httpPort}`,
      MAMORI_ADMIN_TOKEN: adminToken,
      MAMORI_SERVER_NAMES: 'localhost,127.0.0.1',
    };
    const server = startNodeProgram('mamori-server', SERVER_BIN, ['run'], env);
    t.after(() => server.stop());
    await server.waitForLine(/"msg":"mamori-server ready"/);
    const base = `http://127.0.0.1:${httpPort}`;

    // This test process plays the CLI: it takes the write lock and keeps it until the health
    // answer came (at most 5 s, well inside the collector's 10 s wait for the lock).
    const holder = new Database(join(database.dataDir, 'mamori.sqlite'));
    t.after(() => holder.close());
    holder.exec('BEGIN IMMEDIATE');
    let released = false;
    let answered: () => void = () => undefined;
    const release = new Promise<void>((resolve) => {
      answered = resolve;
      setTimeout(resolve, 5_000);
    }).then(() => {
      holder.exec('COMMIT');
      released = true;
    });

    const write = fetch(`${base}/api/v1/usb-register`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ vendorId: '0781', productId: '5567', serial: 'LOCKED1', label: 'waits for the lock', holder: 'Hanako', department: 'Sales' }),
    });
    // Give the write time to reach BEGIN IMMEDIATE and start waiting for the lock.
    await new Promise((r) => setTimeout(r, 300));
    const health = await fetch(`${base}/api/v1/health`).then((response) => ({ status: response.status, whileLocked: !released }));
    answered();
    await release;

    assert.equal(health.status, 200);
    assert.equal(health.whileLocked, true, 'the collector answered while the other process still held the write lock');
    assert.equal((await write).status, 201, 'the waiting write went through once the lock was released');
  });
});
