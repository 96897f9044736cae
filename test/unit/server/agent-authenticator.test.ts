import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { RpcException } from '@nestjs/microservices';
import type { DatabaseService } from '../../../server/src/database/database.service';
import { AgentAuthenticator, CallWithAuthContext } from '../../../server/src/modules/agents/agent-authenticator';

const AGENT = '0f8b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d';
const OTHER = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';

/** A database whose status reads stay pending until the test answers them, in order. */
function slowDatabase() {
  const pending: Array<(rows: Array<{ id: string; status: string }>) => void> = [];
  const database = {
    query: () => new Promise((resolve) => pending.push(resolve)),
  } as unknown as DatabaseService;
  return { database, pending };
}

const callWith = (der: string): CallWithAuthContext => ({ getAuthContext: () => ({ sslPeerCertificate: { raw: Buffer.from(der) } }) });

function revokedError(error: unknown): boolean {
  const payload = (error as RpcException).getError?.() as { code?: number; message?: string } | undefined;
  return error instanceof RpcException && payload?.code === status.UNAUTHENTICATED && /revoked/.test(payload.message ?? '');
}

test('a status read that was in flight when the agent was revoked here does not let the call through or re-cache "enrolled"', async () => {
  const { database, pending } = slowDatabase();
  const sut = new AgentAuthenticator(database);
  const call = callWith('agent certificate');

  const inFlight = sut.authenticate(call);
  assert.equal(pending.length, 1, 'the status read has started');
  sut.revoked(AGENT);
  // The row was read before the revocation committed.
  pending[0]([{ id: AGENT, status: 'enrolled' }]);
  await assert.rejects(inFlight, revokedError);

  const next = sut.authenticate(call);
  assert.equal(pending.length, 2, 'the stale answer was not cached: the next call reads again');
  pending[1]([{ id: AGENT, status: 'enrolled' }]);
  await assert.rejects(next, revokedError, 'even a stale read cannot bring a revoked agent back');
});

test('a revocation of another agent leaves this one enrolled, but its in-flight answer is read again next time', async () => {
  const { database, pending } = slowDatabase();
  const sut = new AgentAuthenticator(database);
  const call = callWith('other certificate');

  const inFlight = sut.authenticate(call);
  sut.revoked(AGENT);
  pending[0]([{ id: OTHER, status: 'enrolled' }]);
  assert.equal((await inFlight).agentId, OTHER);

  const next = sut.authenticate(call);
  assert.equal(pending.length, 2);
  pending[1]([{ id: OTHER, status: 'enrolled' }]);
  assert.equal((await next).agentId, OTHER);
  assert.equal((await sut.authenticate(call)).agentId, OTHER);
  assert.equal(pending.length, 2, 'an answer read with no revocation in between is cached');
});
