import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { UninstallServiceClient, type UninstallResponse } from '../../../agent/src/generated/mamori/v1/uninstall';
import { DATABASE_KINDS } from '../../support/databases';
import { enrollAgent, failure, startTestCollector, telemetryClient, unary } from './collector-harness';

// Uninstall codes against a collector on each database: issued over REST (shown once, a new one
// replaces the old), presented over mutual TLS; refused without a code, with a wrong or replaced
// code and after use; a valid code revokes the agent; every attempt is in the audit log.
for (const kind of DATABASE_KINDS) {
  describe(`uninstall codes on ${kind}`, () => {
    test('only the newest issued code, once, lets an agent uninstall; every attempt is audited', async (t) => {
      const collector = await startTestCollector(t, kind);
      if (collector === null) return;
      const agent = await enrollAgent(t, collector);
      const other = await enrollAgent(t, collector, 'other-host');
      const client = new UninstallServiceClient(collector.grpcTarget, agent.credentials, { 'grpc.use_local_subchannel_pool': 1 });
      t.after(() => client.close());
      const uninstall = (code: string) => unary<UninstallResponse>((callback) => client.uninstall({ uninstallCode: code }, callback));

      const none = await failure(uninstall('0000-0000-0000-0000'));
      assert.equal(none.code, grpc.status.FAILED_PRECONDITION);
      assert.match(none.details, /no unused uninstall code was issued/);

      const first = await collector.rest('POST', `/api/v1/agents/${agent.agentId}/uninstall-code`);
      assert.equal(first.status, 201);
      const second = (await collector.rest('POST', `/api/v1/agents/${agent.agentId}/uninstall-code`)).body as { code: string };
      const forOther = (await collector.rest('POST', `/api/v1/agents/${other.agentId}/uninstall-code`)).body as { code: string };
      assert.notEqual(first.body.code, second.code);

      // The replaced code, and another device's code, are wrong codes for this agent.
      for (const wrong of [first.body.code, forOther.code]) {
        const refused = await failure(uninstall(wrong));
        assert.equal(refused.code, grpc.status.PERMISSION_DENIED);
      }
      // Still enrolled: its heartbeat is accepted.
      await unary((callback) => telemetryClient(t, collector, agent.credentials).heartbeat({ host: undefined, posture: undefined, health: undefined, trustedCaPins: [] }, callback));

      const accepted = await uninstall(` ${second.code.toLowerCase().replaceAll('-', '')} `);
      assert.ok(accepted.uninstalledAt);
      assert.equal((await collector.rest('GET', `/api/v1/agents/${agent.agentId}`)).body.status, 'revoked');
      assert.equal((await collector.rest('GET', `/api/v1/agents/${other.agentId}`)).body.status, 'enrolled');
      // Revoked: even the used code is now refused at the door.
      const after = await failure(uninstall(second.code));
      assert.equal(after.code, grpc.status.UNAUTHENTICATED);

      const records = (await collector.rest('GET', `/api/v1/audit?subjectType=agent&subjectId=${agent.agentId}`)).body.items as Array<{ action: string; after: any }>;
      assert.deepEqual(
        records.map((r) => `${r.action}${r.after?.outcome ? `:${r.after.outcome}` : ''}`).reverse(),
        [
          'agent.uninstall.refused:no_code',
          'agent.uninstall_code.issued',
          'agent.uninstall_code.issued',
          'agent.uninstall.refused:wrong_code',
          'agent.uninstall.refused:wrong_code',
          'agent.uninstall.accepted:accepted',
          'agent.revoked',
        ],
      );
      assert.doesNotMatch(JSON.stringify(records), new RegExp(`${second.code}|${first.body.code}`));
      // The audit chain still verifies with the new records in it.
      assert.equal((await collector.rest('GET', '/api/v1/audit/verify')).body.ok, true);

      // Roles: a code for an unknown agent is 404; the route needs a credential.
      assert.equal((await collector.rest('POST', '/api/v1/agents/00000000-0000-4000-8000-000000000000/uninstall-code')).status, 404);
      assert.equal((await collector.rest('POST', `/api/v1/agents/${other.agentId}/uninstall-code`, undefined, null)).status, 401);
    });
  });
}
